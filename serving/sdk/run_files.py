"""The files half of the SDK's ``Run``: listing, downloading, logs and the snapshot.

Standard library and the runs layer only: training scripts import it.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from serving.runs import artifacts
from serving.runs.errors import UserErrorException
from serving.runs.records import RunRecord
from serving.runs.store import SNAPSHOT_DIR


class RunFiles:
    """Mixed into ``Run``: needs ``_run_id``, ``_run_dir`` and ``record``."""

    _run_id: str
    _run_dir: Path

    @property
    def record(self) -> RunRecord:
        raise NotImplementedError

    def _log_files(self) -> dict[str, str]:
        names = artifacts.names(self._run_dir)
        logs = [
            n
            for n in names
            if n.startswith(("user_logs/", "system_logs/", "logs/", "azureml-logs/"))
        ]
        return {n: str(self._run_dir / n) for n in logs}

    # -- files -----------------------------------------------------------------------------
    def get_file_names(self) -> list[str]:
        return artifacts.names(self._run_dir)

    def download_file(
        self,
        name: str,
        output_file_path: str | Path | None = None,
        _validate_checksum: bool = False,
    ) -> None:
        source = artifacts.artifact_path(self._run_dir, name)
        if not source.is_file():
            raise UserErrorException(
                f"run {self._run_id} has no file {name}; it has: {self.get_file_names()}"
            )
        dest = Path(output_file_path) if output_file_path else Path(Path(name).name)
        if dest.is_dir():
            dest = dest / Path(name).name
        artifacts.write_atomic(dest, source)

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | Path | None = None,
        output_paths: Sequence[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: int | None = None,
    ) -> list[str]:
        wanted = [n for n in self.get_file_names() if prefix is None or n.startswith(prefix)]
        root = Path(output_directory) if output_directory else Path.cwd()
        done = []
        for i, name in enumerate(wanted):
            rel = name if append_prefix or not prefix else name[len(prefix) :].lstrip("/")
            dest = Path(output_paths[i]) if output_paths else root / rel
            artifacts.write_atomic(dest, self._run_dir / name)
            done.append(str(dest))
        return done

    def get_all_logs(self, destination: str | Path | None = None) -> list[str]:
        dest = Path(destination or "logs")
        return [self._copy_out(n, dest) for n in self._log_files()]

    def _copy_out(self, name: str, root: Path) -> str:
        artifacts.write_atomic(root / name, self._run_dir / name)
        return str(root / name)

    def get_snapshot_id(self) -> str | None:
        return self.record.snapshot_id

    def restore_snapshot(
        self, snapshot_id: str | None = None, path: str | Path | None = None
    ) -> str:
        """The run's snapshot as a zip file (in ``path`` or the temp folder)."""
        source = self._run_dir / SNAPSHOT_DIR
        folder = Path(path) if path else Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{snapshot_id or self.get_snapshot_id() or self._run_id}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                zf.write(file, file.relative_to(source).as_posix())
        return str(target)

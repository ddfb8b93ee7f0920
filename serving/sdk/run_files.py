"""The files half of a folder's ``Run``: listing the run's files, copying one out, and the
snapshot (downloading and logs: :class:`serving.sdk.run_view.RunView`, over these).

Standard library and the runs layer only: training scripts import it.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from serving.errors import NotFoundError
from serving.runs import artifacts
from serving.runs.records import RunRecord
from serving.runs.store import SNAPSHOT_DIR


class RunFiles:
    """Mixed into ``Run``: needs ``_run_id``, ``_run_dir`` and ``record``."""

    _run_id: str
    _run_dir: Path

    @property
    def record(self) -> RunRecord:
        raise NotImplementedError

    def _log_where(self, name: str) -> str:
        return str(self._run_dir / name)

    # -- files -----------------------------------------------------------------------------
    def get_file_names(self) -> list[str]:
        return artifacts.names(self._run_dir)

    def _fetch(self, name: str, dest: Path) -> None:
        source = artifacts.artifact_path(self._run_dir, name)
        if not source.is_file():
            raise NotFoundError(f"run {self._run_id} has no file {name}")
        artifacts.write_atomic(dest, source)

    def restore_snapshot(
        self, snapshot_id: str | None = None, path: str | Path | None = None
    ) -> str:
        """The run's snapshot as a zip file (in ``path`` or the temp folder)."""
        source = self._run_dir / SNAPSHOT_DIR
        folder = Path(path) if path else Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{snapshot_id or self.record.snapshot_id or self._run_id}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                zf.write(file, file.relative_to(source).as_posix())
        return str(target)

"""Content-addressed artifact store: ``blobs/sha256/ab/abcdef...``.

A blob appears under its final name only once it is complete (written to a temporary
file, fsynced, then renamed), so a process killed mid-copy leaves at most a ``.part``
file in ``tmp/``, which is removed the next time the store is written to.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from serving.errors import IntegrityError

CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ArtifactStore:
    """Blobs addressed by their sha256."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp

    def blob_path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def clean_partial(self) -> int:
        """Remove ``.part`` files left by processes that no longer run."""
        removed = 0
        if not self.tmp.is_dir():
            return 0
        for part in self.tmp.glob("*.part"):
            pid_text = part.name.split(".", 1)[0]
            if pid_text.isdigit() and _pid_alive(int(pid_text)):
                continue
            part.unlink(missing_ok=True)
            removed += 1
        return removed

    def put_file(self, source: Path, progress: Callable[[int], None] | None = None) -> str:
        """Copy ``source`` into the store; returns its sha256."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        part = self.tmp / f"{os.getpid()}.{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        try:
            with source.open("rb") as src, part.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
                dst.flush()
                os.fsync(dst.fileno())
            sha = digest.hexdigest()
            final = self.blob_path(sha)
            if final.exists():
                part.unlink()
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(part, 0o444)
                os.replace(part, final)
            return sha
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    def copy_out(self, sha256: str, dest: Path, label: str, executable: bool = False) -> None:
        """Copy a blob to ``dest``, verifying its hash; ``label`` names it in errors."""
        blob = self.blob_path(sha256)
        if not blob.is_file():
            raise IntegrityError(
                f"artifact {label} is missing from the store (expected {blob})",
                hint="the workspace was modified outside serving; re-register the model",
            )
        digest = hashlib.sha256()
        with blob.open("rb") as src, dest.open("wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != sha256:
            dest.unlink(missing_ok=True)
            raise IntegrityError(
                f"artifact {label} is corrupt: its sha256 no longer matches the recorded "
                f"{sha256[:12]}… (stored at {blob})",
                hint="re-register the model from its original file",
            )
        mode = 0o755 if executable else 0o644
        os.chmod(dest, mode)

    def all_blobs(self) -> Iterable[str]:
        base = self.root / "sha256"
        if not base.is_dir():
            return []
        return [p.name for p in base.glob("*/*") if p.is_file()]

    def remove(self, sha256: str) -> None:
        blob = self.blob_path(sha256)
        if blob.exists():
            os.chmod(blob, stat.S_IWUSR | stat.S_IRUSR)
            blob.unlink()


def copy_tree_atomic(build: Callable[[Path], None], dest: Path) -> None:
    """Build into a sibling temporary folder, then rename it to ``dest`` (which must not
    exist), so ``dest`` is either complete or absent."""
    from serving.errors import ConflictError

    if dest.exists():
        raise ConflictError(f"{dest} already exists", hint="choose another target folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        build(staging)
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

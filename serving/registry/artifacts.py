"""Content-addressed artifact store: ``blobs/sha256/ab/abcdef...``.

A blob appears under its final name only once it is complete (written to a temporary
file, fsynced, then renamed; the folders renamed into are fsynced once per registration,
before its rows are recorded, so the renames survive a crash: :meth:`ArtifactStore.sync`),
so a process killed mid-copy leaves at most a ``.part`` file in ``tmp/``, which is removed
the next time the store is written to.

Concurrent writers and collectors are kept apart by a **workspace lock**, ``blobs/.lock``
(``flock``), rather than by a grace period: a registration holds it *shared* from before it
writes its first blob until its rows are committed (:meth:`ArtifactStore.writing`), and
``workspace gc`` and ``models delete`` hold it *exclusive* while they decide which blobs
are unreferenced and remove them (:meth:`ArtifactStore.collecting`). So a blob that a
registration is about to record is never removed, however long the copy takes; gc and
delete wait for running registrations (and registrations for them) instead. Registrations
do not wait for one another. A grace period was not chosen because a slow copy (a large
model on a slow disk) can outlast any fixed period.

Copies out of the store (:func:`copy_tree_atomic`, :func:`copy_file_atomic`) are built in
a temporary sibling named ``.<name>.<pid>.<random>.tmp`` and renamed into place; siblings
left by killed processes are removed by the next copy to the same destination.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from serving.errors import IntegrityError
from serving.proc import pid_alive

CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (a rename into it, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactStore:
    """Blobs addressed by their sha256."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp

    def blob_path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    @contextmanager
    def _locked(self, operation: int) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, operation)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Hold the store's lock shared: from writing blobs until their rows are committed."""
        return self._locked(fcntl.LOCK_SH)

    def collecting(self) -> contextlib.AbstractContextManager[None]:
        """Hold the store's lock exclusive: while finding and removing unreferenced blobs."""
        return self._locked(fcntl.LOCK_EX)

    def clean_partial(self) -> int:
        """Remove ``.part`` files left by processes that no longer run."""
        removed = 0
        if not self.tmp.is_dir():
            return 0
        for part in self.tmp.glob("*.part"):
            pid_text = part.name.split(".", 1)[0]
            if pid_text.isdigit() and pid_alive(int(pid_text)):
                continue
            part.unlink(missing_ok=True)
            removed += 1
        return removed

    def put_file(self, source: Path, progress: Callable[[int], None] | None = None) -> str:
        """Copy ``source`` into the store (its content fsynced); returns its sha256. Call
        :meth:`sync` with the hashes before recording rows that reference them."""
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

    def sync(self, shas: Iterable[str]) -> None:
        """Make the renames of blobs ``shas`` into their folders durable: each folder is
        fsynced once (not once per blob), and so is ``sha256/`` for new folders."""
        folders = {self.blob_path(sha).parent for sha in shas}
        if folders:
            fsync_dir(self.root / "sha256")
        for folder in sorted(folders):
            fsync_dir(folder)

    def copy_out(
        self, sha256: str, dest: Path, label: str, executable: bool = False, *, durable: bool = True
    ) -> None:
        """Copy a blob to ``dest``, verifying its hash; ``label`` names it in errors.

        ``durable``: fsync the copy (before it is renamed into place); False for copies into
        folders that are thrown away after use, such as a build context."""
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
            if durable:
                dst.flush()
                os.fsync(dst.fileno())
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


def _staging(dest: Path) -> Path:
    """A fresh temporary sibling of ``dest``, after removing those of dead processes."""
    from serving.errors import ConflictError

    if dest.exists():
        raise ConflictError(f"{dest} already exists", hint="choose another target folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{dest.name}."
    for stale in dest.parent.glob(f"{glob_escape(prefix)}*.tmp"):
        pid = _staging_pid(stale.name, prefix)
        if pid is None or pid_alive(pid):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    return dest.parent / f"{prefix}{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"


def _staging_pid(name: str, prefix: str) -> int | None:
    """The pid in ``name`` if it is exactly ``<prefix><pid>.<hex>.tmp`` (None otherwise):
    parsed from the right, so ``.a.5.<pid>.<hex>.tmp`` (destination ``a.5``) is not taken
    for a temporary of destination ``a`` written by process 5."""
    if not name.startswith(prefix):
        return None
    pid_text, dot, rest = name[len(prefix) :].partition(".")
    rand, dot2, suffix = rest.partition(".")
    if not (dot and dot2 and suffix == "tmp" and _is_hex(rand)):
        return None
    if not (pid_text.isascii() and pid_text.isdigit()):
        return None
    return int(pid_text)


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def copy_tree_atomic(build: Callable[[Path], None], dest: Path) -> None:
    """Build into a sibling temporary folder, then rename it to ``dest`` (which must not
    exist), so ``dest`` is either complete or absent; the parent folder is fsynced."""
    staging = _staging(dest)
    staging.mkdir()
    try:
        build(staging)
        os.replace(staging, dest)
        fsync_dir(dest.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def copy_file_atomic(build: Callable[[Path], None], dest: Path) -> None:
    """Write a file with ``build(temporary path)`` beside ``dest`` (which must not exist),
    then rename it into place, so ``dest`` is either complete or absent."""
    staging = _staging(dest)
    try:
        build(staging)
        os.replace(staging, dest)
        fsync_dir(dest.parent)
    finally:
        staging.unlink(missing_ok=True)

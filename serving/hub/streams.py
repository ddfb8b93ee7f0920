"""Bodies that stream with bounded memory: an upload read in chunks into a private
temporary folder, and a folder sent as a tar stream built on the fly.

Uploads land in ``<workspace>/tmp/uploads/<pid>.<random>/`` and are removed when the
request ends, whatever happened; folders left by a killed server (their pid gone) are
removed when the next server starts (:func:`clean_stale_uploads`). Only a complete body
(as long as its Content-Length, or a chunked body read to its end) is handed on, so an
upload cut off midway never reaches the registry.

The tar stream is written by hand (tarfile's headers, the file bytes, padding) because
:mod:`tarfile` writes whole members to a file object and cannot yield between chunks.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from serving.errors import UserInputError

CHUNK = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
UPLOADS = Path("tmp") / "uploads"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_uploads(workspace: Path) -> int:
    """Remove upload folders of server processes that are gone; returns how many."""
    root = workspace / UPLOADS
    removed = 0
    for folder in root.glob("*.*") if root.is_dir() else ():
        pid = folder.name.split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


@contextmanager
def upload_folder(workspace: Path) -> Iterator[Path]:
    """A private folder for one upload, removed when the block ends."""
    folder = workspace / UPLOADS / f"{os.getpid()}.{uuid.uuid4().hex}"
    folder.mkdir(parents=True, mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def receive(stream: IO[bytes], dest: Path, expected: int | None) -> int:
    """Copy the request body to ``dest`` in chunks; refuses a body shorter than
    ``expected`` (the client went away). Returns the bytes written."""
    done = 0
    with dest.open("wb") as out:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
    if expected is not None and done != expected:
        raise UserInputError(f"the upload ended after {done} of {expected} bytes")
    return done


def unpack_tar(archive: Path, dest: Path) -> None:
    """Extract an uploaded tar (plain or compressed) with tarfile's ``data`` filter, which
    refuses absolute paths, ``..``, links out of ``dest`` and device files."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise UserInputError(f"the uploaded archive cannot be unpacked: {exc}") from None


def tar_stream(members: Iterable[tuple[str, Path, bool]]) -> Iterator[bytes]:
    """A tar of (name in the archive, file, executable) built while it is sent."""
    for name, path, executable in members:
        size = path.stat().st_size
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o755 if executable else 0o644
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
        if size % BLOCK:
            yield b"\0" * (BLOCK - size % BLOCK)
    yield b"\0" * (2 * BLOCK)

"""Bodies that stream with bounded memory: an upload read in chunks into a private
temporary folder, and a folder sent as a tar stream built on the fly.

Uploads land in ``<workspace>/tmp/uploads/<pid>.<random>/`` and are removed when the
request ends, whatever happened; folders left by a killed server (their pid gone) are
removed when the next server starts (:func:`clean_stale_uploads`). Only a complete body
(as long as its Content-Length, or a chunked body read to its end) is handed on, so an
upload cut off midway never reaches the registry.

Uploads are capped (``SERVING_SERVER_MAX_UPLOAD_BYTES``, default 10 GiB): a declared
Content-Length over the cap is refused before a byte is read, a body is counted while it
is received, and a tar's members are added up before anything is unpacked (a compressed
archive cannot expand past the cap); each answers 413.

The tar stream is written by hand (tarfile's headers, the file bytes, padding) because
:mod:`tarfile` writes whole members to a file object and cannot yield between chunks.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import uuid
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from serving.errors import ServingError, UserInputError
from serving.proc import pid_alive

CHUNK = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
UPLOADS = Path("tmp") / "uploads"
MAX_UPLOAD_ENV = "SERVING_SERVER_MAX_UPLOAD_BYTES"
DEFAULT_MAX_UPLOAD = 10 * 2**30


class TooLargeError(ServingError, http_status=413, exit_code=2):
    """An upload (or what its archive unpacks to) over the server's cap."""


def max_upload_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The upload cap in bytes: ``SERVING_SERVER_MAX_UPLOAD_BYTES``, else 10 GiB."""
    raw = (os.environ if environ is None else environ).get(MAX_UPLOAD_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_UPLOAD
    if not raw.isdigit() or int(raw) < 1:
        raise UserInputError(f"{MAX_UPLOAD_ENV} must be a positive number of bytes, not {raw!r}")
    return int(raw)


def _too_large(limit: int, what: str = "the upload") -> TooLargeError:
    return TooLargeError(
        f"{what} is larger than this server accepts ({limit} bytes)",
        hint=f"the server's {MAX_UPLOAD_ENV} sets the cap",
    )


def clean_stale_uploads(workspace: Path) -> int:
    """Remove upload folders of server processes that are gone; returns how many."""
    root = workspace / UPLOADS
    removed = 0
    for folder in root.glob("*.*") if root.is_dir() else ():
        pid = folder.name.split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
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


def receive(stream: IO[bytes], dest: Path, expected: int | None, limit: int | None = None) -> int:
    """Copy the request body to ``dest`` in chunks; refuses a body shorter than
    ``expected`` (the client went away) or longer than ``limit`` (default: the server's
    cap, :func:`max_upload_bytes`; before reading when ``expected`` says so). Returns the
    bytes written."""
    limit = max_upload_bytes() if limit is None else limit
    if expected is not None and expected > limit:
        raise _too_large(limit)
    done = 0
    with dest.open("wb") as out:
        while chunk := stream.read(CHUNK):
            done += len(chunk)
            if done > limit:
                raise _too_large(limit)
            out.write(chunk)
    if expected is not None and done != expected:
        raise UserInputError(f"the upload ended after {done} of {expected} bytes")
    return done


def read_capped(stream: IO[bytes], limit: int, what: str) -> bytes:
    """The whole body in memory, refused with 413 once past ``limit`` bytes (a chunked
    body has no Content-Length to check first; a stream's ``read`` may return less than
    asked, so this reads to the end)."""
    parts: list[bytes] = []
    done = 0
    while chunk := stream.read(min(CHUNK, limit + 1 - done)):
        parts.append(chunk)
        done += len(chunk)
        if done > limit:
            raise TooLargeError(f"{what} is larger than this server accepts ({limit} bytes)")
    return b"".join(parts)


def _clean(name: str) -> str | None:
    """``name`` normalised (``./a//b`` -> ``a/b``), or None when it is absolute or has
    ``..`` (it could land outside the folder)."""
    text = name.replace("\\", "/")
    if text.startswith("/") or ".." in text.split("/"):
        return None
    return posixpath.normpath(text)


def _refused(member: tarfile.TarInfo, files: Container[str]) -> str | None:
    """Why ``member`` may not be unpacked, or None: plain files and folders with relative
    names that stay inside, and hard links to a plain file met earlier (``tar -h`` writes
    those for files it meets twice; they are unpacked as copies). Symbolic links are
    refused, and no link is left to the ``data`` filter: its link checks had bypasses until
    Python 3.11.13 (CVE-2025-4517, -4330, -4138)."""
    if _clean(member.name) is None:
        return "has an absolute name or one with '..'"
    if member.issym():
        return "is a symbolic link (send the files themselves: tar --dereference)"
    if member.islnk():
        target = _clean(member.linkname)
        return None if target in files else "is a hard link to no plain file before it"
    if not (member.isfile() or member.isdir()):
        return "is not a plain file or folder"
    return None


def _checked(
    tar: tarfile.TarFile, limit: int
) -> tuple[list[tarfile.TarInfo], list[tarfile.TarInfo]]:
    """(the files and folders, the hard links) of ``tar``, each member checked first and
    their sizes (hard links unpack as copies) added up against ``limit``."""
    plain: list[tarfile.TarInfo] = []
    links: list[tarfile.TarInfo] = []
    files: dict[str, int] = {}
    total = 0
    for member in tar:
        why = _refused(member, files)
        if why is not None:
            raise UserInputError(f"the uploaded archive's member {member.name!r} {why}")
        (links if member.islnk() else plain).append(member)
        if member.isfile():
            files[str(_clean(member.name))] = member.size
            total += member.size
        elif member.islnk():
            total += files[str(_clean(member.linkname))]
        if total > limit:
            raise _too_large(limit, "the uploaded archive unpacked")
    return plain, links


def unpack_tar(archive: Path, dest: Path, limit: int | None = None) -> None:
    """Extract an uploaded tar (plain or compressed): every member checked first
    (:func:`_refused`), files and folders extracted with tarfile's ``data`` filter as a
    second guard, hard links copied from their (already extracted) targets; refused
    whole when the files add up to more than ``limit``. Messages name the member, never
    a path on the server. ``limit`` defaults to the server's cap (:func:`max_upload_bytes`)."""
    limit = max_upload_bytes() if limit is None else limit
    try:
        with tarfile.open(archive) as tar:
            plain, links = _checked(tar, limit)
            tar.extractall(dest, members=plain, filter="data")
        for link in links:
            copy = dest / str(_clean(link.name))
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dest / str(_clean(link.linkname)), copy)
    except tarfile.FilterError as exc:
        name = exc.tarinfo.name
        raise UserInputError(f"the uploaded archive's member {name!r} is refused") from None
    except tarfile.TarError as exc:
        raise UserInputError(f"the uploaded archive cannot be read: {exc}") from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UserInputError(f"the uploaded archive cannot be unpacked: {why}") from None


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

"""Datastores: named local folders that hold a workspace's training data, and copying files
in and out of them.

Every workspace has the built-in default datastore ``workspaceblobstore``, the folder
``<workspace>/datastores/workspaceblobstore/`` (recorded relative to the workspace, so a
moved workspace keeps it). More datastores can be registered that point at an existing
local folder; unregistering one never touches its files.

Paths on a datastore are relative to its folder, as blob names are relative to their
container: ``''``, ``'/'``, ``'.'`` and ``'./'`` name the root; a path with ``..`` or
another absolute path is refused. Files are copied one at a time through a hidden temporary
file renamed into place, so an interrupted upload or download never leaves a half file
under the real name (a killed process may leave a ``.<name>.<hex>.partial`` file, which
listings and downloads skip).

Data references, which hand these folders (or copies) to a run, are
:mod:`serving.runs.datarefs`. Only the standard library is imported here: training scripts
import the runs package in bare environments (``rich`` is imported inside
:func:`file_progress`).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.registry.db import Database

if TYPE_CHECKING:
    import sqlite3

    from rich.console import Console

    from serving.workspace import Workspace

DEFAULT_NAME = "workspaceblobstore"
DATASTORES_DIR = "datastores"
KIND_FOLDER = "folder"

_NAME = re.compile(r"[A-Za-z0-9_]{1,255}")
_PARTIAL = re.compile(r"\..*\.[0-9a-f]{12}\.partial")
_ROOTS = ("", "/", ".", "./")

Progress = Callable[[int, int, str], None]
"""Called as ``progress(done_files, total_files, current_relative_path)``."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_name(name: str, what: str = "datastore name") -> str:
    """``name`` when it is 1-255 letters, digits or underscores (Azure's datastore rule)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UserInputError(
            f"invalid {what} {name!r}: use 1-255 letters, digits or underscores",
        )
    return name


@dataclass(frozen=True)
class DatastoreRecord:
    """One registered datastore; ``path`` is the absolute folder."""

    name: str
    kind: str
    path: Path
    is_default: bool
    created_at: str

    @property
    def builtin(self) -> bool:
        """The workspace's own ``workspaceblobstore`` (cannot be unregistered)."""
        return self.name == DEFAULT_NAME

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "default": self.is_default,
            "builtin": self.builtin,
            "created_at": self.created_at,
        }


class DatastoreStore:
    """The ``datastores`` table of a workspace (``root`` is the workspace folder)."""

    def __init__(self, root: Path, db: Database) -> None:
        self.root = Path(root)
        self.db = db
        self._ready = False

    # -- records ---------------------------------------------------------------------
    def _record(self, row: sqlite3.Row) -> DatastoreRecord:
        path = Path(row["path"])
        return DatastoreRecord(
            name=row["name"],
            kind=row["kind"],
            path=path if path.is_absolute() else self.root / path,
            is_default=bool(row["is_default"]),
            created_at=row["created_at"],
        )

    def _ensure_default(self) -> None:
        """Create the built-in datastore (row and folder) on first use."""
        if self._ready:
            return
        (self.root / DATASTORES_DIR / DEFAULT_NAME).mkdir(parents=True, exist_ok=True)
        with self.db.read() as conn:
            found = conn.execute("SELECT 1 FROM datastores WHERE name = ?", (DEFAULT_NAME,))
            missing = found.fetchone() is None
        if missing:
            with self.db.write() as conn:
                other = conn.execute("SELECT 1 FROM datastores WHERE is_default = 1").fetchone()
                conn.execute(
                    "INSERT OR IGNORE INTO datastores (name, kind, path, is_default, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (DEFAULT_NAME, KIND_FOLDER, f"{DATASTORES_DIR}/{DEFAULT_NAME}",
                     int(other is None), _now()),
                )  # fmt: skip
        self._ready = True

    def get(self, name: str) -> DatastoreRecord:
        self._ensure_default()
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM datastores WHERE name = ?", (name,)).fetchone()
            if row is None:
                names = [r[0] for r in conn.execute("SELECT name FROM datastores ORDER BY name")]
        if row is None:
            raise NotFoundError(
                f"datastore {name!r} not found", hint=f"registered: {', '.join(names)}"
            )
        return self._record(row)

    def list(self) -> list[DatastoreRecord]:
        """All datastores, by name."""
        self._ensure_default()
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM datastores ORDER BY name").fetchall()
        return [self._record(row) for row in rows]

    def default(self) -> DatastoreRecord:
        self._ensure_default()
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM datastores WHERE is_default = 1").fetchone()
        return self._record(row) if row is not None else self.get(DEFAULT_NAME)

    # -- changes ---------------------------------------------------------------------
    def register(self, name: str, path: Path | str, *, overwrite: bool = False) -> DatastoreRecord:
        """Register ``name`` for the existing folder ``path`` (again with the same path is a
        no-op; another path needs ``overwrite``, never for the built-in one)."""
        check_name(name)
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise UserInputError(f"cannot register datastore {name!r}: {folder} {what}")
        self._ensure_default()
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM datastores WHERE name = ?", (name,)).fetchone()
            if row is not None:
                known = self._record(row)
                if known.path == folder:
                    return known
                if known.builtin or not overwrite:
                    raise ConflictError(
                        f"datastore {name!r} already exists for {known.path}",
                        hint=None if known.builtin else "pass overwrite to point it elsewhere",
                    )
                conn.execute("UPDATE datastores SET path = ? WHERE name = ?", (str(folder), name))
            else:
                conn.execute(
                    "INSERT INTO datastores (name, kind, path, is_default, created_at)"
                    " VALUES (?, ?, ?, 0, ?)",
                    (name, KIND_FOLDER, str(folder), _now()),
                )
        return self.get(name)

    def set_default(self, name: str) -> DatastoreRecord:
        self.get(name)
        with self.db.write() as conn:
            conn.execute("UPDATE datastores SET is_default = (name = ?)", (name,))
        return self.get(name)

    def unregister(self, name: str) -> DatastoreRecord:
        """Forget ``name`` (its folder is left alone); the built-in one becomes the default
        again if it was the default."""
        record = self.get(name)
        if record.builtin:
            raise ConflictError(f"the built-in datastore {DEFAULT_NAME!r} cannot be unregistered")
        with self.db.write() as conn:
            conn.execute("DELETE FROM datastores WHERE name = ?", (name,))
            if record.is_default:
                conn.execute("UPDATE datastores SET is_default = 1 WHERE name = ?", (DEFAULT_NAME,))
        return record


def model_data_folder(ws: Workspace) -> str:
    """The folder endpoints collecting model data write to: the workspace's default
    datastore's (``<folder>/modeldata/<endpoint>/...``, docs/data-collection.md)."""
    return str(DatastoreStore(ws.path, ws.db).default().path)


# -- paths on a datastore ------------------------------------------------------------
def relative_path(text: str | None, what: str = "path") -> PurePosixPath:
    """``text`` as a clean path relative to a datastore's root (``PurePosixPath('.')`` for
    the root itself); ``..`` or an absolute path is a UserInputError."""
    if text is None or str(text).replace("\\", "/") in _ROOTS:
        return PurePosixPath()
    clean = str(text).replace("\\", "/")
    if clean.startswith("/"):
        raise UserInputError(
            f"{what} {text!r} is absolute: paths on a datastore are relative to its root"
        )
    parts = [part for part in clean.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UserInputError(f"{what} {text!r} leaves the datastore ('..' is not allowed)")
    return PurePosixPath(*parts)


def locate(ds: DatastoreRecord, path: str | None, what: str = "path") -> Path:
    """The host path of ``path`` on ``ds`` (which need not exist)."""
    return ds.path.joinpath(*relative_path(path, what).parts)


def files_under(folder: Path) -> Iterator[tuple[Path, str]]:
    """(file, posix path relative to ``folder``), sorted, without partial copies."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames):
            if not _PARTIAL.fullmatch(name):
                path = base / name
                yield path, path.relative_to(folder).as_posix()


def _copy_atomic(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a hidden temporary file renamed into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name[:100]}.{uuid.uuid4().hex[:12]}.partial"
    try:
        shutil.copyfile(src, tmp)
        shutil.copymode(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def transfer(
    pairs: Sequence[tuple[Path, Path, str]], overwrite: bool, progress: Progress | None
) -> int:
    """Copy each (src, dest, label); existing destinations are skipped unless
    ``overwrite``. Returns the number of files copied."""
    copied = 0
    total = len(pairs)
    for done, (src, dest, label) in enumerate(pairs, start=1):
        if overwrite or not dest.exists():
            try:
                _copy_atomic(src, dest)
            except OSError as exc:
                raise UserInputError(f"cannot copy {src} to {dest}: {exc.strerror}") from exc
            copied += 1
        if progress is not None:
            progress(done, total, label)
    return copied


def upload(
    ds: DatastoreRecord,
    src_dir: Path | str,
    target_path: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> int:
    """Copy the files of ``src_dir`` to ``target_path`` on ``ds`` (files already there are
    skipped unless ``overwrite``, as in v1); returns the number of files copied."""
    source = Path(src_dir).expanduser()
    if not source.is_dir():
        raise UserInputError(f"cannot upload {source}: not a folder")
    target = locate(ds, target_path, "target_path")
    pairs = [(path, target / rel, rel) for path, rel in files_under(source)]
    return transfer(pairs, overwrite, progress)


def upload_files(
    ds: DatastoreRecord,
    files: Iterable[Path | str],
    relative_root: Path | str | None = None,
    target_path: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> int:
    """Copy ``files`` to ``target_path`` on ``ds``, each at its path relative to
    ``relative_root`` (default: the folder all of them are in)."""
    paths = [Path(f).expanduser().absolute() for f in files]
    for path in paths:
        if not path.is_file():
            raise UserInputError(f"cannot upload {path}: not a file (use upload for folders)")
    if not paths:
        return 0
    root = Path(relative_root or os.path.commonpath([p.parent for p in paths])).absolute()
    target = locate(ds, target_path, "target_path")
    pairs = []
    for path in paths:
        if not path.is_relative_to(root):
            raise UserInputError(f"cannot upload {path}: it is not under relative_root {root}")
        rel = path.relative_to(root).as_posix()
        pairs.append((path, target / rel, rel))
    return transfer(pairs, overwrite, progress)


def download(
    ds: DatastoreRecord,
    target_path: Path | str,
    prefix: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> int:
    """Copy the files of ``ds`` whose path starts with ``prefix`` (a string prefix, as
    blob names) to ``target_path/<path>``; returns the number of files copied."""
    rel = relative_path(prefix, "prefix")
    wanted = "" if rel == PurePosixPath() else rel.as_posix()
    if wanted and str(prefix).endswith("/"):  # the folder itself, not 'mnist_old/'
        wanted += "/"
        base = ds.path.joinpath(*rel.parts)
    else:
        base = ds.path.joinpath(*rel.parts[:-1])
    dest = Path(target_path).expanduser()
    pairs = []
    for path, _rel in files_under(base):
        name = path.relative_to(ds.path).as_posix()
        if name.startswith(wanted):
            pairs.append((path, dest / name, name))
    return transfer(pairs, overwrite, progress)


@contextmanager
def file_progress(label: str, console: Console | None = None) -> Iterator[Progress]:
    """A rich progress bar counting files (on stderr), for :data:`Progress` callbacks."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=None)
    with bar:

        def update(done: int, total: int, _name: str) -> None:
            bar.update(task, completed=done, total=total)

        yield update


__all__ = [
    "DATASTORES_DIR",
    "DEFAULT_NAME",
    "DatastoreRecord",
    "DatastoreStore",
    "Progress",
    "check_name",
    "download",
    "file_progress",
    "files_under",
    "locate",
    "model_data_folder",
    "relative_path",
    "transfer",
    "upload",
    "upload_files",
]

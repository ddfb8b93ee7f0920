"""Datastores: named local folders that hold a workspace's training data, and the data
references that hand those folders (or copies) to a run.

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

A data reference (``$AZUREML_DATAREFERENCE_<name>`` in a run's arguments) is turned into a
real path when the run starts by :func:`materialize`, :func:`substitute` and
:func:`env_vars`. Only the standard library is imported here: training scripts import the
runs package in bare environments (``rich`` is imported inside :func:`file_progress`).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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

DEFAULT_NAME = "workspaceblobstore"
DATASTORES_DIR = "datastores"
KIND_FOLDER = "folder"
PLACEHOLDER = "$AZUREML_DATAREFERENCE_{name}"
ENV_PREFIX = "AZUREML_DATAREFERENCE_"
MODES = ("mount", "download", "upload")

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


def _files_under(folder: Path) -> Iterator[tuple[Path, str]]:
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


def _transfer(
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
    pairs = [(path, target / rel, rel) for path, rel in _files_under(source)]
    return _transfer(pairs, overwrite, progress)


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
    return _transfer(pairs, overwrite, progress)


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
    for path, _rel in _files_under(base):
        name = path.relative_to(ds.path).as_posix()
        if name.startswith(wanted):
            pairs.append((path, dest / name, name))
    return _transfer(pairs, overwrite, progress)


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


# -- data references -----------------------------------------------------------------
@dataclass(frozen=True)
class DataReferenceConfig:
    """How one datastore path reaches a run (v1's ``DataReferenceConfiguration``)."""

    data_reference_name: str
    datastore_name: str
    path_on_datastore: str | None = None
    mode: str = "mount"
    path_on_compute: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        check_name(self.data_reference_name, "data reference name")
        check_name(self.datastore_name)
        if self.mode not in MODES:
            raise UserInputError(
                f"invalid data reference mode {self.mode!r}: use one of {', '.join(MODES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_reference_name": self.data_reference_name,
            "datastore_name": self.datastore_name,
            "path_on_datastore": self.path_on_datastore,
            "mode": self.mode,
            "path_on_compute": self.path_on_compute,
            "overwrite": self.overwrite,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> DataReferenceConfig:
        """From :meth:`to_dict`'s shape; ``name`` (a run definition's key) wins."""
        try:
            return cls(
                data_reference_name=name or str(data["data_reference_name"]),
                datastore_name=str(data["datastore_name"]),
                path_on_datastore=data.get("path_on_datastore"),
                mode=str(data.get("mode") or "mount"),
                path_on_compute=data.get("path_on_compute"),
                overwrite=bool(data.get("overwrite", False)),
            )
        except KeyError as exc:
            raise UserInputError(f"data reference {name or data!r} has no {exc.args[0]}") from None


def _download_copy(source: Path, dest: Path) -> None:
    if source.is_dir():
        _transfer([(p, dest / rel, rel) for p, rel in _files_under(source)], True, None)
        dest.mkdir(parents=True, exist_ok=True)
    else:
        _transfer([(source, dest, source.name)], True, None)


def _materialize_one(
    store: DatastoreStore, cfg: DataReferenceConfig, work_dir: Path
) -> tuple[Path, bool]:
    """(the host path the script gets, whether it is to be mounted read-only)."""
    ds = store.get(cfg.datastore_name)
    source = locate(ds, cfg.path_on_datastore, "path_on_datastore")
    on_compute = relative_path(cfg.path_on_compute, "path_on_compute")
    if on_compute == PurePosixPath():
        local = work_dir / cfg.data_reference_name
    else:
        local = work_dir.joinpath(*on_compute.parts)
    if cfg.mode == "upload":
        local.mkdir(parents=True, exist_ok=True)
        return local, False
    if not source.exists():
        raise UserInputError(
            f"data reference {cfg.data_reference_name!r}: {cfg.path_on_datastore or '/'!r} "
            f"does not exist on datastore {ds.name!r} ({source})",
            hint=f"upload it first, e.g. 'serving datastores upload {ds.name} ...'",
        )
    if cfg.mode == "mount":
        return source, True
    if source.is_file() and on_compute == PurePosixPath():
        local = local / source.name
    _download_copy(source, local)
    return local, False


def materialize(
    store: DatastoreStore, refs: Mapping[str, Mapping[str, Any]], work_dir: Path
) -> tuple[dict[str, Path], list[Path]]:
    """The path each data reference gets (key: its name) and the host paths to bind-mount
    read-only into a container (the mount-mode ones; mount them at the same path, so the
    arguments and variables need no translation).

    mount: the folder or file itself on the datastore; download: a copy under
    ``work_dir/<path_on_compute or name>``; upload: an empty folder there, whose files
    :func:`upload_outputs` copies to the datastore when the run ends.
    """
    paths: dict[str, Path] = {}
    mounts: list[Path] = []
    for name, data in refs.items():
        cfg = DataReferenceConfig.from_dict(data, name)
        path, mounted = _materialize_one(store, cfg, Path(work_dir))
        paths[name] = path
        if mounted:
            mounts.append(path)
    return paths, mounts


def upload_outputs(
    store: DatastoreStore, refs: Mapping[str, Mapping[str, Any]], paths: Mapping[str, Path]
) -> int:
    """Copy the folders of the upload-mode references to their datastore paths (after the
    run); returns the number of files copied."""
    copied = 0
    for name, data in refs.items():
        cfg = DataReferenceConfig.from_dict(data, name)
        if cfg.mode == "upload" and Path(paths[name]).is_dir():
            ds = store.get(cfg.datastore_name)
            copied += upload(ds, paths[name], cfg.path_on_datastore, overwrite=cfg.overwrite)
    return copied


def _placeholder_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    # longest names first, and no word character after one: '$..._ab' is not '$..._a' + 'b'
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    if not alternatives:
        return None
    return re.compile(rf"\$\{{{ENV_PREFIX}({alternatives})\}}|\${ENV_PREFIX}({alternatives})(?!\w)")


def substitute(args: Sequence[object], paths: Mapping[str, os.PathLike[str] | str]) -> list[str]:
    """``args`` as strings, with ``$AZUREML_DATAREFERENCE_<name>`` and
    ``${AZUREML_DATAREFERENCE_<name>}`` replaced by the path of ``name`` inside each one
    (``--data=$AZUREML_DATAREFERENCE_ds/mnist`` becomes ``--data=/data/ds/mnist``).
    Placeholders of unknown names are left as written."""
    pattern = _placeholder_pattern(paths)
    texts = [str(arg) for arg in args]
    if pattern is None:
        return texts
    return [
        pattern.sub(lambda m: os.fspath(paths[m.group(1) or m.group(2)]), text) for text in texts
    ]


def env_vars(paths: Mapping[str, os.PathLike[str] | str]) -> dict[str, str]:
    """``AZUREML_DATAREFERENCE_<name>`` -> path, for the run's environment."""
    return {f"{ENV_PREFIX}{name}": os.fspath(path) for name, path in paths.items()}


__all__ = [
    "DATASTORES_DIR",
    "DEFAULT_NAME",
    "ENV_PREFIX",
    "MODES",
    "PLACEHOLDER",
    "DataReferenceConfig",
    "DatastoreRecord",
    "DatastoreStore",
    "Progress",
    "check_name",
    "download",
    "env_vars",
    "file_progress",
    "locate",
    "materialize",
    "relative_path",
    "substitute",
    "upload",
    "upload_files",
    "upload_outputs",
]

"""Where things live: one folder with the metadata database and the artifact store.

Layout of a workspace folder::

    workspace.db        SQLite metadata (models, environments, endpoints), schema-versioned
    blobs/sha256/..     content-addressed artifacts
    blobs/.lock         registrations (shared) vs gc and model deletion (exclusive)
    tmp/                partial copies (removed when their process is gone)
    envs/               virtual environments for local deployments, keyed by env hash
    endpoints/<name>/   app folders and logs of running deployments

Permissions: a new workspace folder is created 0700 and its database 0600 (SQLite gives
its ``-wal``/``-shm`` files the database's mode), since they hold endpoint keys and models.
An existing workspace is opened as it is: its modes are the user's choice and are not
changed.

Discovery, in order: an explicit path (``--workspace``), ``SERVING_WORKSPACE``, the nearest
``.serving/`` folder upward from the current directory, else the per-user default workspace
(created on first use). ``SERVING_WORKSPACE`` naming a server (a URL) is refused here: the
CLI and SDK open servers themselves (:mod:`serving.hub.remote`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.config import PlatformSettings, default_workspace_dir
from serving.errors import NotFoundError, UserInputError
from serving.registry import EndpointRegistry, EnvironmentRegistry, ImageRegistry, ModelRegistry
from serving.registry.artifacts import ArtifactStore
from serving.registry.db import SCHEMA_VERSION, Database
from serving.sourcefiles import WORKSPACE_DB, WORKSPACE_MARKER

MARKER_DIR = WORKSPACE_MARKER
DB_NAME = WORKSPACE_DB


def find_upward(start: Path) -> Path | None:
    """The nearest ``.serving`` folder in ``start`` or one of its parents."""
    for folder in (start, *start.parents):
        candidate = folder / MARKER_DIR
        if (candidate / DB_NAME).is_file():
            return candidate
    return None


def _resolve_explicit(path: Path) -> Path:
    """``path`` may be the workspace folder itself or a project folder holding ``.serving``."""
    if (path / MARKER_DIR).is_dir():
        return path / MARKER_DIR
    return path


def _create_private(path: Path, db_file: Path) -> None:
    """Create the workspace folder 0700 (when it does not exist yet) and an empty database
    file 0600, before SQLite creates it with the umask's mode."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process was first: its mode
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    with contextlib.suppress(FileExistsError):
        os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(db_file, 0o600)


@dataclass
class Workspace:
    """An open workspace. Create with :meth:`create`, :meth:`get` or :meth:`from_config`."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path).resolve()
        self.db = Database(self.path / DB_NAME)
        self.store = ArtifactStore(self.path / "blobs", self.path / "tmp")
        self.models = ModelRegistry(self.db, self.store)
        self.environments = EnvironmentRegistry(self.db)
        self.endpoints = EndpointRegistry(self.db)
        self.images = ImageRegistry(self.db)

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, create: bool = False, name: str | None = None) -> Workspace:
        path = Path(path).expanduser()
        db_file = path / DB_NAME
        if not db_file.is_file():
            if not create:
                raise NotFoundError(
                    f"no workspace at {path}",
                    hint="create one with 'serving workspace create'",
                )
            if path.exists() and not path.is_dir():
                raise UserInputError(f"workspace path {path} is a file, not a folder")
            try:
                _create_private(path, db_file)
            except OSError as exc:
                raise UserInputError(f"cannot create workspace at {path}: {exc.strerror}") from exc
        ws = cls(path)
        try:
            found = ws.db.migrate()
        except sqlite3.DatabaseError as exc:
            raise UserInputError(f"{db_file} is not a serving workspace database: {exc}") from exc
        if found == 0:  # a new database: name it once
            ws._set_meta_default("name", name or ws._default_name())
        return ws

    @classmethod
    def create(
        cls, name: str | None = None, path: str | Path | None = None, **_azure_kwargs: Any
    ) -> Workspace:
        """Create (or open) the workspace at ``path/.serving`` (default: the cwd).

        Azure's subscription/resource-group arguments are accepted and ignored.
        """
        base = Path(path) if path is not None else Path.cwd()
        target = base if base.name == MARKER_DIR else base / MARKER_DIR
        return cls.open(target, create=True, name=name)

    @classmethod
    def get(
        cls, name: str | None = None, path: str | Path | None = None, **_azure_kwargs: Any
    ) -> Workspace:
        """Open an existing workspace found by :meth:`discover`; checks its name if given."""
        ws = cls.discover(Path(path) if path else None, create_default=False)
        if name is not None and ws.name != name:
            raise NotFoundError(f"workspace {name!r} not found (found {ws.name!r} at {ws.path})")
        return ws

    @classmethod
    def from_config(cls, path: str | Path | None = None, **_azure_kwargs: Any) -> Workspace:
        """Like Azure's ``Workspace.from_config``: walk up from ``path`` (default cwd)."""
        start = Path(path) if path else Path.cwd()
        found = find_upward(start.resolve())
        if found is None:
            raise NotFoundError(
                f"no .serving workspace in {start} or its parents",
                hint="run 'serving workspace create' in your project folder",
            )
        return cls.open(found)

    @classmethod
    def discover(
        cls,
        explicit: Path | None = None,
        *,
        create_default: bool = True,
        settings: PlatformSettings | None = None,
    ) -> Workspace:
        """Find the workspace to use (see the module docstring for the order)."""
        settings = settings or PlatformSettings.from_env()
        if explicit is not None:
            return cls.open(_resolve_explicit(explicit), create=True)
        if settings.workspace is not None:
            return cls.open(_resolve_explicit(settings.workspace), create=True)
        if settings.workspace_url is not None:  # never a folder found instead of the server
            raise UserInputError(
                f"SERVING_WORKSPACE names a workspace server ({settings.workspace_url}); "
                "this needs a workspace folder",
                hint="set --workspace or SERVING_WORKSPACE to the folder",
            )
        found = find_upward(Path.cwd().resolve())
        if found is not None:
            return cls.open(found)
        return cls.open(default_workspace_dir(), create=create_default, name="default")

    # -- properties ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._meta("name") or self._default_name()

    @property
    def envs_dir(self) -> Path:
        return self.path / "envs"

    def endpoint_dir(self, name: str) -> Path:
        return self.path / "endpoints" / name

    def describe(self) -> dict[str, Any]:
        with self.db.read() as conn:
            counts = {
                table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in ("models", "environments", "endpoints")
            }
        return {
            "name": self.name,
            "path": str(self.path),
            "database": str(self.db.path),
            "schema_version": SCHEMA_VERSION,
            **counts,
        }

    def _default_name(self) -> str:
        parent = self.path.parent.name if self.path.name == MARKER_DIR else self.path.name
        return parent or "workspace"

    def _meta(self, key: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta_default(self, key: str, value: str) -> None:
        with self.db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))


def garbage_collect(ws: Workspace) -> int:
    """Remove blobs no model references (left by registrations killed after copying).

    Holds the store's lock exclusive (waiting for running registrations to record their
    rows), so a blob a registration is about to reference is never taken.
    """
    removed = 0
    with ws.store.collecting():
        with ws.db.read() as conn:
            used = {r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM model_files")}
        for sha in ws.store.all_blobs():
            if sha not in used:
                ws.store.remove(sha)
                removed += 1
        ws.store.clean_partial()
    return removed


__all__ = ["Workspace", "find_upward", "garbage_collect"]

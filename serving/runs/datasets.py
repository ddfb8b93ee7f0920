"""Registered datasets as stored: one definition per ``dataset:<name>:<version>`` key of the
workspace's meta table (which files, how to read them), and the local files a definition's
paths name.

One reader for the two faces that need it: the SDK's ``Dataset`` (:mod:`serving.sdk.dataset`,
which registers them) and the drift monitor's ``--baseline dataset:NAME``
(:mod:`serving.monitor.datasets`), which sits below the SDK and may not import it.
"""

from __future__ import annotations

import glob
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from serving.errors import NotFoundError
from serving.runs.datastores import DatastoreStore, locate
from serving.workspace import Workspace

TABULAR = "tabular"
FILE = "file"
PREFIX = "dataset:"


@dataclass(frozen=True)
class DatasetDefinition:
    """What ``Dataset.register`` stores (JSON of these fields)."""

    kind: str
    paths: tuple[tuple[str | None, str], ...]
    """(datastore name or None for a local path / URL, path, globs allowed)."""
    separator: str = ","
    header: bool = True
    name: str | None = None
    version: int | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DatasetDefinition:
        data = json.loads(text)
        data["paths"] = tuple((store, str(path)) for store, path in data["paths"])
        return cls(**data)


def _keys(ws: Workspace, pattern: str) -> list[str]:
    with ws.db.read() as conn:
        return [str(row[0]) for row in conn.execute("SELECT key FROM meta WHERE key LIKE ?",
                                                     (pattern,))]  # fmt: skip


def versions(ws: Workspace, name: str) -> list[int]:
    """The registered versions of ``name``, oldest first."""
    found = (key.rpartition(":") for key in _keys(ws, f"{PREFIX}{name}:%"))
    return sorted(int(v) for head, _, v in found if head == PREFIX + name and v.isdigit())


def names(ws: Workspace) -> list[str]:
    """Every registered dataset's name."""
    return sorted({key[len(PREFIX) :].rpartition(":")[0] for key in _keys(ws, PREFIX + "%")})


def load(ws: Workspace, name: str, version: int) -> DatasetDefinition:
    """Version ``version`` of ``name`` (known to exist: see :func:`find`)."""
    with ws.db.read() as conn:
        row = conn.execute(
            "SELECT value FROM meta WHERE key = ?", (f"{PREFIX}{name}:{version}",)
        ).fetchone()
    if row is None:
        raise NotFoundError(f"dataset {name} has no version {version}")
    return DatasetDefinition.from_json(row[0])


def find(ws: Workspace, name: str, version: int | None, hint: str) -> DatasetDefinition:
    """Version ``version`` of ``name``, its latest without one; ``hint`` says how to
    register it when there is none."""
    known = versions(ws, name)
    if not known:
        raise NotFoundError(f"dataset {name} not found", hint=hint)
    chosen = known[-1] if version is None else version
    if chosen not in known:
        raise NotFoundError(f"dataset {name} has no version {chosen}")
    return load(ws, name, chosen)


def save(ws: Workspace, definition: DatasetDefinition) -> None:
    """Record ``definition`` under its name and version (a new key)."""
    with ws.db.write() as conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            (f"{PREFIX}{definition.name}:{definition.version}", definition.to_json()),
        )


def is_url(store: str | None, path: str) -> bool:
    """Whether a definition's path is an http(s) URL (read by fetching it)."""
    return store is None and path.split(":", 1)[0].lower() in ("http", "https")


def path_of(ws: Workspace, store: str | None, path: str) -> Path:
    """The host path (globs kept) of a definition's non-URL path."""
    if store is None:
        return Path(path)
    return locate(DatastoreStore(ws.path, ws.db).get(store), path)


def local_files(base: Path) -> list[Path]:
    """The files ``base`` names: its glob's matches (or itself), folders walked, sorted."""
    text = str(base)
    found = [Path(m) for m in sorted(glob.glob(text, recursive=True))] if glob.has_magic(text) \
        else ([base] if base.exists() else [])  # fmt: skip
    files: list[Path] = []
    for match in found:
        files.extend(sorted(p for p in match.rglob("*") if p.is_file()) if match.is_dir()
                     else [match])  # fmt: skip
    return files

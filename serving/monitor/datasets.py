"""A registered dataset (``Dataset.register``) as a baseline DataFrame.

The definitions are written by :mod:`serving.sdk.dataset`, which sits above this layer
(the CLI may not import the SDK either), so the stored shape is read here: the workspace
meta key ``dataset:<name>:<version>`` holds ``{"kind", "paths": [[datastore|null, path]],
"separator", "header", ...}``; paths may hold globs and name files or folders. Tabular
datasets are read as delimited files with their separator and header; file datasets by
each file's suffix. Datasets of http(s) URLs are refused: a drift check downloads nothing.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

from serving.errors import NotFoundError, UserInputError
from serving.monitor.files import read_path
from serving.runs.datastores import DatastoreStore, locate
from serving.workspace import Workspace

_PREFIX = "dataset:"


def _definition(ws: Workspace, name: str, version: int | None) -> dict[str, Any]:
    with ws.db.read() as conn:
        keys = [str(r[0]) for r in conn.execute(
            "SELECT key FROM meta WHERE key LIKE ?", (f"{_PREFIX}{name}:%",))]  # fmt: skip
    versions = sorted(int(v) for k in keys
                      if (v := k[len(_PREFIX) + len(name) + 1 :]).isdigit())  # fmt: skip
    if not versions:
        raise NotFoundError(f"dataset {name} not found", hint="register it with Dataset.register")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise NotFoundError(f"dataset {name} has no version {chosen}")
    with ws.db.read() as conn:
        row = conn.execute(
            "SELECT value FROM meta WHERE key = ?", (f"{_PREFIX}{name}:{chosen}",)
        ).fetchone()
    return dict(json.loads(row[0]))


def _files(ws: Workspace, store: str | None, path: str) -> list[Path]:
    if store is None and path.split(":", 1)[0].lower() in ("http", "https"):
        raise UserInputError(f"dataset path {path} is a URL: download it and pass the file")
    base = Path(path) if store is None else locate(DatastoreStore(ws.path, ws.db).get(store), path)
    text = str(base)
    found = [Path(m) for m in sorted(glob.glob(text, recursive=True))] if glob.has_magic(text) \
        else ([base] if base.exists() else [])  # fmt: skip
    files: list[Path] = []
    for match in found:
        files.extend(sorted(p for p in match.rglob("*") if p.is_file()) if match.is_dir()
                     else [match])  # fmt: skip
    return files


def dataset_frame(ws: Workspace, name: str, version: int | None) -> Any:
    """The rows of dataset ``name`` (its latest version without ``version``)."""
    import pandas as pd

    definition = _definition(ws, name, version)
    files = [f for store, path in definition["paths"] for f in _files(ws, store, str(path))]
    if not files:
        raise NotFoundError(f"dataset {name} matches no file: {definition['paths']}")
    if definition.get("kind") == "tabular":
        header = 0 if definition.get("header", True) else None
        sep = str(definition.get("separator") or ",")
        try:
            frames = [pd.read_csv(f, sep=sep, header=header) for f in files]
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            reason = " ".join(str(exc).split())
            raise UserInputError(f"cannot read dataset {name}: {reason}") from None
    else:
        frames = [read_path(f) for f in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

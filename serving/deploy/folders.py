"""Endpoint folders in the workspace: private (0700), one version folder per deployed
version, and leftovers of killed commands removed by the next command on the endpoint.

A local endpoint runs out of ``endpoints/NAME/version-XXXXXXXX/`` (app folder, models,
``server.log``); an update lays the new version out next to the serving one. A command that
was killed while doing so leaves a version folder that no record names, and a download
leaves ``.*.tmp`` staging folders: :func:`tidy`, called under the endpoint's lock at the
start of every endpoint command, removes both.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Collection
from pathlib import Path

from serving.workspace import Workspace

VERSION_PREFIX = "version-"
STAGING_SUFFIX = ".tmp"


def private_dir(path: Path) -> Path:
    """Create ``path`` (if needed) readable by this user only (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def endpoint_folder(ws: Workspace, name: str) -> Path:
    """``endpoints/NAME`` (and ``endpoints/``), created 0700."""
    base = ws.endpoint_dir(name)
    private_dir(base.parent)
    return private_dir(base)


def new_version_folder(base: Path) -> Path:
    """A fresh ``version-XXXXXXXX`` folder in the endpoint folder ``base``."""
    return private_dir(base / f"{VERSION_PREFIX}{secrets.token_hex(4)}")


def _is_staging(path: Path, keep: Collection[Path]) -> bool:
    if path.resolve() in keep:
        return False
    if path.name.startswith(VERSION_PREFIX):
        return path.is_dir()
    return path.name.startswith(".") and path.name.endswith(STAGING_SUFFIX)


def tidy(ws: Workspace, name: str, keep: Collection[Path | str] = ()) -> list[Path]:
    """Remove the staging folders a killed command left in endpoint ``name``'s folder:
    version folders not in ``keep`` and ``.*.tmp`` entries. Call it holding the lock."""
    base = ws.endpoint_dir(name)
    if not base.is_dir():
        return []
    kept = {Path(p).resolve() for p in keep}
    removed = []
    for entry in sorted(base.iterdir()):
        if _is_staging(entry, kept):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed

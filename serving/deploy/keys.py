"""Endpoint keys: a primary/secondary pair, as in Azure ML, and the keys file a container
re-reads."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from serving.errors import UserInputError


def new_key() -> str:
    return secrets.token_urlsafe(32)


def new_pair() -> list[str]:
    return [new_key(), new_key()]


def regenerate(keys: list[str], which: str) -> list[str]:
    """Replace the ``primary`` or ``secondary`` key."""
    which = which.lower()
    if which not in ("primary", "secondary"):
        raise UserInputError(f"--regen takes 'primary' or 'secondary', not {which!r}")
    if len(keys) != 2:
        raise UserInputError("this endpoint has no keys: deploy it with --auth to use keys")
    out = list(keys)
    out[0 if which == "primary" else 1] = new_key()
    return out


CONTAINER_GID = 10001
"""The group of the user the model images run as (``serving``, 10001:10001)."""


def container_groups() -> list[str]:
    """Extra groups for a container that reads a mounted keys file: this user's group
    when not root (the file is group-readable), none as root (the file's group is the
    container user's own)."""
    return [] if os.geteuid() == 0 else [str(os.getgid())]


def _share(path: Path, mode: int) -> None:
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, 0, CONTAINER_GID)


def write_mounted_keys(folder: Path, keys: list[str] | tuple[str, ...]) -> None:
    """Atomically replace ``folder/keys`` (one key per line), the file a container re-reads.

    The folder is mounted, not the file, so the container sees each replacement. Readable
    by the owner and one group only (folder 0750, file 0640): the container user's group
    when running as root, else this user's group, which the container joins
    (:func:`container_groups`); the endpoint folder around it is 0700."""
    folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    _share(folder, 0o750)
    tmp = folder / ".keys.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{key}\n" for key in keys))
    _share(tmp, 0o640)
    os.replace(tmp, folder / "keys")

"""Endpoint keys: a primary/secondary pair, as in Azure ML (the files servers re-read are
written by :func:`serving.deploy.toolkit.write_keys`)."""

from __future__ import annotations

import secrets

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

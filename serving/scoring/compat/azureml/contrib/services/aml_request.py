"""``AMLRequest`` and the ``@rawhttp`` decorator."""

from __future__ import annotations

from typing import TypeVar

from flask import Request

_F = TypeVar("_F")

_rawHttpRequested = False
"""Set by ``@rawhttp`` anywhere in the process: run() then receives the request itself."""


def rawhttp(func: _F) -> _F:
    """Mark run() as wanting the raw Flask request (and allow returning ``AMLResponse``)."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


def raw_http_requested() -> bool:
    """Whether ``@rawhttp`` has been applied in this process."""
    return _rawHttpRequested


def reset_raw_http() -> None:
    """Forget earlier ``@rawhttp`` uses (before loading another entry script)."""
    global _rawHttpRequested
    _rawHttpRequested = False


AMLRequest = Request
"""The request type rawhttp scripts receive: Flask's ``Request``."""

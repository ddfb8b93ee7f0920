"""Fixtures for the fuzz tests: the in-process scoring app, and this folder's entry scripts."""

from __future__ import annotations

from pathlib import Path

from tests.inprocess import _isolate_loaded_scripts, client_for

FUZZ_SCRIPTS = Path(__file__).resolve().parent / "scripts"

DEEP = 100_000
"""Nesting depth of :func:`deep_json`: far past the interpreter's recursion limit."""
DEEP_KINDS = ("array", "object")


def deep_json(kind: str) -> bytes:
    """JSON nested :data:`DEEP` levels: ``[[[...]]]`` (``array``) or ``{"a": {...}}``."""
    if kind == "array":
        return b"[" * DEEP + b"]" * DEEP
    return b'{"a":' * DEEP + b"1" + b"}" * DEEP


__all__ = [
    "DEEP_KINDS",
    "FUZZ_SCRIPTS",
    "_isolate_loaded_scripts",
    "client_for",
    "deep_json",
]

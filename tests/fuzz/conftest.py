"""Fixtures for the fuzz tests: the server tests' helpers, and this folder's entry scripts."""

from __future__ import annotations

from pathlib import Path

from tests.server.conftest import _isolate_loaded_scripts, client_for

FUZZ_SCRIPTS = Path(__file__).resolve().parent / "scripts"

__all__ = ["FUZZ_SCRIPTS", "_isolate_loaded_scripts", "client_for"]

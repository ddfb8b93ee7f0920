"""Fixtures for the fuzz tests: the in-process scoring app, and this folder's entry scripts."""

from __future__ import annotations

from pathlib import Path

from tests.inprocess import _isolate_loaded_scripts, client_for

FUZZ_SCRIPTS = Path(__file__).resolve().parent / "scripts"

__all__ = ["FUZZ_SCRIPTS", "_isolate_loaded_scripts", "client_for"]

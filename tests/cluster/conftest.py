"""The cluster target's tests share its own digits app (tests/cluster/app); the engine, base
image and model come from tests/conftest.py, the constants and clean-up from tests/helpers."""

from __future__ import annotations

from pathlib import Path

APP = Path(__file__).resolve().parent / "app"

"""Fixtures for deployment tests: every test here builds its venvs in the session's cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _shared_envs(shared_envs: Path) -> None:
    """Use the root conftest's ``shared_envs`` in every deploy test."""

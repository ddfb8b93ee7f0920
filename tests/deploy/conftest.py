"""Fixtures for deployment tests: a shared cache of virtual environments, trained models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT

SKLEARN = ROOT / "scoring_templates" / "sklearn"
SAMPLE = SKLEARN / "sample-request.json"
FIXTURES = ROOT / "tests" / "fixtures" / "scripts"


@pytest.fixture(scope="session")
def envs_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv cache for the whole session: each environment is built once."""
    return tmp_path_factory.mktemp("envs")


@pytest.fixture(autouse=True)
def _shared_envs(envs_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SERVING_ENVS_DIR", str(envs_cache))
    yield


@pytest.fixture()
def runtime_only_env(tmp_path: Path) -> Path:
    """An environment with nothing but the serving runtime (for fixture scripts)."""
    path = tmp_path / "requirements.txt"
    path.write_text("# nothing beyond the serving runtime\n")
    return path

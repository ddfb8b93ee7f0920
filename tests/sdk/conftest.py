"""Fixtures for the v1-style SDK tests: a project folder as the cwd (v1 notebooks work in
theirs), its workspace, and the session's venv cache for every deployment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.sdk import Workspace as SdkWorkspace


@pytest.fixture(autouse=True)
def _shared_envs(shared_envs: Path) -> None:
    """Deployments build their venvs once a session (the root conftest's cache)."""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("SERVING_WORKSPACE", raising=False)
    yield folder


@pytest.fixture()
def v1ws(project: Path) -> SdkWorkspace:
    """``Workspace.create(...)`` as the v1 samples call it."""
    return SdkWorkspace.create(
        name="v1-samples",
        subscription_id="0000-sub",
        resource_group="rg-samples",
        location="westeurope",
        exist_ok=True,
        show_output=False,
    )

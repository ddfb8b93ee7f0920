"""Fixtures for the v1-style SDK tests: a project folder as the cwd (v1 notebooks work in
theirs), its workspace, and the session's venv cache for every deployment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.sdk import Workspace as SdkWorkspace
from tests.remote_fixtures import (  # noqa: F401  (fixtures and hooks)
    HubProcess,
    hub_server,
    pytest_configure,
    pytest_generate_tests,
    server_ws,
)


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


@pytest.fixture()
def sdk_ws(workspace_kind: str, request: pytest.FixtureRequest) -> Any:
    """The v1 samples' workspace, or (``server``) the workspace server over a folder:
    Model and Environment tests that use only the public surface run against both."""
    if workspace_kind == "server":
        hub: HubProcess = request.getfixturevalue("hub_server")
        hub.reset()
        request.getfixturevalue("project")  # the cwd is the project folder either way
        return server_ws(hub)
    return request.getfixturevalue("v1ws")

"""A real workspace server (gunicorn, 2 workers) over a fresh workspace, for runs
submitted and reported through its API (started by :func:`tests.remote_fixtures.start_hub`,
wrapped in the hub tests' :class:`~tests.hub.conftest.Server` for its ``call``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.hub.remote.runs import RemoteRunStore
from serving.hub.remote.transport import HubClient
from serving.workspace import Workspace
from tests.hub.conftest import Server
from tests.remote_fixtures import start_hub, stop_hub


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("remote_runs")
    hub = start_hub(Workspace.open(tmp / "ws", create=True), tmp / "server.log")
    try:
        yield Server(hub.base, hub.ws, hub.tokens, {}, hub.process)
    finally:
        stop_hub(hub)


@pytest.fixture()
def remote_runs(hub_server: Server) -> RemoteRunStore:
    return RemoteRunStore(HubClient(hub_server.base, hub_server.tokens["rw"]))


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder

"""A real workspace server (gunicorn, 2 workers) over a fresh workspace, for runs
submitted and reported through its API."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.hub.launch import HubServerOptions, hub_argv, hub_env
from serving.hub.remote.runs import RemoteRunStore
from serving.hub.remote.transport import HubClient
from serving.hub.tokens import TokenStore
from serving.workspace import Workspace
from tests.hub.conftest import Server, _wait_up, free_port


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("remote_runs")
    ws = Workspace.open(tmp / "ws", create=True)
    tokens = {"rw": TokenStore(ws.db).create("rw")[1]}
    options = HubServerOptions(ws.path, port=free_port(), workers=2)
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        hub_argv(options), env=hub_env(options), stdout=log, stderr=subprocess.STDOUT
    )
    srv = Server(options.url, ws, tokens, {}, process)
    try:
        _wait_up(srv)
        yield srv
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture()
def remote_runs(hub_server: Server) -> RemoteRunStore:
    return RemoteRunStore(HubClient(hub_server.base, hub_server.tokens["rw"]))


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder

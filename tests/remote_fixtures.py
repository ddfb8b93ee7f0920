"""A real workspace server (gunicorn) for tests that run against a folder and a server.

``hub_server`` (session scope) serves one workspace with a read-write, a read-only and a
revoked token. ``workspace_kind`` is parametrised ``folder``/``server`` by
:func:`pytest_generate_tests` (import it into a conftest), unless a test is marked
``folder_only`` (it inspects what only a folder has: the blob store, SQLite, file modes).
In ``server`` mode ``ws`` is a :class:`~serving.sdk.server_workspace.ServerWorkspace` on
that server, whose registry tables are emptied before each test, and ``cli`` runs the CLI
with ``SERVING_WORKSPACE`` set to its URL and ``SERVING_TOKEN`` to the read-write token.
``backing`` is the folder behind either (for set-up a server does not offer, such as
recording an endpoint).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from serving.deploy.toolkit import free_port
from serving.hub.launch import HubServerOptions, hub_argv, hub_env
from serving.hub.tokens import TokenStore
from serving.workspace import Workspace, garbage_collect
from tests.helpers import CliResult

START_TIMEOUT_S = 60
KINDS = ("folder", "server")
REGISTRY_TABLES = ("endpoint_models", "model_files", "models", "endpoints", "environments",
                   "images")  # fmt: skip


@dataclass
class HubProcess:
    """A running server over ``ws``: its base URL and the tokens by role."""

    base: str
    ws: Workspace
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        """Empty the registry tables (tokens and runs stay) and the blob store."""
        with self.ws.db.write() as conn:
            for table in REGISTRY_TABLES:
                conn.execute(f"DELETE FROM {table}")
        garbage_collect(self.ws)


def wait_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the workspace server exited"
        try:
            if requests.get(f"{base}/api/v1/openapi.json", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    raise AssertionError("the workspace server did not answer")


def start_hub(ws: Workspace, log: Path, **env: str) -> HubProcess:
    """Tokens ``rw``, ``ro`` (read-only) and ``gone`` (revoked), then gunicorn."""
    store = TokenStore(ws.db)
    tokens = {"rw": store.create("rw")[1], "ro": store.create("ro", read_only=True)[1]}
    tokens["gone"] = store.create("gone")[1]
    store.revoke("gone")
    options = HubServerOptions(ws.path, port=free_port(), workers=2)
    with log.open("wb") as out:
        process = subprocess.Popen(
            hub_argv(options), env=hub_env(options) | env, stdout=out, stderr=subprocess.STDOUT
        )
    hub = HubProcess(options.url, ws, tokens, process)
    try:
        wait_up(hub.base, process)
    except BaseException:
        stop_hub(hub)
        raise
    return hub


def stop_hub(hub: HubProcess) -> None:
    hub.process.terminate()
    try:
        hub.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        hub.process.kill()
        hub.process.wait(timeout=10)


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    tmp = tmp_path_factory.mktemp("remote-hub")
    hub = start_hub(Workspace.open(tmp / "ws", create=True), tmp / "server.log")
    try:
        yield hub
    finally:
        stop_hub(hub)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "folder_only: runs against a workspace folder only (inspects its internals)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "workspace_kind" in metafunc.fixturenames:
        folder_only = metafunc.definition.get_closest_marker("folder_only") is not None
        metafunc.parametrize("workspace_kind", KINDS[:1] if folder_only else KINDS)


@pytest.fixture()
def backing(workspace_kind: str, request: pytest.FixtureRequest, ws_path: Path) -> Workspace:
    """The workspace folder behind the test's workspace (the server's in server mode)."""
    if workspace_kind == "server":
        hub: HubProcess = request.getfixturevalue("hub_server")
        hub.reset()
        return hub.ws
    return Workspace.open(ws_path, create=True)


@pytest.fixture()
def ws(workspace_kind: str, backing: Workspace, request: pytest.FixtureRequest) -> Any:
    """The SDK workspace under test: the folder, or the server over it."""
    from serving.sdk import Workspace as SdkWorkspace

    if workspace_kind == "server":
        hub: HubProcess = request.getfixturevalue("hub_server")
        return server_ws(hub)
    return SdkWorkspace.get(path=backing.path)


def server_ws(hub: HubProcess, token: str = "rw") -> Any:
    from serving.sdk.server_workspace import ServerWorkspace

    return ServerWorkspace(hub.base, hub.tokens.get(token, token))


@pytest.fixture()
def cli(
    workspace_kind: str,
    backing: Workspace,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
) -> Callable[..., CliResult]:
    """The in-process CLI of ``tests/conftest.py`` (on ``ws_path``, the folder ``backing``
    in folder mode), pointed at the server in server mode."""
    if workspace_kind == "server":
        hub: HubProcess = request.getfixturevalue("hub_server")
        monkeypatch.setenv("SERVING_WORKSPACE", hub.base)
        monkeypatch.setenv("SERVING_TOKEN", hub.tokens["rw"])
    else:
        monkeypatch.delenv("SERVING_TOKEN", raising=False)
    return cli

"""``any_ws``: the SDK workspace a runs test uses, once a workspace folder and once a real
workspace server (gunicorn) over a fresh folder (``kind``), for the tests of the SDK's
public surface; tests that inspect a folder's internals keep their own fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.sdk import Workspace
from serving.workspace import Workspace as FolderWorkspace
from tests.remote_fixtures import server_ws, start_hub, stop_hub


@pytest.fixture(params=["folder", "server"])
def kind(request: pytest.FixtureRequest) -> str:
    param: str = request.param
    return param


@pytest.fixture()
def any_ws(kind: str, tmp_path: Path) -> Iterator[Any]:
    """The SDK workspace under test: a folder, or a server over a fresh folder."""
    if kind == "folder":
        yield Workspace.create(path=tmp_path / "proj")
        return
    hub = start_hub(FolderWorkspace.open(tmp_path / "served", create=True), tmp_path / "log")
    try:
        yield server_ws(hub)
    finally:
        stop_hub(hub)

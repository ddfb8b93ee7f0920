"""A new workspace is private: folder 0700, database and its -wal/-shm files 0600."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.workspace import Workspace
from tests.helpers import cli_env, serving_cmd


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def open_umask() -> Iterator[None]:
    """The most permissive umask, so only serving's own modes can make files private."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_new_workspace_folder_and_database_are_private(tmp_path: Path) -> None:
    ws = Workspace.create(path=tmp_path / "project")
    assert ws.path == (tmp_path / "project" / ".serving").resolve()
    model = tmp_path / "m.bin"
    model.write_bytes(b"x")
    conn = ws.db.connect()  # an open connection keeps the -wal and -shm files in place
    try:
        conn.execute("SELECT 1 FROM models").fetchall()
        ws.models.register(model, "m")
        files = {p.name: _mode(p) for p in ws.path.iterdir() if p.name.startswith("workspace.db")}
    finally:
        conn.close()
    assert _mode(ws.path) == 0o700
    assert files == {"workspace.db": 0o600, "workspace.db-wal": 0o600, "workspace.db-shm": 0o600}


@pytest.mark.usefixtures("open_umask")
def test_cli_created_workspace_is_private(tmp_path: Path) -> None:
    target = tmp_path / "ws"
    env = cli_env(target)
    result = subprocess.run(
        serving_cmd("models", "list"), env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert _mode(target) == 0o700
    assert _mode(target / "workspace.db") == 0o600


def test_existing_workspace_modes_are_left_alone(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    os.chmod(ws.path, 0o750)
    os.chmod(ws.db.path, 0o640)
    again = Workspace.open(tmp_path / "ws", create=True)
    again.models.list()
    assert (_mode(again.path), _mode(again.db.path)) == (0o750, 0o640)

"""Registering a model folder: symbolic links and workspaces inside it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from serving.errors import UserInputError
from serving.registry import Ref
from serving.workspace import Workspace
from tests.helpers import CliResult


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    (path / "weights").mkdir(parents=True)
    (path / "weights" / "w.bin").write_bytes(b"\x01" * 100)
    (path / "config.json").write_text("{}")
    return path


def test_links_inside_are_registered_as_their_targets(
    ws: Workspace, folder: Path, tmp_path: Path
) -> None:
    (folder / "latest.bin").symlink_to("weights/w.bin")
    (folder / "current").symlink_to("weights", target_is_directory=True)
    record = ws.models.register(folder, "m")
    assert [f.relpath for f in record.files] == [
        "config.json",
        "current/w.bin",
        "latest.bin",
        "weights/w.bin",
    ]
    assert len({f.sha256 for f in record.files if f.relpath.endswith(".bin")}) == 1
    out = ws.models.download(Ref("m", 1), tmp_path / "out")
    assert not (out / "latest.bin").is_symlink()
    assert (out / "latest.bin").read_bytes() == b"\x01" * 100
    assert (out / "current" / "w.bin").read_bytes() == b"\x01" * 100


def test_a_link_outside_is_refused_and_nothing_is_stored(
    ws: Workspace, backing: Workspace, folder: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "id_rsa"
    outside.write_text("private")
    (folder / "weights" / "extra.bin").symlink_to(outside)
    with pytest.raises(UserInputError) as caught:
        ws.models.register(folder, "m")
    text = caught.value.one_line()
    assert "'weights/extra.bin'" in text and str(outside) in text and "\n" not in text
    assert ws.models.list() == [] and list(backing.store.all_blobs()) == []


def test_a_link_loop_does_not_hang(ws: Workspace, folder: Path) -> None:
    (folder / "weights" / "again").symlink_to("..", target_is_directory=True)
    with pytest.raises(UserInputError, match=r"'weights/again' .* loop"):
        ws.models.register(folder, "m")


def test_a_workspace_inside_is_left_out(ws: Workspace, folder: Path) -> None:
    Workspace.create(path=folder)  # folder/.serving with its database
    record = ws.models.register(folder, "m")
    assert [f.relpath for f in record.files] == ["config.json", "weights/w.bin"]


def test_cli_register_with_a_link_outside_is_exit_2_one_line(
    cli: Callable[..., CliResult], folder: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"x")
    (folder / "big.bin").symlink_to(outside)
    result = cli("models", "register", folder, "--name", "m")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "'big.bin'" in lines[0] and str(outside) in lines[0]
    (folder / "big.bin").unlink()
    (folder / "big.bin").symlink_to("config.json")
    assert cli("models", "register", folder, "--name", "m").code == 0

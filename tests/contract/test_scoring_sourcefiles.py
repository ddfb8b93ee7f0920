"""What of a source folder goes into an app folder: workspaces, ignore files, links."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from serving import workspace
from serving.errors import UserInputError
from serving.scoring import write_app_dir
from serving.scoring.layout import check_source
from serving.sourcefiles import WORKSPACE_DB, WORKSPACE_MARKER, model_entries, source_entries


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    (src / "pkg" / "util.py").write_text("X = 1\n")
    return src


def _copy(tmp_path: Path, source: Path, script: str = "score.py") -> Path:
    write_app_dir(tmp_path / "app", Path(script), source, [])
    return tmp_path / "app" / source.name


def _one_line_error(tmp_path: Path, source: Path) -> str:
    with pytest.raises(UserInputError) as caught:
        write_app_dir(tmp_path / "app", Path("score.py"), source, [])
    text = caught.value.one_line()
    assert "\n" not in text
    assert not (tmp_path / "app").exists()  # refused before anything is written
    return text


def test_markers_are_the_workspace_s_own() -> None:
    assert (WORKSPACE_MARKER, WORKSPACE_DB) == (workspace.MARKER_DIR, workspace.DB_NAME)


def test_workspaces_and_caches_are_left_out_at_any_depth(tmp_path: Path, source: Path) -> None:
    (source / ".serving" / "blobs").mkdir(parents=True)
    (source / ".serving" / WORKSPACE_DB).write_bytes(b"SQLite format 3\0")
    (source / ".serving" / "blobs" / "secret").write_text("s")
    other = source / "pkg" / "old-ws"  # a workspace under another name (--workspace PATH)
    other.mkdir()
    (other / WORKSPACE_DB).write_bytes(b"db")
    (other / "keys.json").write_text("{}")
    (source / "pkg" / ".serving").mkdir()  # a marker folder without a database yet
    (source / "pkg" / ".serving" / "x").write_text("x")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref")
    (source / "pkg" / "__pycache__").mkdir()
    (source / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"c")
    (source / "stale.pyc").write_bytes(b"c")
    assert _tree(_copy(tmp_path, source)) == {"score.py", "pkg", "pkg/util.py"}


def test_app_folder_inside_the_source_s_workspace_is_allowed(tmp_path: Path, source: Path) -> None:
    ws = workspace.Workspace.create(path=source)  # source/.serving, as `serving workspace create`
    app = ws.endpoint_dir("svc") / "app"
    layout = write_app_dir(app, Path("score.py"), source, [])
    assert _tree(app / source.name) == {"score.py", "pkg", "pkg/util.py"}
    assert layout.entry_script == "proj/score.py"
    with pytest.raises(UserInputError, match="cannot be inside the source"):
        write_app_dir(source / "pkg" / "app", Path("score.py"), source, [])


def test_a_workspace_as_source_folder_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / WORKSPACE_DB).write_bytes(b"db")
    (ws / "score.py").write_text("")
    text = _one_line_error(tmp_path, ws)
    assert "is a serving workspace folder" in text


def test_amlignore_patterns_gitignore_syntax(tmp_path: Path, source: Path) -> None:
    (source / "data" / "raw").mkdir(parents=True)
    (source / "data" / "raw" / "big.csv").write_text("1")
    (source / "data" / "keep.csv").write_text("1")
    (source / "notes.log").write_text("l")
    (source / "pkg" / "debug.log").write_text("l")
    (source / ".amlignore").write_text("# comment\n*.log\ndata/\n!data/keep.csv\n")
    (source / ".dockerignore").write_text("pkg\n")  # not read: .amlignore comes first
    assert _tree(_copy(tmp_path, source)) == {
        ".amlignore",
        ".dockerignore",
        "score.py",
        "pkg",
        "pkg/util.py",  # git cannot bring back a file of a left-out folder
    }


def test_dockerignore_patterns_docker_syntax(tmp_path: Path, source: Path) -> None:
    (source / "data").mkdir()
    (source / "data" / "a.csv").write_text("1")
    (source / "data" / "b.csv").write_text("1")
    (source / "pkg" / "debug.log").write_text("l")
    (source / "top.log").write_text("l")
    (source / ".dockerignore").write_text("/*.log\ndata\n!data/b.csv\n.dockerignore\n")
    assert _tree(_copy(tmp_path, source)) == {
        "score.py",
        "pkg",
        "pkg/util.py",
        "pkg/debug.log",  # Docker's patterns are relative to the folder: *.log is top-level
        "data",
        "data/b.csv",  # Docker's ! brings a file back from a left-out folder
    }


def test_dockerignore_allow_list(tmp_path: Path, source: Path) -> None:
    (source / "junk.txt").write_text("j")
    (source / ".dockerignore").write_text("*\n!score.py\n!pkg\n")
    assert _tree(_copy(tmp_path, source)) == {"score.py", "pkg", "pkg/util.py"}


def test_an_ignored_entry_script_is_an_error(tmp_path: Path, source: Path) -> None:
    (source / ".amlignore").write_text("score.py\n")
    with pytest.raises(UserInputError, match=r"entry script score.py is left out .* \.amlignore"):
        check_source(Path("score.py"), source)


def test_links_inside_are_copied_as_their_targets(tmp_path: Path, source: Path) -> None:
    (source / "alias.py").symlink_to("pkg/util.py")
    (source / "lib").symlink_to(source / "pkg", target_is_directory=True)
    app = _copy(tmp_path, source)
    assert _tree(app) == {
        "score.py",
        "pkg",
        "pkg/util.py",
        "alias.py",
        "lib",
        "lib/util.py",
    }
    for rel in ("alias.py", "lib", "lib/util.py"):
        assert not (app / rel).is_symlink(), rel
    assert (app / "alias.py").read_text() == "X = 1\n"
    assert (app / "lib" / "util.py").read_text() == "X = 1\n"


def test_a_link_outside_is_refused_naming_link_and_target(tmp_path: Path, source: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (source / "pkg" / "creds.txt").symlink_to(secret)
    text = _one_line_error(tmp_path, source)
    assert "'pkg/creds.txt'" in text and str(secret) in text and "outside" in text
    assert ".amlignore" in text  # the hint says how to leave it out


def test_a_relative_link_escaping_the_folder_is_refused(tmp_path: Path, source: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "lib.py").write_text("")
    (source / "shared").symlink_to("../shared", target_is_directory=True)
    text = _one_line_error(tmp_path, source)
    assert "'shared'" in text and "../shared" in text


def test_an_ignored_link_outside_is_not_looked_at(tmp_path: Path, source: Path) -> None:
    (source / ".venv" / "bin").mkdir(parents=True)
    (source / ".venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    (source / ".dockerignore").write_text(".venv\n")
    assert ".venv" not in {p.split("/")[0] for p in _tree(_copy(tmp_path, source))}


def test_broken_links_and_loops_are_one_line_errors(tmp_path: Path, source: Path) -> None:
    (source / "gone.py").symlink_to("nothing-here.py")
    assert "'gone.py'" in _one_line_error(tmp_path, source)
    assert "nothing-here.py" in _one_line_error(tmp_path, source)
    (source / "gone.py").unlink()
    (source / "a").symlink_to("b")
    (source / "b").symlink_to("a")
    assert "loop" in _one_line_error(tmp_path, source)
    (source / "a").unlink()
    (source / "b").unlink()
    (source / "pkg" / "up").symlink_to("..", target_is_directory=True)  # a folder loop
    text = _one_line_error(tmp_path, source)
    assert "'pkg/up'" in text and "loop" in text


def test_sockets_are_refused(tmp_path: Path, source: Path) -> None:
    path = source / "agent.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(path))
        except OSError as exc:  # a path too long for AF_UNIX on this machine
            pytest.skip(f"cannot make a socket here: {exc}")
        assert "'agent.sock'" in _one_line_error(tmp_path, source)


def test_source_entries_reports_the_rules_used(source: Path) -> None:
    assert source_entries(source)[1].file is None
    (source / ".dockerignore").write_text("pkg\n")
    entries, rules = source_entries(source)
    assert rules.file == ".dockerignore"
    assert [e.rel for e in entries] == [".dockerignore", "score.py"]
    (source / ".amlignore").write_text("")
    assert source_entries(source)[1].file == ".amlignore"


def test_model_folders_keep_dotfiles_but_not_workspaces(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / ".serving").mkdir(parents=True)
    (folder / ".serving" / WORKSPACE_DB).write_bytes(b"db")
    (folder / ".meta").write_text("m")
    (folder / "w.bin").write_bytes(b"w")
    (folder / "w-link.bin").symlink_to("w.bin")
    files = {e.rel: e.path for e in model_entries(folder) if not e.is_dir}
    real = folder.resolve()
    assert files == {".meta": real / ".meta", "w.bin": real / "w.bin", "w-link.bin": real / "w.bin"}
    os.symlink("/etc/hostname", folder / "host")
    with pytest.raises(UserInputError, match=r"'host' in model folder .* /etc/hostname"):
        model_entries(folder)


def test_a_link_into_a_workspace_is_refused(tmp_path: Path, source: Path) -> None:
    (source / ".serving").mkdir()
    (source / ".serving" / WORKSPACE_DB).write_bytes(b"SQLite format 3\0")
    (source / "db").symlink_to(".serving/" + WORKSPACE_DB)
    text = _one_line_error(tmp_path, source)
    assert "'db'" in text and "workspace" in text and ".serving/workspace.db" in text
    (source / "db").unlink()
    other = source / "pkg" / "old-ws"  # a workspace under another name
    other.mkdir()
    (other / WORKSPACE_DB).write_bytes(b"db")
    (other / "keys.json").write_text("{}")
    (source / "keys.json").symlink_to("pkg/old-ws/keys.json")
    assert "'keys.json'" in _one_line_error(tmp_path, source)
    (source / "keys.json").unlink()
    (source / "ws").symlink_to("pkg/old-ws", target_is_directory=True)  # the folder itself
    assert "'ws'" in _one_line_error(tmp_path, source)


def test_a_link_to_a_left_out_path_is_refused(tmp_path: Path, source: Path) -> None:
    (source / ".git").mkdir()
    (source / ".git" / "config").write_text("token")
    (source / "cfg").symlink_to(".git/config")
    assert "'cfg'" in _one_line_error(tmp_path, source)
    (source / "cfg").unlink()
    (source / "secrets.env").write_text("KEY=1")
    (source / ".amlignore").write_text("secrets.env\n")
    (source / "pkg" / "env").symlink_to("../secrets.env")
    text = _one_line_error(tmp_path, source)
    assert "'pkg/env'" in text and "left-out" in text
    (source / ".amlignore").write_text("pkg/env\nsecrets.env\n")  # the link left out too: fine
    assert _tree(_copy(tmp_path, source)) == {".amlignore", "score.py", "pkg", "pkg/util.py"}


def test_a_link_brought_back_by_a_docker_negation_is_copied(tmp_path: Path, source: Path) -> None:
    (source / "data").mkdir()
    (source / "data" / "a.csv").write_text("a")
    (source / "data" / "b.csv").write_text("b")
    (source / ".dockerignore").write_text("data\n!data/b.csv\n.dockerignore\n")
    (source / "b.csv").symlink_to("data/b.csv")
    assert (_copy(tmp_path, source) / "b.csv").read_text() == "b"
    (source / "a.csv").symlink_to("data/a.csv")
    with pytest.raises(UserInputError, match=r"'a\.csv' .* left-out path, to data/a\.csv"):
        source_entries(source)


def test_a_link_into_a_workspace_in_a_model_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / ".serving").mkdir(parents=True)
    (folder / ".serving" / WORKSPACE_DB).write_bytes(b"db")
    (folder / "w.bin").write_bytes(b"w")
    (folder / "db").symlink_to(".serving/" + WORKSPACE_DB)
    with pytest.raises(UserInputError, match=r"'db' in model folder .* workspace") as caught:
        model_entries(folder)
    assert "\n" not in caught.value.one_line()

"""Copies out of the store remove only their own destination's stale temporaries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from serving.registry import artifacts


def _dead_pid() -> int:
    code = "import os; print(os.getpid())"
    proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(proc.stdout)


def _write_f(folder: Path) -> None:
    (folder / "f").write_text("x")


def _write_y(path: Path) -> None:
    path.write_text("y")


def test_only_this_destination_s_dead_temporaries_are_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    mine = os.getpid()
    stale = tmp_path / f".a.{dead}.0123abcd.tmp"  # destination a, a killed process
    stale.mkdir()
    stale_file = tmp_path / f".a.{dead}.89abcdef.tmp"
    stale_file.write_text("partial")
    # destination a.<dead>: a live process's staging folder, and a killed one's
    live_sibling = tmp_path / f".a.{dead}.{mine}.0123abcd.tmp"
    live_sibling.mkdir()
    other_dead = tmp_path / f".a.{dead}.{dead}.0123abcd.tmp"
    other_dead.mkdir()
    odd = tmp_path / f".a.{dead}.not-hex.tmp"  # not a staging name
    odd.mkdir()
    artifacts.copy_tree_atomic(_write_f, tmp_path / "a")
    assert (tmp_path / "a" / "f").read_text() == "x"
    assert not stale.exists() and not stale_file.exists()
    assert live_sibling.is_dir() and other_dead.is_dir() and odd.is_dir()
    artifacts.copy_file_atomic(_write_y, tmp_path / f"a.{dead}")
    assert live_sibling.is_dir()  # its process is alive
    assert not other_dead.exists()  # destination a.<dead>'s own dead temporary
    assert odd.is_dir()


def test_staging_names_are_parsed_from_the_right() -> None:
    assert artifacts._staging_pid(".a.12.0123abcd.tmp", ".a.") == 12
    assert artifacts._staging_pid(".a.5.12.0123abcd.tmp", ".a.") is None
    assert artifacts._staging_pid(".a.5.12.0123abcd.tmp", ".a.5.") == 12
    assert artifacts._staging_pid(".a.x.0123abcd.tmp", ".a.") is None
    assert artifacts._staging_pid(".a.12.0123abcd.part.tmp", ".a.") is None
    assert artifacts._staging_pid(".a.\u00b2.0123abcd.tmp", ".a.") is None
    assert artifacts._staging_pid(".b.12.0123abcd.tmp", ".a.") is None

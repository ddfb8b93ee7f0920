"""Concurrent commands and killed processes lose nothing: real CLI processes race.

A registration is paused between storing its blobs and recording its rows with the test
hook ``SERVING_TEST_PAUSE_BEFORE_RECORD``; ``workspace gc`` or ``models delete`` run in that
window must not take the blobs (they wait on the store's lock).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.registry import artifacts
from serving.registry.names import Ref
from serving.workspace import Workspace
from tests.helpers import cli_env, serving_cmd

PAUSE_S = 6.0
# folder only: these race real CLI processes on one workspace folder's SQLite database and
# blob store (the store's lock, gc, fsyncs); a server runs the same registry code
pytestmark = pytest.mark.folder_only


def _start(ws_path: Path, *args: str, pause: float | None = None) -> subprocess.Popen[str]:
    env = cli_env(ws_path)
    if pause is not None:
        env["SERVING_TEST_PAUSE_BEFORE_RECORD"] = str(pause)
    return subprocess.Popen(
        serving_cmd(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _blob(ws: Workspace, data: bytes) -> Path:
    return ws.store.blob_path(hashlib.sha256(data).hexdigest())


def _download_ok(ws_path: Path, ref: str, target: Path, expected: dict[str, bytes]) -> None:
    code, out, err = _finish(_start(ws_path, "models", "download", ref, str(target)))
    assert code == 0, err
    dest = Path(out.strip())
    for rel, data in expected.items():
        assert (dest / rel if dest.is_dir() else dest).read_bytes() == data


def test_gc_during_registration_keeps_its_blobs(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    files = {"a.txt": b"alpha " * 1000, "b.bin": os.urandom(300_000)}
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    register = _start(ws.path, "models", "register", str(folder), "-n", "m", pause=PAUSE_S)
    _wait_for(lambda: all(_blob(ws, d).is_file() for d in files.values()), "the blobs")
    gc = _start(ws.path, "workspace", "gc", "-o", "json")  # starts inside the pause
    reg_code, _, reg_err = _finish(register)
    gc_code, gc_out, gc_err = _finish(gc)
    assert (reg_code, gc_code) == (0, 0), (reg_err, gc_err)
    assert json.loads(gc_out) == {"removed_blobs": 0}
    _download_ok(ws.path, "m:1", tmp_path / "dl", files)


def test_gc_still_removes_unreferenced_blobs(ws: Workspace, tmp_path: Path) -> None:
    orphan = ws.store.put_file(_write(tmp_path / "orphan.bin", b"orphan"))
    code, out, err = _finish(_start(ws.path, "workspace", "gc", "-o", "json"))
    assert code == 0, err
    assert json.loads(out) == {"removed_blobs": 1}
    assert not ws.store.blob_path(orphan).exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_delete_during_registration_keeps_shared_blob(ws: Workspace, tmp_path: Path) -> None:
    shared = os.urandom(200_000)
    ws.models.register(_write(tmp_path / "model.bin", shared), "a")
    folder = tmp_path / "b"
    folder.mkdir()
    files = {"model.bin": shared, "zz.txt": b"only in b"}  # stored in this order
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    register = _start(ws.path, "models", "register", str(folder), "-n", "b", pause=PAUSE_S)
    _wait_for(lambda: _blob(ws, files["zz.txt"]).is_file(), "b's blobs")
    delete = _start(ws.path, "models", "delete", "a:1")  # inside b's pause
    reg_code, _, reg_err = _finish(register)
    del_code, _, del_err = _finish(delete)
    assert (reg_code, del_code) == (0, 0), (reg_err, del_err)
    assert [m.ref for m in ws.models.list()] == ["b:1"]
    _download_ok(ws.path, "b:1", tmp_path / "dl", files)


def _stale(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")] if folder.is_dir() else []


def _kill_midway(ws_path: Path, ref: str, target: Path) -> None:
    """SIGKILL a download once its temporary copy holds some but not all bytes."""
    proc = _start(ws_path, "models", "download", ref, str(target))

    def started() -> bool:
        return any(
            (p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*"))) > 0
            for p in _stale(target)
        )

    try:
        _wait_for(started, "the download to start writing")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_download_killed_midway_leaves_nothing_in_the_way(
    ws: Workspace, tmp_path: Path, kind: str
) -> None:
    big = tmp_path / "big"
    big.mkdir()
    source = big / "model.bin"
    with source.open("wb") as fh:  # 256 MiB: seconds of copying and hashing
        for _ in range(256):
            fh.write(os.urandom(1024) * 1024)
    ws.models.register(source if kind == "file" else big, "big")
    target = tmp_path / "dl"
    _kill_midway(ws.path, "big:1", target)
    assert not (target / ("model.bin" if kind == "file" else "big")).exists()
    assert _stale(target), "the killed download left no temporary copy: nothing was tested"
    expected = {"model.bin": source.read_bytes()}
    _download_ok(ws.path, "big:1", target, expected)
    assert _stale(target) == []  # the killed process's temporary copy was removed


def test_renames_into_place_fsync_the_folder(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spy on (not replace) the folder fsync: the real one runs after each rename."""
    synced: list[Path] = []
    real = artifacts.fsync_dir

    def spy(path: Path) -> None:
        synced.append(Path(path))
        real(path)

    monkeypatch.setattr(artifacts, "fsync_dir", spy)
    record = ws.models.register(_write(tmp_path / "m.bin", b"payload"), "m")
    blob = ws.store.blob_path(record.files[0].sha256)
    assert blob.parent in synced
    synced.clear()
    dest = ws.models.download(Ref("m", 1), tmp_path / "out")
    assert synced == [dest.parent]

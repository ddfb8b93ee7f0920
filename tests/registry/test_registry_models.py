"""Model registry behaviour, through the storage layer and the SDK."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from serving.errors import ConflictError, IntegrityError, NotFoundError, UserInputError
from serving.registry import Ref
from serving.sdk import Model, Workspace
from tests.helpers import cli_env, serving_cmd


def test_versions_increment_and_latest(ws: Workspace, digits_model: Path) -> None:
    first = ws.models.register(digits_model, "digits", tags={"stage": "dev"})
    second = ws.models.register(digits_model, "digits")
    assert (first.version, second.version) == (1, 2)
    assert ws.models.get(Ref("digits")).version == 2
    assert first.framework == "sklearn"
    assert first.framework_version  # read from the pickle, without unpickling
    assert len(first.files) == 1 and len(first.files[0].sha256) == 64


def test_folder_roundtrip_and_dedup(
    ws: Workspace, backing: Workspace, small_tree: Path, tmp_path: Path
) -> None:
    a = ws.models.register(small_tree, "tree")
    b = ws.models.register(small_tree, "tree-copy")
    assert a.kind == "dir" and [f.relpath for f in a.files] == ["sub/config.json", "weights.bin"]
    assert len(list(backing.store.all_blobs())) == 2  # same content stored once
    dest = ws.models.download(Ref("tree", 1), tmp_path / "out")
    assert dest == tmp_path / "out" / "model_dir"
    assert (dest / "sub" / "config.json").read_text() == '{"a": 1}'
    ws.models.delete(Ref("tree", 1))
    assert len(list(backing.store.all_blobs())) == 2  # still used by tree-copy
    ws.models.delete(Ref(b.name, 1))
    assert list(backing.store.all_blobs()) == []


def test_bad_inputs(ws: Workspace, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserInputError, match="empty"):
        ws.models.register(empty, "m")
    with pytest.raises(UserInputError, match="does not exist"):
        ws.models.register(tmp_path / "nope", "m")
    with pytest.raises(UserInputError, match="invalid model name"):
        ws.models.register(tmp_path, "-bad")
    with pytest.raises(NotFoundError):
        ws.models.get(Ref("m"))
    assert ws.models.list() == []


def test_update_tags_and_add_only_properties(ws: Workspace, small_tree: Path) -> None:
    ws.models.register(small_tree, "m", properties={"acc": "0.9"})
    rec = ws.models.update(Ref("m", 1), add_tags={"a": "1", "b": "2"}, description="d")
    assert rec.tags == {"a": "1", "b": "2"} and rec.description == "d"
    rec = ws.models.update(Ref("m", 1), remove_tags=["a"], add_properties={"loss": "0.1"})
    assert rec.tags == {"b": "2"} and rec.properties == {"acc": "0.9", "loss": "0.1"}
    with pytest.raises(ConflictError, match="only be added"):
        ws.models.update(Ref("m", 1), add_properties={"acc": "0.5"})


def test_list_filters(ws: Workspace, small_tree: Path) -> None:
    ws.models.register(small_tree, "a", tags={"team": "x"})
    ws.models.register(small_tree, "a", tags={"team": "y"})
    ws.models.register(small_tree, "b", run_id="run-1")
    assert [r.ref for r in ws.models.list(latest=True)] == ["a:2", "b:1"]
    assert [r.ref for r in ws.models.list(tags={"team": "x"})] == ["a:1"]
    assert [r.ref for r in ws.models.list(tags={"team": None})] == ["a:2", "a:1"]
    assert [r.ref for r in ws.models.list(run_id="run-1")] == ["b:1"]


def test_delete_refused_while_endpoint_uses_it(
    ws: Workspace, backing: Workspace, small_tree: Path
) -> None:
    ws.models.register(small_tree, "m")
    rec = backing.models.get(Ref("m", 1))  # endpoints are recorded where the folder is
    backing.endpoints.create("svc-one", "local", {}, [], [rec.id])
    with pytest.raises(ConflictError, match="svc-one"):
        ws.models.delete(Ref("m", 1))
    ws.models.delete(Ref("m", 1), force=True)
    assert ws.endpoints.get("svc-one").models == ()


def test_corrupt_artifact_fails_download_naming_file(
    ws: Workspace, backing: Workspace, small_tree: Path, tmp_path: Path
) -> None:
    rec = ws.models.register(small_tree, "m")
    weights = next(f for f in rec.files if f.relpath == "weights.bin")
    blob = backing.store.blob_path(weights.sha256)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match=r"weights\.bin"):
        ws.models.download(Ref("m", 1), tmp_path / "out")
    assert not (tmp_path / "out" / "model_dir").exists()  # nothing half-written
    assert not any((tmp_path / "out").iterdir())


def test_sdk_register_list_download(tmp_path: Path, digits_model: Path) -> None:
    ws = Workspace.create(name="proj", path=tmp_path / "proj")
    model = Model.register(
        ws,
        model_path=str(digits_model),
        model_name="digits",
        tags={"k": "v"},
        model_framework=Model.Framework.SCIKITLEARN,
    )
    assert (model.name, model.version, model.model_framework) == ("digits", 1, "sklearn")
    assert Model(ws, "digits").version == 1
    assert [m.id for m in Model.list(ws, tags=[["k", "v"]])] == ["digits:1"]
    path = Model(ws, "digits", version=1).download(tmp_path / "dl")
    assert Path(path).read_bytes() == digits_model.read_bytes()
    nested = tmp_path / "proj" / "src" / "deep"
    nested.mkdir(parents=True)
    assert Workspace.from_config(nested).name == "proj"  # walks up like Azure's from_config


def test_eight_concurrent_registrations(ws_path: Path, small_tree: Path) -> None:
    """8 processes register one name at once and get exactly versions 1..8."""
    from serving.workspace import Workspace as CoreWorkspace

    CoreWorkspace.open(ws_path, create=True)
    procs = [
        subprocess.Popen(
            serving_cmd("models", "register", str(small_tree), "--name", "race"),
            env=cli_env(ws_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    printed = sorted(int(out.strip().rsplit(":", 1)[1]) for out, _ in outputs)
    assert printed == list(range(1, 9))
    stored = sorted(r.version for r in CoreWorkspace.open(ws_path).models.list(name="race"))
    assert stored == list(range(1, 9))


def test_sigkill_mid_copy_leaves_no_trace(ws_path: Path, tmp_path: Path) -> None:
    from serving.workspace import Workspace as CoreWorkspace

    ws = CoreWorkspace.open(ws_path, create=True)
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        block = os.urandom(1024 * 1024)
        for _ in range(768):
            fh.write(block)
    before = [r.ref for r in ws.models.list()]
    proc = subprocess.Popen(
        serving_cmd("models", "register", str(big), "--name", "big"),
        env=cli_env(ws_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    tmp_dir = ws_path / "tmp"
    while time.monotonic() < deadline:
        parts = list(tmp_dir.glob("*.part")) if tmp_dir.is_dir() else []
        if parts and parts[0].stat().st_size > 1024 * 1024:
            break
        time.sleep(0.005)
    else:
        pytest.fail("registration never started copying")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    ws = CoreWorkspace.open(ws_path)
    assert [r.ref for r in ws.models.list()] == before
    assert list(ws.store.all_blobs()) == []  # no complete blob: the copy was cut off
    # the dead process's partial file does not count, and the next write removes it
    assert len(list(tmp_dir.glob("*.part"))) == 1
    ws.models.register(tmp_path / "big.bin", "other")
    assert not list(tmp_dir.glob("*.part"))

"""The image records and the docker target's pure parts (limits, run options)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.deploy.containers import RunSpec, container_name, run_kwargs
from serving.deploy.docker import write_keys
from serving.deploy.spec import parse_cpu, parse_memory
from serving.errors import NotFoundError, UserInputError
from serving.registry.images import check_repository, parse_image_tag
from serving.workspace import Workspace


def _record(ws: Workspace, name: str = "serving/digits", tag: str | None = None) -> str:
    return ws.images.record(
        name,
        tag=tag,
        image_id="sha256:abc",
        build_key="k1",
        env_hash="e" * 64,
        python="3.11",
        flavour="cpu",
        base_image="serving-base:3.11-bookworm",
        size_bytes=10,
        models=["digits:1"],
        entry_script="score.py",
        labels={"serving.version": "0.1.0"},
    ).ref


def test_images_are_versioned_per_name_and_found_by_tag(ws: Workspace) -> None:
    assert _record(ws) == "serving/digits:1"
    assert _record(ws, tag="serving/digits:prod") == "serving/digits:2"
    assert ws.images.get("serving/digits").version == 2
    assert ws.images.get("serving/digits:1").tag == "serving/digits:1"
    assert ws.images.get("serving/digits:prod").version == 2
    assert ws.images.find_build("serving/digits", "k1") is not None
    assert ws.images.find_build("serving/digits", "other") is None
    assert ws.images.next_version("serving/digits") == 3
    record = ws.images.get("serving/digits:1")
    assert record.to_dict()["models"] == ["digits:1"] and record.labels["serving.version"]
    ws.images.delete(record)
    assert [r.ref for r in ws.images.list()] == ["serving/digits:2"]
    with pytest.raises(NotFoundError):
        ws.images.get("serving/digits:1")


def test_image_names_follow_docker_rules() -> None:
    assert parse_image_tag("serving/digits:prod") == ("serving/digits", "prod")
    assert parse_image_tag("digits") == ("digits", None)
    assert check_repository("a.b/c-d_e") == "a.b/c-d_e"
    for bad in ("Digits", "a//b", "-a", "a:"):
        with pytest.raises(UserInputError):
            parse_image_tag(bad)


def test_memory_and_cpu_limits() -> None:
    assert parse_memory("1g") == 2**30 and parse_memory("512m") == 512 * 2**20
    assert parse_memory("1.5GiB") == int(1.5 * 2**30) and parse_memory(2**30) == 2**30
    for bad in ("lots", "1x", "4k"):
        with pytest.raises(UserInputError, match="memory"):
            parse_memory(bad)
    assert parse_cpu("1.5") == 1.5
    for bad_cpu in ("x", "0", "5000"):
        with pytest.raises(UserInputError, match="cpu"):
            parse_cpu(bad_cpu)


def test_run_options_publish_on_loopback_with_limits_and_keys() -> None:
    spec = RunSpec(
        name=container_name("digits-svc"),
        image="sha256:abc",
        port=18080,
        workers=2,
        threads=1,
        nano_cpus=1_500_000_000,
        mem_limit=2**30,
    )
    assert RunSpec.from_dict(spec.to_dict()) == spec
    kwargs = run_kwargs(spec, "digits-svc", ["k1", "k2"], "/ws")
    assert kwargs["name"] == "serving-digits-svc"
    assert kwargs["ports"] == {"5001/tcp": ("127.0.0.1", 18080)}
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert kwargs["environment"]["SERVING_KEYS"] == "k1,k2"
    assert kwargs["labels"] == {"serving.endpoint": "digits-svc", "serving.workspace": "/ws"}
    assert kwargs["nano_cpus"] == 1_500_000_000 and kwargs["mem_limit"] == 2**30
    assert kwargs["log_config"]["config"] == {"max-size": "20m", "max-file": "3"}  # capped
    command = kwargs["command"]
    assert command[:3] == ["/opt/serving/env/bin/python", "-m", "gunicorn"]
    assert command[command.index("--bind") + 1] == "0.0.0.0:5001"
    assert command[command.index("--workers") + 1] == "2"
    unlimited = run_kwargs(RunSpec("n", "i", 1, 1, 1, None, None), "e", [], "/ws")
    assert "nano_cpus" not in unlimited and unlimited["environment"]["SERVING_KEYS"] == ""
    mounted = run_kwargs(spec, "digits-svc", [], "/ws", keys_folder=Path("/ws/keys.d"))
    assert mounted["volumes"] == {"/ws/keys.d": {"bind": "/run/serving/keys", "mode": "ro"}}
    assert mounted["environment"]["SERVING_KEYS_FILE"] == "/run/serving/keys/keys"


def test_keys_file_is_replaced_atomically_and_readable_by_the_container(tmp_path: Path) -> None:
    folder = tmp_path / "endpoint" / "keys.d"
    write_keys(folder, ["a", "b"])
    first = (folder / "keys").stat().st_ino
    write_keys(folder, ["c", "b"])
    assert (folder / "keys").read_text() == "c\nb\n" and (folder / "keys").stat().st_ino != first
    # owner and one group only: the container user's group (as root) or this user's
    assert (folder / "keys").stat().st_mode & 0o777 == 0o640
    assert folder.parent.stat().st_mode & 0o777 == 0o700

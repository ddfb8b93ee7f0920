"""The docker target's hardening, with real containers: auth fails closed when the keys
file goes, a failed update leaves the old container serving and recorded, and ``delete``
removes only containers that carry this workspace's labels."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import pytest
import requests

from serving.deploy.base import DeployRequest
from serving.deploy.containers import RunSpec
from serving.deploy.docker import DockerTarget, keys_folder, write_keys
from serving.deploy.recording import recover
from serving.deploy.toolkit import ENDPOINT_LABEL, WORKSPACE_LABEL, free_port, labels
from serving.environments import EnvSpec
from serving.errors import DeploymentError
from serving.workspace import Workspace
from tests.helpers import DOCKER_TIMEOUT, FIXTURES, CliResult

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]
Cli = Callable[..., CliResult]


def _score(uri: str, key: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(uri, json={"data": [1, 2]}, headers=headers, timeout=30)


def test_keys_file_deleted_under_a_running_container_fails_closed_and_updates_keep_the_old(
    cli: Cli,
    ws_path: Path,
    small_tree: Path,
    runtime_only_env: Path,
    base_image: str,
    engine: DockerClient,
) -> None:
    assert cli("models", "register", small_tree, "--name", "m").code == 0
    deployed = cli(
        "deploy", "fc-svc", "--model", "m", "--entry-script", FIXTURES / "ok.py",
        "--env", runtime_only_env, "--target", "docker", "--auth", "-o", "json",
    )  # fmt: skip
    assert deployed.code == 0, deployed.err
    data = deployed.json()
    assert isinstance(data, dict)
    uri, primary = str(data["scoring_uri"]), data["keys"][0]
    container = engine.containers.get("serving-fc-svc")
    assert "SERVING_AUTH=key" in container.attrs["Config"]["Env"]
    assert _score(uri, primary).json() == {"sum": 3} and _score(uri, None).status_code == 401

    ws = Workspace.open(ws_path)
    (keys_folder(ws, "fc-svc") / "keys").unlink()
    assert _score(uri, primary).status_code == 401  # never 200 without a keys file
    regen = cli("endpoints", "keys", "fc-svc", "--regen", "primary", "-o", "json").json()
    assert isinstance(regen, dict)
    assert _score(uri, regen["primary"]).json() == {"sum": 3}
    assert _score(uri, regen["secondary"]).status_code == 200

    failed = cli("endpoints", "update", "fc-svc", "--entry-script", FIXTURES / "init_raises.py")
    assert failed.code == 6, failed.err
    record = ws.endpoints.get("fc-svc")
    assert record.spec["entry_script"].endswith("ok.py") and "candidate" not in record.runtime
    assert (record.error or "").startswith("update failed")
    assert _score(uri, regen["primary"]).json() == {"sum": 3}
    shown = cli("endpoints", "show", "fc-svc", "-o", "json").json()
    assert isinstance(shown, dict) and shown["state"] == "Healthy"
    names = {c.name for c in engine.containers.list(all=True, filters={"name": "serving-fc-svc"})}
    assert names == {"serving-fc-svc"}

    # a good update: once the new container is recorded, the parked previous one goes
    good = cli("endpoints", "update", "fc-svc", "--entry-script", FIXTURES / "prints.py")
    assert good.code == 0, good.err
    record = ws.endpoints.get("fc-svc")
    assert record.spec["entry_script"].endswith("prints.py") and record.error is None
    serving = engine.containers.get("serving-fc-svc")
    assert serving.attrs["Image"] == record.runtime["run"]["image"]
    names = {c.name for c in engine.containers.list(all=True, filters={"name": "serving-fc-svc"})}
    assert names == {"serving-fc-svc"}
    assert _score(uri, regen["primary"]).status_code == 200

    assert cli("endpoints", "delete", "fc-svc").code == 0
    assert engine.containers.list(all=True, filters={"name": "serving-fc-svc"}) == []


@pytest.fixture()
def strangers(engine: DockerClient, base_image: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two containers named like endpoints of ours: one without labels, one labelled with
    another workspace."""
    made = [
        engine.containers.run(base_image, ["sleep", "600"], name=name, labels=labels, detach=True)
        for name, labels in (
            ("serving-nolabel-svc", {}),
            (
                "serving-otherws-svc",
                {ENDPOINT_LABEL: "otherws-svc", WORKSPACE_LABEL: str(tmp_path / "other-ws")},
            ),
        )
    ]
    yield [str(c.name) for c in made]
    for container in made:
        container.remove(force=True)


def test_delete_leaves_containers_without_this_workspaces_labels(
    cli: Cli, ws: Workspace, engine: DockerClient, strangers: list[str]
) -> None:
    for name in strangers:
        endpoint = name.removeprefix("serving-")
        ws.endpoints.create(endpoint, "docker", {}, [], [])
        ws.endpoints.update(endpoint, state="Healthy", runtime={"container": name, "port": 1})
        result = cli("endpoints", "delete", endpoint)
        assert result.code == 0, result.err
    assert json.loads(cli("endpoints", "list", "-o", "json").out) == []
    for name in strangers:
        assert engine.containers.get(name).status == "running"


def _ours(engine: DockerClient, endpoint: str) -> dict[str, Any]:
    found = engine.containers.list(all=True, filters={"label": f"{ENDPOINT_LABEL}={endpoint}"})
    return {str(c.name): c for c in found}


def test_a_container_docker_cannot_start_is_removed_and_the_error_is_one_line(
    ws: Workspace, engine: DockerClient, base_image: str
) -> None:
    """``containers.run`` is create + start: when the start fails (the port is taken), the
    created container goes too, so its name is free for the previous version."""
    request = DeployRequest(
        name="busy-svc",
        models=(),
        entry_script=Path("score.py"),
        source_dir=None,
        env=EnvSpec(name="x", python="3.11", requirements=()),
    )
    write_keys(keys_folder(ws, "busy-svc"), [])
    target = DockerTarget()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spec = RunSpec("serving-busy-svc", base_image, taken.getsockname()[1], 1, 1, None, None)
        with pytest.raises(DeploymentError, match="Docker could not start serving-busy-svc"):
            target._start(ws, spec, request, {}, lambda _r: None, lambda _l: None)
    target.docker.release()
    assert _ours(engine, "busy-svc") == {}


def test_recovery_after_a_killed_docker_update_serves_the_recorded_container(
    ws: Workspace, engine: DockerClient, base_image: str
) -> None:
    """Killed once the new container ran under the endpoint's name, the old one parked:
    the next command removes the new one and puts the recorded (old) one back; once the
    new one is recorded, the parked one goes instead."""
    name, ours = "serving-kill-svc", labels("kill-svc", str(ws.path))
    sleep = ["sleep", "600"]
    old = engine.containers.run(
        base_image, sleep, name=f"{name}-previous", labels=ours, detach=True
    )
    old.stop(timeout=0)
    newer = old.commit(repository="serving-test/kill-svc-next")
    made = [old.id]
    try:
        for suffix in ("", "-next"):
            made.append(
                engine.containers.run(
                    newer.id, sleep, name=f"{name}{suffix}", labels=ours, detach=True
                ).id
            )
        ws.endpoints.create("kill-svc", "docker", {"models": []}, [], [])
        runtime = {"container": name, "port": free_port(), "run": {"image": old.image.id}}
        candidate = {"container": name, "run": {"image": newer.id}}
        ws.endpoints.update(
            "kill-svc", state="Transitioning", runtime={**runtime, "candidate": candidate}
        )
        record = recover(ws, DockerTarget(), ws.endpoints.get("kill-svc"))
        assert record.runtime == runtime and record.state == "Unhealthy"  # observed
        running = _ours(engine, "kill-svc")
        assert set(running) == {name} and running[name].id == old.id
        assert running[name].status == "running"

        # a new version recorded: the parked previous container goes
        old.stop(timeout=0)
        old.rename(f"{name}-previous")
        made.append(engine.containers.run(newer.id, sleep, name=name, labels=ours, detach=True).id)
        record = ws.endpoints.update("kill-svc", runtime={**candidate, "port": runtime["port"]})
        DockerTarget().discard_candidate(ws, record)
        running = _ours(engine, "kill-svc")
        assert set(running) == {name} and running[name].id == made[-1]
    finally:
        for container_id in made:
            with contextlib.suppress(docker.errors.NotFound):
                engine.containers.get(container_id).remove(force=True)
        engine.images.remove(newer.id, force=True)

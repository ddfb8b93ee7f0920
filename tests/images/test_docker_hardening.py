"""The docker target's hardening, with real containers: auth fails closed when the keys
file goes, a failed update leaves the old container serving and recorded, and ``delete``
removes only containers that carry this workspace's labels."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from serving.deploy.docker import keys_folder
from serving.deploy.toolkit import ENDPOINT_LABEL, WORKSPACE_LABEL
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

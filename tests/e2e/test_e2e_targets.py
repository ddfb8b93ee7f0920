"""One end-to-end suite, parametrised by deploy target (local, docker, cluster): the digits
template deployed with keys gives the same answers, takes and rotates its keys, logs,
updates to a new model version and is deleted the same way everywhere. One endpoint per
target is shared by the tests, in order; what only one target does is tested in its folder
(tests/deploy, tests/images, tests/cluster)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests
from sklearn.datasets import load_digits

from tests.helpers import (
    DOCKER_TIMEOUT,
    SAMPLE,
    Cli,
    deploy_digits,
    remove_workspace_debris,
    run_cli,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(DOCKER_TIMEOUT)]
TARGETS = [
    pytest.param("local"),
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("cluster", marks=pytest.mark.docker),
]
EXTRA = {"local": (), "docker": (), "cluster": ("--replicas", "1")}
"""Options per target beyond ``--auth --workers 1``: one replica keeps the cluster small."""
BAD_ROWS_STATUS = 500
"""Rows of the wrong width: the model's ValueError in run() (a run failure, not a 400)."""


@dataclass
class Deployed:
    """The module's endpoint on one target, and the keys it currently has."""

    target: str
    ws: Path
    name: str
    data: dict[str, object]
    keys: list[str]

    @property
    def uri(self) -> str:
        return str(self.data["scoring_uri"])

    @property
    def base(self) -> str:
        return self.uri.rsplit("/", 1)[0]

    def post(self, key: str | None = "primary", body: bytes | None = None) -> requests.Response:
        """POST to /score with the primary key (``key=None``: none; else the key itself)."""
        headers = {"Content-Type": "application/json"}
        if key is not None:
            token = self.keys[0] if key == "primary" else key
            headers["Authorization"] = f"Bearer {token}"
        data = SAMPLE.read_bytes() if body is None else body
        return requests.post(self.uri, data=data, headers=headers, timeout=30)


@pytest.fixture(scope="module", params=TARGETS)
def deployed(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    envs_cache: Path,
    template_model: Path,
) -> Iterator[Deployed]:
    """``e2e-<target>`` in its own workspace: digits:1 with keys and one worker; removed at
    the end with what it left in Docker."""
    target = str(request.param)
    if target != "local":
        request.getfixturevalue("base_image")
    ws = tmp_path_factory.mktemp(f"e2e-{target}-ws")
    name = f"e2e-{target}"
    cli = functools.partial(run_cli, ws, env={"SERVING_ENVS_DIR": str(envs_cache)})
    data = deploy_digits(
        cli, target, "--auth", "--workers", "1", *EXTRA[target], name=name, model=template_model
    )
    keys = data["keys"]
    assert isinstance(keys, list) and len(keys) == 2
    yield Deployed(target, ws, name, data, [str(k) for k in keys])
    cli("endpoints", "delete", name)  # already gone unless a test failed first
    if target != "local":
        remove_workspace_debris(request.getfixturevalue("engine"), ws, "e2e-")


@pytest.fixture()
def ws_path(deployed: Deployed, shared_envs: Path) -> Path:
    """The ``cli`` fixture works on the endpoint's workspace, with the session's venv cache."""
    return deployed.ws


def _payloads() -> list[list[list[float]]]:
    x, _ = load_digits(return_X_y=True)
    rows = x[[0, 7, 13, 42, 99, 512, 1000, 1700]].tolist()
    return [json.loads(SAMPLE.read_text())["data"], rows[:1], rows]


def test_deployed_healthy_with_two_keys(deployed: Deployed) -> None:
    data = deployed.data
    assert set(data) >= {"name", "scoring_uri", "swagger_uri", "state", "target", "models", "keys"}
    assert data["state"] == "Healthy" and data["target"] == deployed.target
    assert data["models"] == ["digits:1"] and data["name"] == deployed.name
    assert deployed.uri.startswith("http://127.0.0.1:") and deployed.uri.endswith("/score")


def test_same_answers_on_every_target(deployed: Deployed, cli: Cli, template_model: Path) -> None:
    model = joblib.load(template_model)
    for rows in _payloads():
        resp = deployed.post(body=json.dumps({"data": rows}).encode())
        assert resp.status_code == 200, resp.text
        assert resp.json() == model.predict(np.array(rows)).tolist()
    bad = deployed.post(body=json.dumps({"data": [[1.0, 2.0]]}).encode())
    assert bad.status_code == BAD_ROWS_STATUS and "message" in bad.json(), bad.text
    assert bad.headers["x-ms-run-function-failed"] == "True"
    swagger = requests.get(str(deployed.data["swagger_uri"]), headers=_bearer(deployed), timeout=10)
    assert swagger.json()["swagger"] == "2.0"
    invoked = cli("endpoints", "invoke", deployed.name, "--data", f"@{SAMPLE}")
    assert invoked.code == 0 and json.loads(invoked.out) == [0]


def _bearer(deployed: Deployed) -> dict[str, str]:
    return {"Authorization": f"Bearer {deployed.keys[0]}"}


def test_keys_are_required_and_regenerate_at_once(deployed: Deployed, cli: Cli) -> None:
    primary, secondary = deployed.keys
    unauthorized = deployed.post(key=None)
    assert unauthorized.status_code == 401 and "message" in unauthorized.json()
    assert deployed.post(key="wrong").status_code == 401
    assert deployed.post().json() == [0] and deployed.post(key=secondary).status_code == 200
    assert requests.get(f"{deployed.base}/health/ready", timeout=5).status_code == 200
    regen = cli("endpoints", "keys", deployed.name, "--regen", "primary", "-o", "json")
    assert regen.code == 0, regen.err
    keys = regen.json()
    assert isinstance(keys, dict) and keys["primary"] != primary
    assert keys["secondary"] == secondary
    assert deployed.post(key=primary).status_code == 401  # the old key stops working at once
    deployed.keys[0] = str(keys["primary"])
    assert deployed.post().status_code == 200 and deployed.post(key=secondary).status_code == 200
    shown = cli("endpoints", "show", deployed.name, "-o", "json").json()
    assert isinstance(shown, dict) and shown["state"] == "Healthy"


def test_logs_show_what_init_printed(deployed: Deployed, cli: Cli) -> None:
    logs = cli("endpoints", "logs", deployed.name, "--tail", "200")
    assert logs.code == 0 and "loaded" in logs.out  # print() in init() reaches the log


def test_update_to_a_new_model_version_keeps_the_uri(
    deployed: Deployed, cli: Cli, template_model: Path
) -> None:
    assert cli("models", "register", template_model, "--name", "digits").code == 0
    updated = cli("endpoints", "update", deployed.name, "--model", "digits:2", "-o", "json")
    assert updated.code == 0, updated.err
    after = updated.json()
    assert isinstance(after, dict) and after["models"] == ["digits:2"]
    assert after["scoring_uri"] == deployed.uri and after["state"] == "Healthy"
    assert deployed.post().json() == [0]  # new answers come from version 2
    assert cli("models", "delete", "digits:2").code == 4  # in use


def test_delete_frees_the_port_and_the_name(deployed: Deployed, cli: Cli) -> None:
    assert cli("endpoints", "delete", deployed.name).code == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{deployed.base}/", timeout=5)
    assert cli("endpoints", "list", "-o", "json").json() == []

"""The docker target end to end: real images, real containers, real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from tests.helpers import CliResult
from tests.images.conftest import DOCKER_TIMEOUT, FIXTURES, SAMPLE, SKLEARN

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]
Cli = Callable[..., CliResult]


def _post(uri: str, key: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(uri, data=SAMPLE.read_bytes(), headers=headers, timeout=30)


def test_deploy_auth_limits_logs_keys_update_delete(
    cli: Cli, template_model: Path, base_image: str, engine: DockerClient
) -> None:
    assert cli("models", "register", template_model, "--name", "digits").code == 0
    deployed = cli(
        "deploy",
        "digits-svc",
        "--model",
        "digits:1",
        "--entry-script",
        SKLEARN / "score.py",
        "--env",
        SKLEARN / "env.yml",
        "--target",
        "docker",
        "--auth",
        "--cpu",
        "1",
        "--memory",
        "1g",
        "-o",
        "json",
    )
    assert deployed.code == 0, deployed.err
    data = deployed.json()
    assert isinstance(data, dict) and data["state"] == "Healthy" and data["target"] == "docker"
    uri, (primary, secondary) = str(data["scoring_uri"]), data["keys"]
    assert uri.startswith("http://127.0.0.1:")
    assert _post(uri).status_code == 401
    assert _post(uri, primary).json() == [0] and _post(uri, secondary).status_code == 200

    container = engine.containers.get("serving-digits-svc")
    host = container.attrs["HostConfig"]
    assert host["NanoCpus"] == 1_000_000_000 and host["Memory"] == 2**30
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert container.attrs["Config"]["Healthcheck"]["Test"][0] == "CMD"
    assert container.labels["serving.endpoint"] == "digits-svc"

    assert "loaded" in cli("endpoints", "logs", "digits-svc", "--tail", "100").out
    regen = cli("endpoints", "keys", "digits-svc", "--regen", "primary", "-o", "json").json()
    assert isinstance(regen, dict) and regen["primary"] != primary
    assert (
        _post(uri, primary).status_code == 401 and _post(uri, regen["primary"]).status_code == 200
    )
    assert cli("endpoints", "show", "digits-svc", "-o", "json").json()["state"] == "Healthy"  # type: ignore[index]

    assert cli("models", "register", template_model, "--name", "digits").code == 0
    updated = cli("endpoints", "update", "digits-svc", "--model", "digits:2", "-o", "json")
    assert updated.code == 0, updated.err
    assert "reusing the environment layer" in updated.err
    after = updated.json()
    assert (
        isinstance(after, dict) and after["models"] == ["digits:2"] and after["scoring_uri"] == uri
    )
    assert _post(uri, regen["primary"]).json() == [0]

    assert cli("endpoints", "delete", "digits-svc").code == 0
    assert engine.containers.list(all=True, filters={"name": "serving-digits-svc"}) == []
    with pytest.raises(requests.ConnectionError):
        requests.get(uri.rsplit("/", 1)[0] + "/", timeout=5)


def test_a_failing_init_is_reported_and_does_not_loop(
    cli: Cli, template_model: Path, base_image: str, engine: DockerClient, tmp_path: Path
) -> None:
    assert cli("models", "register", template_model, "--name", "digits").code == 0
    result = cli(
        "deploy",
        "broken-svc",
        "--model",
        "digits:1",
        "--entry-script",
        FIXTURES / "init_raises.py",
        "--env",
        SKLEARN / "env.yml",
        "--target",
        "docker",
    )
    assert result.code == 6, result.err
    assert "exited with code 3" in result.err and "init()" in result.err
    assert "Traceback" in result.err  # the container's log tail is shown
    assert engine.containers.list(all=True, filters={"name": "serving-broken-svc"}) == []
    shown = cli("endpoints", "show", "broken-svc", "-o", "json").json()
    assert isinstance(shown, dict) and shown["state"] == "Failed"
    assert cli("endpoints", "delete", "broken-svc").code == 0


def test_bad_limits_fail_before_building(cli: Cli, template_model: Path) -> None:
    assert cli("models", "register", template_model, "--name", "digits").code == 0
    result = cli(
        "deploy",
        "limits-svc",
        "--model",
        "digits:1",
        "--entry-script",
        SKLEARN / "score.py",
        "--env",
        SKLEARN / "env.yml",
        "--target",
        "docker",
        "--memory",
        "lots",
    )
    assert result.code == 2 and "invalid --memory 'lots'" in result.err
    assert json.loads(cli("images", "list", "-o", "json").out) == []

"""The docker target's own behaviour: container limits and settings, the environment layer
reused on update, failures. What every target does (scoring, keys, logs, update, delete)
is in tests/e2e."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import DIGITS_ARGS, DOCKER_TIMEOUT, FIXTURES, SKLEARN, Cli, deploy_digits

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]


def test_limits_restart_policy_update_layer_and_delete(
    cli: Cli, template_model: Path, base_image: str, engine: DockerClient
) -> None:
    data = deploy_digits(
        cli, "docker", "--auth", "--cpu", "1", "--memory", "1g", model=template_model
    )
    assert data["state"] == "Healthy"
    uri = str(data["scoring_uri"])
    container = engine.containers.get("serving-digits-svc")
    host = container.attrs["HostConfig"]
    assert host["NanoCpus"] == 1_000_000_000 and host["Memory"] == 2**30
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert container.attrs["Config"]["Healthcheck"]["Test"][0] == "CMD"
    assert container.labels["serving.endpoint"] == "digits-svc"

    assert cli("models", "register", template_model, "--name", "digits").code == 0
    updated = cli("endpoints", "update", "digits-svc", "--model", "digits:2", "-o", "json")
    assert updated.code == 0, updated.err
    assert "reusing the environment layer" in updated.err
    after = updated.json()
    assert isinstance(after, dict) and after["scoring_uri"] == uri

    assert cli("endpoints", "delete", "digits-svc").code == 0
    assert engine.containers.list(all=True, filters={"name": "serving-digits-svc"}) == []


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
        *DIGITS_ARGS,
        "--target",
        "docker",
        "--memory",
        "lots",
    )
    assert result.code == 2 and "invalid --memory 'lots'" in result.err
    assert json.loads(cli("images", "list", "-o", "json").out) == []

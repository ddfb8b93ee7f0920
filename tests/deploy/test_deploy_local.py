"""The local target end to end: real venvs, real gunicorn processes, real HTTP."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from serving.workspace import Workspace
from tests.deploy.conftest import FIXTURES, SAMPLE, SKLEARN
from tests.helpers import CliResult

pytestmark = pytest.mark.slow
Cli = Callable[..., CliResult]


def _deploy_digits(cli: Cli, model: Path, *extra: str) -> dict[str, object]:
    assert cli("models", "register", model, "--name", "digits").code == 0
    result = cli(
        "deploy",
        "digits-svc",
        "--model",
        "digits:1",
        "--entry-script",
        SKLEARN / "score.py",
        "--env",
        SKLEARN / "env.yml",
        "-o",
        "json",
        *extra,
    )
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    return data


def test_deploy_score_update_delete(cli: Cli, template_model: Path) -> None:
    data = _deploy_digits(cli, template_model)
    assert set(data) >= {"name", "scoring_uri", "swagger_uri", "state", "target", "models", "keys"}
    assert data["state"] == "Healthy" and data["target"] == "local"
    assert data["models"] == ["digits:1"] and data["keys"] == []
    uri = str(data["scoring_uri"])
    resp = requests.post(
        uri, data=SAMPLE.read_bytes(), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert resp.status_code == 200 and resp.json() == [0]
    assert requests.get(str(data["swagger_uri"]), timeout=10).json()["swagger"] == "2.0"
    invoked = cli("endpoints", "invoke", "digits-svc", "--data", f"@{SAMPLE}")
    assert invoked.code == 0 and json.loads(invoked.out) == [0]
    logs = cli("endpoints", "logs", "digits-svc", "--tail", "200")
    assert "loaded" in logs.out  # print() in init() reaches the log

    # a new model version: same environment, same port, new answers come from it
    cli("models", "register", template_model, "--name", "digits")
    updated = cli("endpoints", "update", "digits-svc", "--model", "digits:2", "-o", "json")
    assert updated.code == 0, updated.err
    assert updated.json()["models"] == ["digits:2"]  # type: ignore[index]
    assert updated.json()["scoring_uri"] == uri  # type: ignore[index]
    assert requests.post(
        uri, data=SAMPLE.read_bytes(), headers={"Content-Type": "application/json"}, timeout=30
    ).json() == [0]
    assert cli("models", "delete", "digits:2").code == 4  # in use

    assert cli("endpoints", "delete", "digits-svc").code == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(uri.rsplit("/", 1)[0] + "/", timeout=5)
    assert cli("endpoints", "list", "-o", "json").json() == []


def test_auth_keys_and_regen(cli: Cli, template_model: Path) -> None:
    data = _deploy_digits(cli, template_model, "--auth")
    uri = str(data["scoring_uri"])
    primary, secondary = data["keys"]  # type: ignore[misc]
    body = SAMPLE.read_bytes()

    def post(key: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return requests.post(uri, data=body, headers=headers, timeout=30).status_code

    assert post(None) == 401
    assert post("wrong") == 401
    assert post(primary) == 200 and post(secondary) == 200
    assert requests.get(uri.rsplit("/", 1)[0] + "/health/ready", timeout=5).status_code == 200
    regen = cli("endpoints", "keys", "digits-svc", "--regen", "primary", "-o", "json").json()
    assert isinstance(regen, dict) and regen["primary"] != primary
    assert regen["secondary"] == secondary
    assert post(primary) == 401  # the old key stops working at once
    assert post(str(regen["primary"])) == 200 and post(secondary) == 200
    cli("endpoints", "delete", "digits-svc")


def test_failing_init_reports_traceback_and_failed(
    cli: Cli, ws_path: Path, template_model: Path, runtime_only_env: Path
) -> None:
    cli("models", "register", template_model, "--name", "digits")
    result = cli(
        "deploy",
        "broken-svc",
        "--model",
        "digits",
        "--entry-script",
        FIXTURES / "init_raises.py",
        "--env",
        runtime_only_env,
    )
    assert result.code == 6
    assert "Traceback" in result.err and "RuntimeError" in result.err  # the log tail
    assert result.err.strip().splitlines()[-1].startswith("error: the server exited")
    record = Workspace.open(ws_path).endpoints.get("broken-svc")
    assert record.state == "Failed" and record.error
    shown = cli("endpoints", "show", "broken-svc", "-o", "json").json()
    assert shown["state"] == "Failed"  # type: ignore[index]
    assert cli("endpoints", "delete", "broken-svc").code == 0


def test_dead_process_shows_unhealthy(cli: Cli, template_model: Path) -> None:
    data = _deploy_digits(cli, template_model)
    shown = cli("endpoints", "show", "digits-svc", "-o", "json").json()
    pid = shown["runtime"]["process"]["pid"]  # type: ignore[index]
    os.killpg(pid, signal.SIGKILL)
    listed = cli("endpoints", "list", "-o", "json").json()
    assert [e["state"] for e in listed] == ["Unhealthy"]  # type: ignore[union-attr, index]
    assert data["name"] == "digits-svc"
    assert cli("endpoints", "delete", "digits-svc").code == 0


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (
            (
                "deploy",
                "Bad_Name",
                "--model",
                "digits",
                "--entry-script",
                "{score}",
                "--env",
                "{env}",
            ),
            2,
            "invalid endpoint name",
        ),
        (
            ("deploy", "svc-x", "--model", "nope", "--entry-script", "{score}", "--env", "{env}"),
            3,
            "model nope not found",
        ),
        (
            (
                "deploy",
                "svc-x",
                "--model",
                "digits",
                "--entry-script",
                "/no/score.py",
                "--env",
                "{env}",
            ),
            3,
            "entry script",
        ),
        (
            (
                "deploy",
                "svc-x",
                "--model",
                "digits",
                "--entry-script",
                "{score}",
                "--env",
                "missing-env:3",
            ),
            3,
            "environment missing-env:3 not found",
        ),
        (
            (
                "deploy",
                "svc-x",
                "--model",
                "digits",
                "--entry-script",
                "{score}",
                "--env",
                "{env}",
                "--target",
                "mars",
            ),
            2,
            "mars",
        ),
        (("endpoints", "show", "nope"), 3, "not found"),
        (("endpoints", "invoke", "nope", "--data", "{}"), 3, "not found"),
        (("endpoints", "keys", "nope"), 3, "not found"),
        (("endpoints", "logs", "nope"), 3, "not found"),
        (("endpoints", "update", "nope", "--model", "digits"), 3, "not found"),
        (("endpoints", "delete", "nope"), 3, "not found"),
    ],
)
def test_deploy_bad_input_is_one_line(
    cli: Cli, template_model: Path, args: tuple[str, ...], code: int, needle: str
) -> None:
    cli("models", "register", template_model, "--name", "digits")
    subs = {"{score}": str(SKLEARN / "score.py"), "{env}": str(SKLEARN / "env.yml")}
    result = cli(*(subs.get(a, a) for a in args))
    assert result.code == code, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines


def test_sdk_deploy_run_logs_delete(tmp_path: Path, template_model: Path) -> None:
    from serving.sdk import (
        Environment,
        InferenceConfig,
        LocalDeployment,
        Model,
        Webservice,
        WebserviceException,
    )
    from serving.sdk import Workspace as SdkWorkspace

    ws = SdkWorkspace.create(name="sdk", path=tmp_path / "proj")
    model = Model.register(ws, model_path=str(template_model), model_name="digits")
    env = Environment.from_conda_specification("digits-env", SKLEARN / "env.yml").register(ws)
    config = InferenceConfig(
        entry_script="score.py", source_directory=str(SKLEARN), environment=env
    )
    svc = Model.deploy(ws, "sdk-svc", [model], config, LocalDeployment(auth_enabled=True))
    svc.wait_for_deployment()
    assert svc.state == "Healthy" and svc.scoring_uri and svc.swagger_uri
    assert svc.run(SAMPLE.read_text()) == [0]
    with pytest.raises(WebserviceException) as info:
        svc.run(json.dumps({"wrong": 1}))
    assert info.value.status_code == 400
    primary, _secondary = svc.get_keys()
    svc.regen_key("Primary")
    assert svc.get_keys()[0] != primary
    assert svc.run(SAMPLE.read_text()) == [0]  # the client picks up the new key
    assert "init() completed" in svc.get_logs() or "loaded" in svc.get_logs()
    assert [s.name for s in Webservice.list(ws)] == ["sdk-svc"]
    svc.delete()
    assert Webservice.list(ws) == []

"""The local target end to end: real venvs, real gunicorn processes, real HTTP. Deploying,
scoring, keys, logs, update and delete, shared by every target, are in tests/e2e."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from serving.workspace import Workspace
from tests.helpers import FIXTURES, SAMPLE, SKLEARN, Cli, deploy_digits

pytestmark = pytest.mark.slow


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
    data = deploy_digits(cli, "local", model=template_model)
    assert data["keys"] == []  # no key unless --auth on the local target
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

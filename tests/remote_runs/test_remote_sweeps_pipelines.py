"""HyperDrive sweeps and pipelines submitted to a real workspace server (gunicorn) through
the SDK and the CLI: they execute on the server's machine and are followed through the run
routes (children, metrics, logs, status, cancel); a bad ``job.json`` is a 400 with a
sentence. The same public-surface tests run on a folder too
(tests/runs/test_sweeps_runs.py and test_pipelines.py, ``any_ws``)."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from serving.cli.main import main
from serving.errors import ConflictError
from serving.runs import records as rec
from serving.runs.errors import UserErrorException
from serving.sdk import Experiment, ScriptRunConfig
from serving.sdk.hyperdrive import (
    BanditPolicy,
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    choice,
)
from serving.sdk.hyperdrive_remote import RemoteHyperDriveRun
from serving.sdk.pipeline import Pipeline, PipelineData, PythonScriptStep
from serving.sdk.pipeline_remote import RemotePipelineRun, RemoteStepRun
from tests.hub.conftest import Server
from tests.hub.openapi_check import check

pytestmark = pytest.mark.timeout(180)

CURVE = """
import argparse, time
from azureml.core import Run
p = argparse.ArgumentParser()
p.add_argument("--curve", default="good")
p.add_argument("--steps", type=int, default=4)
p.add_argument("--pause", type=float, default=0.0)
a = p.parse_args()
run = Run.get_context()
values = {"good": [0.5, 0.7, 0.9, 0.95], "bad": [0.1] * 4}.get(a.curve, [0.3] * 1000)
for value in values[: a.steps]:
    run.log("acc", value)
    run.flush()
    time.sleep(a.pause)
print("curve", a.curve)
"""

STEP = """
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--name")
p.add_argument("--out")
p.add_argument("--inp")
a = p.parse_args()
value = int(open(os.path.join(a.inp, "v.txt")).read()) + 1 if a.inp else 1
if a.out:
    os.makedirs(a.out, exist_ok=True)
    open(os.path.join(a.out, "v.txt"), "w").write(str(value))
print(a.name, "wrote", value)
"""


def _source(folder: Path, text: str, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def _sweep_config(folder: Path, curves: list[str], *args: object) -> HyperDriveConfig:
    return HyperDriveConfig(
        run_config=ScriptRunConfig(str(folder), "train.py", arguments=list(args)),
        hyperparameter_sampling=GridParameterSampling({"--curve": choice(*curves)}),
        primary_metric_name="acc",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        policy=BanditPolicy(evaluation_interval=1, slack_factor=0.2),
        max_total_runs=len(curves),
    )


def _cli(server: Server, *args: object) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--workspace", server.base, *map(str, args)])
    return code, out.getvalue()


def test_a_sweep_runs_on_the_server_and_is_followed_through_the_sdk_and_cli(
    hub_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = server_ws_of(hub_server)
    config = _sweep_config(_source(tmp_path / "src", CURVE, "train.py"), ["good", "bad"])
    run = Experiment(ws, "remote-sweep").submit(config)
    assert isinstance(run, RemoteHyperDriveRun) and run.id.startswith("HD_")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run.wait_for_completion(show_output=True)
    assert run.get_status() == rec.COMPLETED
    assert "Completed, 2 of 2 child runs" in out.getvalue() and "BEST acc" in out.getvalue()
    best = run.get_best_run_by_primary_metric()
    assert best is not None and best.get_metrics()["acc"][-1] == 0.95
    assert json.loads(run.get_hyperparameters()[best.id]) == {"--curve": "good"}
    ranked = run.get_children_sorted_by_primary_metric()
    assert [r["best_primary_metric"] for r in ranked] == [0.95, 0.1]
    assert {c.id for c in run.get_children()} == set(run.get_metrics())
    assert isinstance(ws.get_run(run.id), RemoteHyperDriveRun)  # typed, as v1 rehydrates
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    code, shown = _cli(hub_server, "-o", "json", "runs", "show", run.id)
    assert code == 0 and json.loads(shown)["sweep"]["best_run"] == best.id
    chart = tmp_path / "sweep.png"
    code, _ = _cli(hub_server, "runs", "chart", run.id, "--output", chart)
    assert code == 0 and chart.read_bytes()[:4] == b"\x89PNG"


def server_ws_of(server: Server) -> Any:
    from serving.sdk.server_workspace import ServerWorkspace

    return ServerWorkspace(server.base, server.tokens["rw"])


def test_cancelling_a_sweep_on_the_server_cancels_its_children(
    hub_server: Server, tmp_path: Path
) -> None:
    ws = server_ws_of(hub_server)
    folder = _source(tmp_path / "src", CURVE, "train.py")
    config = _sweep_config(folder, ["slow1", "slow2"], "--steps", 1000, "--pause", 0.1)
    run = Experiment(ws, "remote-sweep").submit(config)
    deadline = time.monotonic() + 60
    while [c.get_status() for c in run.get_children()] != [rec.RUNNING] * 2:
        assert time.monotonic() < deadline, "the children never ran"
        time.sleep(0.2)
    run.cancel()
    assert run.get_status() == rec.CANCELED
    assert {c.get_status() for c in run.get_children()} == {rec.CANCELED}
    config.custom_run_id = run.id  # a custom run id the server has already
    with pytest.raises(ConflictError, match="exists already"):
        Experiment(ws, "remote-sweep").submit(config)


def test_a_pipeline_runs_on_the_server_and_its_steps_are_reused(
    hub_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = server_ws_of(hub_server)
    made = PipelineData("made")
    PythonScriptStep(  # the producer: resolve_closure adds it
        "step.py", name="make", arguments=["--name", "make", "--out", made], outputs=[made],
        source_directory=_source(tmp_path / "make", STEP, "step.py"),
    )  # fmt: skip
    second_step = PythonScriptStep(
        "step.py", name="use", arguments=["--name", "use", "--inp", made], inputs=[made],
        source_directory=_source(tmp_path / "use", STEP, "step.py"),
    )  # fmt: skip
    pipeline = Pipeline(ws, [second_step])
    first = Experiment(ws, "remote-pipe").submit(pipeline)
    assert isinstance(first, RemotePipelineRun)
    assert first.wait_for_completion() == rec.COMPLETED
    shown = capsys.readouterr().out
    assert "[use] use wrote 2" in shown and "PipelineRun Status: Completed" in shown
    steps = {s.display_name: s for s in first.get_steps()}
    assert set(steps) == {"make", "use"} and steps["use"].reused_run_id is None
    assert "use wrote 2" in steps["use"].get_stdout_log()
    again_typed = ws.get_run(first.id)
    assert isinstance(again_typed, RemotePipelineRun)
    assert all(isinstance(c, RemoteStepRun) for c in again_typed.get_children())

    again = pipeline.submit("remote-pipe")
    assert again.wait_for_completion(show_output=False) == rec.COMPLETED
    reused = {s.display_name: s.reused_run_id for s in again.get_steps()}
    assert reused == {"make": steps["make"].id, "use": steps["use"].id}
    assert {d["decision"] for d in again.get_step_decisions()} == {"reuse"}
    assert "use wrote 2" in again.find_step_run("use")[0].get_stdout_log()
    with pytest.raises(UserErrorException, match="not available against a workspace server"):
        pipeline.explain()  # needs the folder's records of earlier step runs
    with pytest.raises(UserErrorException, match="server's datastore"):
        steps["make"].get_output_data("made")


def test_the_cli_runs_sweeps_and_pipelines_against_a_server(
    hub_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    _source(tmp_path / "src", CURVE, "train.py")
    (tmp_path / "sweep.yml").write_text(
        "experiment: cli-sweep\nscript: train.py\nsource_directory: src\n"
        "arguments: [--steps, 2]\nsampling: grid\nparameters:\n  --curve: {choice: [good]}\n"
        "primary_metric: {name: acc, goal: maximize}\nmax_total_runs: 3\n"
    )
    code, out = _cli(hub_server, "sweeps", "submit", tmp_path / "sweep.yml")
    assert code == 0 and "Completed, 1 of 1 child runs" in out
    _source(tmp_path / "steps", STEP, "step.py")
    (tmp_path / "pipe.yml").write_text(
        "experiment: cli-pipe\ndefault_source_directory: steps\nsteps:\n"
        "  make:\n    script: step.py\n    arguments: [--name, make]\n"
    )
    code, out = _cli(hub_server, "-o", "json", "pipelines", "run", tmp_path / "pipe.yml")
    found = json.loads(out)
    assert code == 0 and found["status"] == rec.COMPLETED and len(found["steps"]) == 1
    code, out = _cli(hub_server, "pipelines", "show", found["id"])
    assert code == 0 and "make" in out and "Completed" in out
    code, _ = _cli(hub_server, "pipelines", "explain", tmp_path / "pipe.yml")
    assert code == 2 and "not available against a workspace server" in capsys.readouterr().err


def _tar(path: Path, job: Any, files: dict[str, str]) -> bytes:
    with tarfile.open(path, "w") as tar:
        for name, text in {"job.json": json.dumps(job), **files}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


SWEEP = {
    "sampling": "GRID",
    "space": {"--a": ["choice", [[1, 2]]]},
    "primary_metric_name": "acc",
    "primary_metric_goal": "MAXIMIZE",
    "max_total_runs": 2,
    "max_concurrent_runs": 2,
}
JOB = {"script": "train.py"}
STEP_WIRE = {"name": "a", "script": "train.py", "source_directory": "0"}


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"kind": "sweepish"}, "kind must be hyperdrive or pipeline"),
        ({"kind": "script", "script": "train.py"}, "none for a script run"),
        ({"kind": "hyperdrive", "job": JOB, "sweep": {**SWEEP, "budget": 1}}, "unknown fields"),
        ({"kind": "hyperdrive", "job": JOB, "sweep": {**SWEEP, "max_total_runs": 0}}, "from 1"),
        ({"kind": "hyperdrive", "job": JOB, "sweep": {**SWEEP, "sampling": "X"}}, "sampling"),
        ({"kind": "hyperdrive", "job": JOB, "sweep": SWEEP, "run_id": "../x"}, "not a run id"),
        ({"kind": "pipeline", "pipeline": {"steps": []}}, "a list of steps"),
        ({"kind": "pipeline", "pipeline": {"steps": [{**STEP_WIRE, "x": 1}]}}, "unknown fields"),
        ({"kind": "pipeline", "pipeline": {"steps": [{**STEP_WIRE, "script": "../0/x.py"}]}},
         "inside its source folder"),
        ({"kind": "pipeline", "pipeline": {"steps": [{**STEP_WIRE, "source_directory": "9"}]}},
         "unknown source folder"),
        ({"kind": "pipeline", "pipeline": {"steps": [STEP_WIRE]},
          "options": {"regenerate_outputs": 1}}, "true or false"),
    ],
)  # fmt: skip
def test_a_bad_sweep_or_pipeline_is_a_400_saying_what_is_wrong(
    hub_server: Server, tmp_path: Path, job: dict[str, Any], message: str
) -> None:
    files = {"source/train.py": "print(1)\n", "source/0/train.py": "print(1)\n"}
    body = _tar(tmp_path / "job.tar", job, files)
    response = hub_server.call(
        "POST", "/experiments/bad/runs", data=body,
        headers={"Content-Type": "application/x-tar"},
    )  # fmt: skip
    assert response.status_code == 400, response.text
    assert message in check(response, hub_server.base)["error"]["message"]

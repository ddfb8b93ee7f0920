"""Sweeps and pipelines on a Docker compute target: children and steps are containers,
queued within the target's nodes, reporting metrics and outputs through the workspace.
Each runs on a folder and on a server (``any_ws``; the compute target is made on the
served folder, as a server's administrator does): on a server the children and steps
report through its API with run tokens."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from serving.runs import records as rec
from serving.sdk import (
    AmlCompute,
    ComputeTarget,
    Experiment,
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    ScriptRunConfig,
)
from serving.sdk.hyperdrive import choice
from serving.sdk.pipeline import Pipeline, PipelineData, PythonScriptStep
from serving.sdk.workspace import Workspace
from tests.helpers import DOCKER_TIMEOUT

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]

TRIAL = """
import argparse
from azureml.core import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=int)
a = p.parse_args()
run = Run.get_context()
for step in range(3):
    run.log("score", a.x * (step + 1))
"""

STEP = """
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--in", dest="ins", action="append", default=[])
p.add_argument("--out")
a = p.parse_args()
total = sum(int(open(os.path.join(d, "value.txt")).read()) for d in a.ins)
os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, "value.txt"), "w").write(str(total + 1))
print("wrote", total + 1, "as uid", os.getuid())
"""


def _workspace(tmp_path: Path, kind: str, any_ws: Any) -> tuple[Any, str]:
    """The workspace under test and its compute target's name: made on the folder itself,
    or on the folder a server serves (tests/runs/conftest.py's ``any_ws``)."""
    folder = Workspace.get(path=tmp_path / ("proj" if kind == "folder" else "served"))
    config = AmlCompute.provisioning_configuration(max_nodes=1)
    ComputeTarget.create(folder, "cpu", config)
    return any_ws, "cpu"


@pytest.mark.usefixtures("base_image")
def test_a_sweep_on_docker_compute(
    tmp_path: Path, engine: DockerClient, kind: str, any_ws: Any
) -> None:
    ws, target = _workspace(tmp_path, kind, any_ws)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(TRIAL))
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src), "train.py", compute_target=target),
        hyperparameter_sampling=GridParameterSampling({"--x": choice(1, 2, 3)}),
        primary_metric_name="score",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=3,
        max_concurrent_runs=2,
    )
    run = Experiment(ws, "docker-sweep").submit(config)
    run.wait_for_completion(show_output=False)
    children = list(run.get_children())
    assert len(children) == 3
    assert {c.get_status() for c in children} == {rec.COMPLETED}
    assert {c.record.target for c in children} == {"cpu"}
    best = run.get_best_run_by_primary_metric()
    assert best is not None and best.get_metrics()["score"] == [3, 6, 9]
    assert not engine.containers.list(all=True, filters={"label": "serving.compute=cpu"})


@pytest.mark.usefixtures("base_image")
def test_a_pipeline_on_docker_compute(tmp_path: Path, kind: str, any_ws: Any) -> None:
    ws, target = _workspace(tmp_path, kind, any_ws)
    steps = tmp_path / "steps"
    for name in ("first", "second"):
        (steps / name).mkdir(parents=True)
        (steps / name / "step.py").write_text(textwrap.dedent(STEP))
    one, two = PipelineData("one"), PipelineData("two")
    first = PythonScriptStep(
        "step.py", name="first", arguments=["--out", one], outputs=[one],
        compute_target=target, source_directory=steps / "first",
    )  # fmt: skip
    second = PythonScriptStep(
        "step.py", name="second", arguments=["--in", one, "--out", two], inputs=[one],
        outputs=[two], compute_target=target, source_directory=steps / "second",
    )  # fmt: skip
    exp = Experiment(ws, "docker-pipeline")
    run = exp.submit(Pipeline(ws, [first, second]))
    assert run.wait_for_completion(show_output=False) == rec.COMPLETED
    done = {s.record.display_name: s for s in run.get_steps()}
    if kind == "folder":  # a server's datastores are the server's (not read from here)
        out = done["second"].get_output_data("two").local_path
        assert (out / "value.txt").read_text() == "2"
    assert "wrote 2" in done["second"].get_stdout_log()
    again = exp.submit(Pipeline(ws, [first, second]))
    assert again.wait_for_completion(show_output=False) == rec.COMPLETED
    assert all(s.reused_run_id for s in again.get_steps())

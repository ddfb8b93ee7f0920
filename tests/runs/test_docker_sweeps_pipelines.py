"""Sweeps and pipelines on a Docker compute target: children and steps are containers,
queued within the target's nodes, reporting metrics and outputs through the workspace."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

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
from serving.sdk.pipeline_run import PipelineRun
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


def _workspace(tmp_path: Path) -> tuple[Workspace, ComputeTarget]:
    ws = Workspace.create(path=tmp_path / "proj")
    config = AmlCompute.provisioning_configuration(max_nodes=1)
    return ws, ComputeTarget.create(ws, "cpu", config)


@pytest.mark.usefixtures("base_image")
def test_a_sweep_on_docker_compute(tmp_path: Path, engine: DockerClient) -> None:
    ws, target = _workspace(tmp_path)
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
def test_a_pipeline_on_docker_compute(tmp_path: Path) -> None:
    ws, target = _workspace(tmp_path)
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
    assert isinstance(run, PipelineRun)
    assert run.wait_for_completion(show_output=False) == rec.COMPLETED
    done = {s.record.display_name: s for s in run.get_steps()}
    assert (done["second"].get_output_data("two").local_path / "value.txt").read_text() == "2"
    assert "wrote 2" in done["second"].get_stdout_log()
    again = exp.submit(Pipeline(ws, [first, second]))
    assert again.wait_for_completion(show_output=False) == rec.COMPLETED
    assert all(s.reused_run_id for s in again.get_steps())  # type: ignore[attr-defined]

"""Pipelines: real step runs (user-managed interpreter) connected by PipelineData, v1's
step reuse (no process starts for a reused step), partial reruns after an edit, failures
stopping dependants, continue_on_step_failure, validate(), explain, parameters, data
reference identities, the YAML form and its CLI, the azureml.pipeline shims."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from serving.cli.main import cli as cli_group
from serving.cli.pipelines import pipelines as pipelines_command
from serving.runs import records as rec
from serving.runs.errors import ActivityFailedException, UserErrorException
from serving.runs.pipelines.graph import validate
from serving.runs.pipelines.spec import PipelineSpec, PortSpec, StepSpec
from serving.scoring.compat import COMPAT_DIR
from serving.sdk import Datastore, Experiment, Workspace
from serving.sdk.pipeline import Pipeline, PipelineData, PipelineParameter, PythonScriptStep
from serving.sdk.pipeline_run import PipelineRun, StepRun
from tests.helpers import ROOT, CliResult

pytestmark = pytest.mark.timeout(120)

STEP = """
import argparse, glob, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--name")
p.add_argument("--journal")
p.add_argument("--in", dest="ins", action="append", default=[])
p.add_argument("--out", dest="outs", action="append", default=[])
p.add_argument("--k", type=int, default=0)
p.add_argument("--fail", action="store_true")
p.add_argument("--after-a-failure")
a = p.parse_args()
with open(a.journal, "a") as fh:
    fh.write(a.name + "\\n")
if a.after_a_failure:  # wait until another step run's supervisor recorded Failed
    logs = os.path.join(a.after_a_failure, "*", "system_logs", "supervisor.txt")
    while not any(": Failed" in open(f).read() for f in glob.glob(logs)):
        time.sleep(0.05)
    time.sleep(0.8)
if a.fail:
    sys.exit(a.name + " fails on purpose")
total = a.k + sum(int(open(os.path.join(d, "value.txt")).read()) for d in a.ins)
for d in a.outs:
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "value.txt"), "w") as fh:
        fh.write(str(total + 1))
print(a.name, "wrote", total + 1)
"""


@pytest.fixture()
def sws(tmp_path: Path) -> Workspace:
    return Workspace.create(path=tmp_path / "proj")


@pytest.fixture()
def steps_dir(tmp_path: Path) -> Path:
    """One source folder per step (v1 hashes a step's whole source folder)."""
    for name in ("prepare", "train", "evaluate", "bad", "slow", "after", "child"):
        write(tmp_path / "steps" / name, "step.py", STEP)
    return tmp_path / "steps"


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def journal_of(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def step(
    steps: Path,
    name: str,
    journal: Path,
    *extra: object,
    inputs: list[Any] | None = None,
    outputs: list[PipelineData] | None = None,
) -> PythonScriptStep:
    """A step running the shared step script from its own folder ``steps/<name>``."""
    arguments = ["--name", name, "--journal", str(journal), *extra]
    return PythonScriptStep(
        "step.py",
        name=name,
        arguments=arguments,
        inputs=inputs,
        outputs=outputs,
        source_directory=steps / name,
    )


def three_steps(ws: Any, steps: Path, journal: Path, fail_train: bool = False) -> Pipeline:
    prepared, model, report = (
        PipelineData("prepared"),
        PipelineData("model"),
        PipelineData("report"),
    )
    k = PipelineParameter("k", 3)
    step(steps, "prepare", journal, "--out", prepared, outputs=[prepared])  # its producer
    train_args = ["--in", prepared, "--out", model, "--k", k] + (["--fail"] if fail_train else [])
    step(steps, "train", journal, *train_args, inputs=[prepared], outputs=[model])
    evaluate = step(
        steps, "evaluate", journal, "--in", prepared, "--in", model, "--out", report,
        inputs=[prepared, model], outputs=[report],
    )  # fmt: skip
    return Pipeline(ws, [evaluate])  # resolve_closure pulls in prepare and train


def by_name(run: Any) -> dict[str, Any]:
    return {s.record.display_name or "": s for s in run.get_steps()}


def value_of(step_run: StepRun, output: str) -> int:
    return int((step_run.get_output_data(output).local_path / "value.txt").read_text())


# -- the three-step pipeline ---------------------------------------------------------------
# Tests taking ``sws`` are folder only: they read step outputs on the folder's datastores,
# run folders and the journal beside them, or explain reuse (which needs the folder's
# records); a pipeline with reuse on a server is in tests/remote_runs.
def test_three_steps_run_then_reuse_everything_then_rerun_what_an_edit_touches(
    sws: Workspace, steps_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "journal.txt"
    pipeline = three_steps(sws, steps_dir, journal)
    assert pipeline.validate() == []
    assert [s.name for s in pipeline.steps] == ["prepare", "train", "evaluate"]
    exp = Experiment(sws, "pipe")

    first = exp.submit(pipeline)
    assert isinstance(first, PipelineRun) and first.type == "azureml.PipelineRun"
    assert first.wait_for_completion() == rec.COMPLETED  # shows output by default (v1)
    shown = capsys.readouterr().out
    assert "[train] train wrote 5" in shown and "PipelineRun Status: Completed" in shown
    assert journal_of(journal) == ["prepare", "train", "evaluate"]
    one = by_name(first)
    assert [s.type for s in one.values()] == ["azureml.StepRun"] * 3
    assert all(s.reused_run_id is None for s in one.values())
    assert value_of(one["evaluate"], "report") == 7  # 1 -> 3 + 1 + 1 -> 1 + 5 + 1
    assert "evaluate wrote 7" in one["evaluate"].get_stdout_log()
    assert "supervising run" in one["evaluate"].get_job_log()
    again = sws.get_run(first.id)  # looked up again: typed as v1 rehydrates runs
    assert isinstance(again, PipelineRun)
    assert all(isinstance(child, StepRun) for child in again.get_children())
    assert isinstance(next(exp.get_runs()), PipelineRun)

    second = exp.submit(pipeline)
    assert second.wait_for_completion(show_output=False) == rec.COMPLETED
    assert journal_of(journal) == ["prepare", "train", "evaluate"]  # no step process started
    two = by_name(second)
    for name, reused in two.items():
        assert reused.status == rec.COMPLETED and reused.reused_run_id == one[name].id
        assert reused.properties["azureml.reusedrunid"] == one[name].id
        assert reused.record.supervisor == {}  # no supervisor was ever started for it
        assert not (sws.runs.run_dir(reused.id) / "user_logs/std_log.txt").exists()
        assert not (sws.runs.run_dir(reused.id) / "system_logs").exists()
    assert two["evaluate"].get_output_data("report").local_path == (
        one["evaluate"].get_output_data("report").local_path
    )
    assert "evaluate wrote 7" in two["evaluate"].get_stdout_log()  # the reused run's log

    (steps_dir / "train" / "step.py").write_text(STEP + "# tuned\n")
    third = exp.submit(pipeline)
    assert third.wait_for_completion(show_output=False) == rec.COMPLETED
    assert journal_of(journal)[3:] == ["train", "evaluate"]  # prepare was reused
    three = by_name(third)
    assert three["prepare"].reused_run_id == one["prepare"].id
    assert three["train"].reused_run_id is None and three["evaluate"].reused_run_id is None
    reasons = {d["step"]: d["reason"] for d in third.get_step_decisions()}
    assert "source folder's content" in reasons["train"]
    assert reasons["evaluate"] == "input 'model' comes from step 'train', which runs"
    assert [s.reused_run_id for s in third.find_step_run("train")] == [None]


def test_explain_says_what_would_be_reused_and_which_part_of_the_key_changed(
    sws: Workspace, steps_dir: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    pipeline = three_steps(sws, steps_dir, journal)
    never = pipeline.explain()
    assert [d["decision"] for d in never] == ["run"] * 3
    assert "no earlier Completed run of a step named 'prepare'" in never[0]["reason"]
    pipeline.submit("pipe").wait_for_completion(show_output=False)

    same = pipeline.explain()
    assert [d["decision"] for d in same] == ["reuse"] * 3
    override = {d["step"]: d for d in pipeline.explain(pipeline_parameters={"k": 4})}
    assert override["prepare"]["decision"] == "reuse"
    assert override["train"]["decision"] == "run"
    assert "parameter 'k' ('3' -> '4')" in override["train"]["reason"]
    assert override["train"]["fingerprint"] != same[1]["fingerprint"]
    forced = pipeline.explain(regenerate_outputs=True)
    assert {d["decision"] for d in forced} == {"run"}
    assert "regenerate_outputs" in forced[0]["reason"]
    with pytest.raises(UserErrorException, match="unknown pipeline parameter 'kk'"):
        pipeline.explain(pipeline_parameters={"kk": 1})

    rerun = pipeline.submit("pipe", pipeline_parameters={"k": 4})
    rerun.wait_for_completion(show_output=False)
    assert value_of(by_name(rerun)["evaluate"], "report") == 8
    assert journal_of(journal)[3:] == ["train", "evaluate"]
    assert journal_of(journal)[:3] == ["prepare", "train", "evaluate"]
    regenerated = pipeline.submit("pipe", regenerate_outputs=True)
    regenerated.wait_for_completion(show_output=False)
    assert journal_of(journal)[5:] == ["prepare", "train", "evaluate"]


# -- failures ------------------------------------------------------------------------------
def test_a_failed_step_leaves_its_dependants_not_run_and_fails_the_pipeline(
    any_ws: Any, steps_dir: Path, tmp_path: Path
) -> None:
    """On a folder and on a server (any_ws): the public surface only."""
    journal = tmp_path / "journal.txt"
    run = three_steps(any_ws, steps_dir, journal, fail_train=True).submit("pipe")
    with pytest.raises(ActivityFailedException, match="step 'train'"):
        run.wait_for_completion(show_output=False)
    assert run.get_status() == rec.FAILED
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == rec.FAILED
    error = run.get_details()["error"]["error"]
    assert error["code"] == "StepFailed" and error["failed_steps"] == ["train"]
    steps = by_name(run)
    assert steps["prepare"].status == rec.COMPLETED and steps["train"].status == rec.FAILED
    assert steps["evaluate"].status == rec.CANCELED
    not_run = steps["evaluate"].get_details()["error"]["error"]
    assert not_run["code"] == "NotRun" and "'train'" in not_run["message"]
    assert journal_of(journal) == ["prepare", "train"]  # evaluate never started


@pytest.mark.parametrize("keep_going", [False, True])
def test_continue_on_step_failure(
    sws: Workspace, steps_dir: Path, tmp_path: Path, keep_going: bool
) -> None:
    """bad fails while slow runs; after (slow's dependant) starts only with
    continue_on_step_failure; child (bad's dependant) never does."""
    journal = tmp_path / "journal.txt"
    x, y, z = PipelineData("x"), PipelineData("y"), PipelineData("z")
    runs_dir = sws.runs.root / "runs"
    bad = step(steps_dir, "bad", journal, "--fail", "--out", x, outputs=[x])
    child = step(steps_dir, "child", journal, "--in", x, inputs=[x])
    slow = step(steps_dir, "slow", journal, "--after-a-failure", runs_dir, "--out", y, outputs=[y])
    after = step(steps_dir, "after", journal, "--in", y, "--out", z, inputs=[y], outputs=[z])
    run = Pipeline(sws, [bad, child, slow, after]).submit(
        "pipe", continue_on_step_failure=keep_going
    )
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == rec.FAILED
    assert run.get_details()["error"]["error"]["failed_steps"] == ["bad"]
    status = {name: s.status for name, s in by_name(run).items()}
    assert status["bad"] == rec.FAILED and status["slow"] == rec.COMPLETED
    assert status["child"] == rec.CANCELED
    assert status["after"] == (rec.COMPLETED if keep_going else rec.CANCELED)
    assert ("after" in journal_of(journal)) is keep_going and "child" not in journal_of(journal)
    if not keep_going:
        why = by_name(run)["after"].get_details()["error"]["error"]["message"]
        assert "continue_on_step_failure is off" in why


# -- validation ----------------------------------------------------------------------------
def test_validate_lists_unconnected_inputs_cycles_and_missing_parameters(
    sws: Workspace, steps_dir: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    orphan = PipelineData("orphan")
    lonely = step(steps_dir, "train", journal, "--in", orphan, inputs=[orphan])
    errors = Pipeline(sws, [lonely]).validate()
    assert any("input 'orphan' is not connected" in e for e in errors)
    with pytest.raises(UserErrorException, match="not connected"):
        Pipeline(sws, [lonely]).submit("pipe")
    with pytest.raises(UserErrorException, match="not connected"):
        Pipeline(sws, [lonely]).explain()

    a_out, b_out = PipelineData("a_out"), PipelineData("b_out")
    a = step(steps_dir, "prepare", journal, inputs=[b_out], outputs=[a_out])
    b = step(steps_dir, "train", journal, inputs=[a_out], outputs=[b_out])
    cycle = Pipeline(sws, [a, b]).validate()
    assert any("cycle" in e and "prepare" in e and "train" in e for e in cycle)

    folder = str(steps_dir / "prepare")
    spec = PipelineSpec(
        steps=[
            StepSpec("one", "step.py", folder, ["--k", "${{parameters.k}}"]),
            StepSpec("two", "missing.py", folder, ["$AZUREML_DATAREFERENCE_nowhere"]),
            StepSpec("one", "step.py", folder, outputs=[PortSpec("o")]),
        ]
    )
    found = validate(spec)
    assert "step 'one': pipeline parameter 'k' has no value" in found
    assert any("script missing.py not found" in e for e in found)
    assert any("names data 'nowhere'" in e for e in found)
    assert "two steps are named 'one': step names must be unique" in found
    assert validate(PipelineSpec(steps=[])) == ["the pipeline has no steps"]


# -- data references -----------------------------------------------------------------------
def test_data_reference_inputs_are_identified_by_path_unless_content_hashing(
    sws: Workspace, steps_dir: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    ds = Datastore.get_default(sws)
    write(tmp_path / "raw", "value.txt", "10")
    ds.upload(str(tmp_path / "raw"), target_path="raw", show_progress=False)
    raw = ds.path("raw", data_reference_name="raw")
    out = PipelineData("out")
    reader = step(steps_dir, "prepare", journal, "--in", raw, "--out", out, outputs=[out])
    run = Pipeline(sws, [reader]).submit("data")
    run.wait_for_completion(show_output=False)
    assert value_of(by_name(run)["prepare"], "out") == 11

    write(sws.path / "datastores/workspaceblobstore/raw", "value.txt", "20")
    pipeline = Pipeline(sws, [reader])
    assert pipeline.explain()[0]["decision"] == "reuse"  # v1: the path, not the bytes
    hashed = pipeline.explain(hash_input_data=True)[0]
    assert hashed["decision"] == "run" and "input 'raw'" in hashed["reason"]

    unnamed = ds.path("raw")  # a random name each time: never reused (v1)
    again = step(steps_dir, "prepare", journal, "--in", unnamed, "--out", out, outputs=[out])
    assert Pipeline(sws, [again]).explain()[0]["decision"] == "run"


# -- YAML and CLI --------------------------------------------------------------------------
PIPELINE_YML = """
description: two steps
experiment: yaml-pipe
default_source_directory: steps
parameters:
  k: 3
steps:
  prepare:
    source_directory: steps/prepare
    script: step.py
    arguments: [--name, prepare, --journal, {journal}, --out, "${{{{outputs.prepared}}}}"]
    outputs: [prepared]
  train:
    source_directory: steps/train
    script: step.py
    arguments: [--name, train, --journal, {journal}, --in, "${{{{inputs.prepared}}}}",
                --out, "${{{{outputs.model}}}}", --k, "${{{{parameters.k}}}}"]
    inputs: [prepared]
    outputs: [model]
"""


@pytest.fixture()
def pipelines_cli(cli: Callable[..., CliResult]) -> Callable[..., CliResult]:
    if "pipelines" not in cli_group.commands:  # until serving.cli.main registers it
        cli_group.add_command(pipelines_command)
    return cli


def test_yaml_pipeline_through_the_cli(
    pipelines_cli: Callable[..., CliResult], ws: object, steps_dir: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    yml = write(tmp_path, "pipeline.yml", PIPELINE_YML.format(journal=journal))
    done = pipelines_cli("pipelines", "run", yml, "--param", "k=2")
    assert done.code == 0, done.err
    assert "[train] train wrote 4" in done.out and "PipelineRun Status: Completed" in done.out

    same = pipelines_cli("-o", "json", "pipelines", "explain", yml, "--param", "k=2")
    assert [r["decision"] for r in json.loads(same.out)] == ["reuse", "reuse"]
    changed = pipelines_cli("pipelines", "explain", yml)
    assert changed.code == 0 and "parameter 'k' ('2' -> '3')" in changed.out.replace("\n", " ")
    assert "1 of 2 steps would be reused" in changed.err

    again = pipelines_cli("-o", "json", "pipelines", "run", yml, "--param", "k=2")
    shown = json.loads(again.out)
    assert shown["status"] == "Completed" and shown["experiment"] == "yaml-pipe"
    assert all(s["reused_from"] for s in shown["steps"])
    assert journal_of(journal) == ["prepare", "train"]
    table = pipelines_cli("pipelines", "show", shown["id"])
    assert table.code == 0 and "REUSED FROM" in table.out and "Completed" in table.out

    write(tmp_path, "bad.yml", "steps:\n  a: {script: step.py, typo: 1}\n")
    bad = pipelines_cli("pipelines", "run", tmp_path / "bad.yml")
    assert bad.code == 2 and "unknown key typo" in bad.err
    write(tmp_path, "orphan.yml", "steps:\n  a: {script: step.py, inputs: [nothing]}\n")
    orphan = pipelines_cli("pipelines", "explain", tmp_path / "orphan.yml")
    assert orphan.code == 2 and "input 'nothing' is not connected" in orphan.err


def test_azureml_pipeline_shims_resolve_to_the_sdk() -> None:
    code = (
        "from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter, "
        "PipelineRun, StepRun\n"
        "from azureml.pipeline.steps import PythonScriptStep\n"
        "import serving.sdk.pipeline as p, serving.sdk.pipeline_run as r\n"
        "assert (Pipeline, PythonScriptStep, PipelineRun) == (p.Pipeline, p.PythonScriptStep,"
        " r.PipelineRun)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(COMPAT_DIR), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_outputs_gone_means_rerun_and_cancel_ends_the_steps(
    sws: Workspace, steps_dir: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    out = PipelineData("out")
    only = step(steps_dir, "prepare", journal, "--out", out, outputs=[out])
    first = Pipeline(sws, [only]).submit("pipe")
    first.wait_for_completion(show_output=False)
    folder = by_name(first)["prepare"].get_output_data("out").local_path
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    gone = Pipeline(sws, [only]).explain()[0]
    assert gone["decision"] == "run" and "outputs are gone" in gone["reason"]

    write(steps_dir / "slow", "step.py", "import time\ntime.sleep(60)\n")
    later = PipelineData("later")
    slow = step(steps_dir, "slow", journal, "--out", out, outputs=[out])
    after = step(
        steps_dir, "after", journal, "--in", out, "--out", later, inputs=[out], outputs=[later]
    )
    run = Pipeline(sws, [slow, after]).submit("pipe")
    deadline = time.monotonic() + 30
    while not (run.find_step_run("slow") and run.find_step_run("slow")[0].status == rec.RUNNING):
        assert time.monotonic() < deadline, "the slow step never started"
        time.sleep(0.1)
    run.cancel()
    assert run.get_status() == rec.CANCELED
    steps = by_name(run)
    assert steps["slow"].status == rec.CANCELED and steps["after"].status == rec.CANCELED
    assert "after" not in journal_of(journal)


def test_the_digits_example_runs_then_is_reused_from_yaml(
    pipelines_cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """examples/pipeline_digits: the SDK script runs the three steps on the bundled digits;
    the YAML form of the same pipeline then reuses every step (the same keys)."""
    example = ROOT / "examples" / "pipeline_digits"
    project = tmp_path / "project"  # the example finds or creates project/.serving
    project.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(example / "pipeline.py")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "evaluate: Completed" in done.stdout and "'test_accuracy': 0.9" in done.stdout
    again = pipelines_cli("-w", project, "pipelines", "run", example / "pipeline.yml")
    assert again.code == 0, again.err
    assert again.out.count("(reused run ") == 3

"""The sweep examples end to end, each as a subprocess in a fresh project folder: the v1
notebook-style sweep (only its import lines differ from v1; user-managed, so nothing is
built) and the digits sweep (12 trials, Bandit, the best model registered, deployed and
scored; slow: it builds the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.registry import Ref
from serving.workspace import Workspace
from tests.runs.test_walkthroughs import EXAMPLES, run_example

SWEEP = EXAMPLES / "sweep_digits"


def test_the_notebook_only_changes_import_lines() -> None:
    lines = (SWEEP / "notebook_v1_style.py").read_text().splitlines()
    ours = [line for line in lines if "serving" in line and not line.startswith("#")]
    assert ours == [
        "from serving.sdk import Environment, Experiment, ScriptRunConfig, Workspace",
        "from serving.sdk.hyperdrive import (",
    ]


@pytest.mark.timeout(180)
def test_notebook_v1_style_sweep_runs(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    script = SWEEP / "notebook_v1_style.py"
    result, output = run_example(script, project, tmp_path / "envs", "--user-managed")
    assert result["children"] == 8
    assert result["accuracy"] > 0.8
    arguments = result["arguments"]
    assert arguments[:3] == ["--epochs", "10", "--alpha"] and arguments[4] == "--loss"
    assert "Status: Completed" in output and "BEST Accuracy" in output  # the live table
    ws = Workspace.open(project / ".serving")
    model = ws.models.get(Ref("sklearn-digits-sgd", None))
    assert model.properties["run_id"] == result["best_run"]
    assert model.properties["run_id"].startswith(result["sweep"] + "_")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_digits_sweep_example(tmp_path: Path, envs_cache: Path) -> None:
    project = tmp_path / "proj"
    result, output = run_example(SWEEP / "sweep.py", project, envs_cache, timeout=900)
    assert len(result["statuses"]) == 12
    assert result["predictions"] == result["labels"]
    assert result["accuracy"] > 0.9
    assert result["model"] == "sweep-digits:1"
    assert f"{result['sweep']}: Completed, 12 of 12 child runs" in output
    ws = Workspace.open(project / ".serving")
    assert not ws.endpoints.list(), "the example leaves no service behind"
    assert ws.models.get(Ref("sweep-digits", None)).properties["run_id"] == result["best_run"]

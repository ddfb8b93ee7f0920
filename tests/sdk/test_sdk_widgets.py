"""``RunDetails(run).show()``: the run widget as a terminal view."""

from __future__ import annotations

import pytest

from serving.sdk import Experiment, RunDetails, Workspace


def test_run_details_shows_a_run(v1ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    run = Experiment(v1ws, "widget").start_logging()
    run.log("accuracy", 0.5)
    run.log("accuracy", 0.9)
    run.complete()
    RunDetails(run).show()
    out = capsys.readouterr().out
    assert "Completed" in out and "accuracy" in out and "0.9 (2 values)" in out

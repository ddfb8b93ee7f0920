"""Real sweeps on local compute: a detached driver, real child runs with their supervisors,
in this interpreter (user-managed: nothing is built). The training script logs a chosen
curve for its ``--curve`` value, so which children a policy stops is known in advance."""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from serving.cli.main import main
from serving.proc import ProcessRef, is_running
from serving.runs import records as rec
from serving.runs.errors import ActivityFailedException, UserErrorException
from serving.runs.store import RunStore
from serving.sdk import Experiment, ScriptRunConfig
from serving.sdk import Workspace as SdkWorkspace
from serving.sdk.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveRun,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    uniform,
)
from serving.sdk.hyperdrive_remote import RemoteHyperDriveRun

pytestmark = pytest.mark.timeout(120)

CURVES = """
import argparse
import time
from azureml.core import Run

CURVES = {
    "good": [0.5, 0.6, 0.7, 0.8, 0.9, 0.92, 0.94, 0.95],
    "ok": [0.45, 0.54, 0.63, 0.72, 0.81, 0.83, 0.85, 0.86],
    "plateau": [0.5] * 8,
    "bad": [0.1] * 8,
}
parser = argparse.ArgumentParser()
parser.add_argument("--curve", default="good")
parser.add_argument("--steps", type=int, default=8)
parser.add_argument("--pause", type=float, default=0.0)
parser.add_argument("--x", type=float, default=0.0)
parser.add_argument("--tag", default="")
args = parser.parse_args()
if args.curve == "fail":
    raise SystemExit("this child fails")
run = Run.get_context()
for value in (CURVES.get(args.curve) or [0.3] * 1000)[: args.steps]:
    run.log("acc", value)
    run.flush()
    time.sleep(args.pause)
"""


@dataclass
class Sweep:
    ws: Any
    run: HyperDriveRun
    output: str

    @property
    def store(self) -> RunStore:
        return RunStore(self.ws.path, self.ws.db)

    def child(self, curve: str) -> rec.RunRecord:
        for record in self.store.list(parent_id=self.run.id):
            if f"--curve {curve}" in " ".join(record.definition["arguments"]):
                return record
        raise AssertionError(f"no child ran the curve {curve}")


def make_source(root: Path) -> Path:
    folder = root / "src"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(textwrap.dedent(CURVES), encoding="utf-8")
    return folder


def sweep(
    root: Path,
    space: dict[str, list[object]],
    *,
    arguments: list[object] | None = None,
    sampling: type = GridParameterSampling,
    metric: str = "acc",
    wait: bool = True,
    ws: Any = None,
    **kwargs: object,
) -> Sweep:
    """A sweep in ``ws`` (any_ws: a folder or a server), else in a new folder ``root/ws``."""
    if ws is None:
        ws = SdkWorkspace.open(root / "ws", create=True)
        assert isinstance(ws, SdkWorkspace)
    src = ScriptRunConfig(str(make_source(root)), "train.py", arguments=arguments or [])
    seed = kwargs.pop("seed", 0)
    config = HyperDriveConfig(
        run_config=src,
        hyperparameter_sampling=sampling(space, seed=seed),
        primary_metric_name=metric,
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        **kwargs,  # type: ignore[arg-type]
    )
    run = Experiment(ws, "sweeps").submit(config)
    assert isinstance(run, HyperDriveRun | RemoteHyperDriveRun)
    out = io.StringIO()
    if wait:
        with contextlib.redirect_stdout(out):
            run.wait_for_completion(show_output=True, raise_on_error=False)
    return Sweep(ws, run, out.getvalue())


# The Bandit sweep's tests are folder only: they read the driver's log and the parent's
# metrics file (the same SDK and CLI surface runs on a server in
# tests/remote_runs/test_remote_sweeps_pipelines.py).
@pytest.fixture(scope="module")
def bandit(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """Four children at once, Bandit with slack 0.2: bad (0.1 < any best / 1.2) and plateau
    (0.5 < 0.7 / 1.2 from the third interval on) are stopped; good and ok (0.9 x good) are
    not."""
    return sweep(
        tmp_path_factory.mktemp("bandit"),
        {"--curve": choice("good", "ok", "plateau", "bad")},
        arguments=["--pause", 0.25],
        policy=BanditPolicy(evaluation_interval=1, slack_factor=0.2),
        max_total_runs=4,
        max_concurrent_runs=4,
    )


def test_bandit_stops_exactly_the_children_outside_the_slack(bandit: Sweep) -> None:
    assert bandit.run.get_status() == rec.COMPLETED
    for curve in ("bad", "plateau"):
        child = bandit.child(curve)
        assert child.status == rec.CANCELED, curve
        assert child.error is not None and child.error["policy"] == "BanditPolicy"
        assert "early termination policy BanditPolicy" in child.error["message"]
        assert child.tags["hyperdrive_stopped_by"] == "BanditPolicy"
    for curve in ("good", "ok"):
        assert bandit.child(curve).status == rec.COMPLETED, curve
    log = (bandit.store.run_dir(bandit.run.id) / "azureml-logs/hyperdrive.txt").read_text()
    assert log.count("canceled by the early termination policy BanditPolicy") == 2


def test_best_run_is_the_best_logged_value_and_the_parent_records_it(bandit: Sweep) -> None:
    best = bandit.run.get_best_run_by_primary_metric()
    assert best is not None and best.id == bandit.child("good").id
    again = bandit.ws.get_run(bandit.run.id)  # looked up again: a HyperDriveRun, as in v1
    assert isinstance(again, HyperDriveRun)
    assert again.get_best_run_by_primary_metric().id == best.id  # type: ignore[union-attr]
    table = bandit.run.get_details()  # the parent's own metric table (v1's columns)
    assert table["status"] == rec.COMPLETED
    parent_metrics = Experiment(bandit.ws, "sweeps")._store.metrics_file(bandit.run.id)
    from serving.runs.metrics import read_metrics

    rows = read_metrics(parent_metrics)["best_child_by_primary_metric"]
    assert rows["run_id"][-1] == best.id and rows["metric_value"][-1] == 0.95
    assert rows["final"][-1] is True
    ranked = bandit.run.get_children_sorted_by_primary_metric()
    assert [r["best_primary_metric"] for r in ranked] == [0.95, 0.86, 0.5, 0.1]
    assert json.loads(ranked[0]["hyperparameters"]) == {"--curve": "good"}
    assert (
        bandit.run.get_children_sorted_by_primary_metric(top=1, reverse=True)[0][
            "best_primary_metric"
        ]
        == 0.1
    )
    excluded = bandit.run.get_best_run_by_primary_metric(include_canceled=False)
    assert excluded is not None and excluded.id == best.id


def test_parameters_metrics_and_arguments_of_the_children(bandit: Sweep) -> None:
    params = bandit.run.get_hyperparameters()
    assert sorted(json.loads(v)["--curve"] for v in params.values()) == [
        "bad", "good", "ok", "plateau",
    ]  # fmt: skip
    assert set(params) == {f"{bandit.run.id}_{i}" for i in range(4)}
    assert bandit.run.get_tags()[f"{bandit.run.id}_0"] == params[f"{bandit.run.id}_0"]
    good = bandit.child("good")
    assert good.definition["arguments"] == ["--pause", "0.25", "--curve", "good"]
    metrics = bandit.run.get_metrics()
    assert metrics[good.id]["acc"][-1] == 0.95


def test_the_live_table_shows_status_parameters_and_best(bandit: Sweep) -> None:
    last = bandit.output.split("Execution Summary")[0].strip().split(bandit.run.id + ": ")[-1]
    assert last.startswith("Completed, 4 of 4 child runs")
    assert "--curve" in last and "BEST acc" in last and "BanditPolicy" in last
    assert "Running" in bandit.output  # it was printed while children ran


def test_cli_shows_the_children_table_and_draws_the_sweep(bandit: Sweep, tmp_path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            ["--workspace", str(bandit.ws.path), "-o", "json", "runs", "show", bandit.run.id]
        )
    assert code == 0
    shown = json.loads(out.getvalue())["sweep"]
    assert shown["best_run"] == bandit.child("good").id and shown["policy"] == "BanditPolicy"
    stopped = {row["parameters"]["--curve"]: row["stopped_by"] for row in shown["children"]}
    assert stopped == {"good": None, "ok": None, "plateau": "BanditPolicy", "bad": "BanditPolicy"}
    chart = tmp_path / "sweep.png"
    code = main(
        ["--workspace", str(bandit.ws.path), "runs", "chart", bandit.run.id, "--output", str(chart)]
    )
    assert code == 0 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_sweep_chart_as_html_needs_no_network(bandit: Sweep, tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    page = tmp_path / "sweep.html"
    code = main(
        ["--workspace", str(bandit.ws.path), "runs", "chart", bandit.run.id, "--output", str(page)]
    )
    text = page.read_text()
    assert code == 0
    assert '"type":"parcoords"' in text.replace(" ", "") and '<script src="http' not in text


# The tests below take any_ws: the same public surface on a folder and on a server.
def test_grid_runs_every_combination_and_a_failed_child_does_not_stop_it(
    tmp_path: Path, any_ws: Any
) -> None:
    done = sweep(
        tmp_path,
        {"--curve": choice("good", "fail"), "--tag": choice("a", "b")},
        arguments=["--steps", 2, "--curve", "base"],
        max_total_runs=10,
        max_concurrent_runs=2,
        ws=any_ws,
    )
    children = list(done.run.get_children())
    arguments = [c.get_details()["runDefinition"]["arguments"] for c in children]
    combos = sorted(tuple(a[4:]) for a in arguments)
    assert combos == [
        ("--curve", "fail", "--tag", "a"), ("--curve", "fail", "--tag", "b"),
        ("--curve", "good", "--tag", "a"), ("--curve", "good", "--tag", "b"),
    ]  # fmt: skip
    assert all(a[:4] == ["--steps", "2", "--curve", "base"] for a in arguments)
    assert sorted(c.get_status() for c in children) == [rec.COMPLETED] * 2 + [rec.FAILED] * 2
    assert done.run.get_status() == rec.COMPLETED


def test_a_sweep_whose_every_child_failed_is_failed(tmp_path: Path, any_ws: Any) -> None:
    done = sweep(tmp_path, {"--curve": choice("fail")}, max_total_runs=2, ws=any_ws)
    assert done.run.get_status() == rec.FAILED
    children = {c.id for c in done.run.get_children()}
    top = {r.id for r in done.run.experiment.get_runs()}
    everything = {r.id for r in done.run.experiment.get_runs(include_children=True)}
    assert children and done.run.id in top and not children & top
    assert children | {done.run.id} <= everything  # v1's include_children, on a server too
    with pytest.raises(ActivityFailedException, match="all 1 child runs failed"):
        done.run.wait_for_completion()


def test_a_seeded_random_sweep_repeats_its_parameters(tmp_path: Path, any_ws: Any) -> None:
    space = {"--x": uniform(0, 1), "--curve": choice("good", "ok", "bad")}
    runs = [
        sweep(tmp_path / str(i), space, sampling=RandomParameterSampling, seed=11,
              arguments=["--steps", 1], max_total_runs=3, max_concurrent_runs=3, ws=any_ws)
        for i in range(2)
    ]  # fmt: skip
    drawn = [[json.loads(v) for _k, v in sorted(s.run.get_hyperparameters().items())] for s in runs]
    assert drawn[0] == drawn[1] and len({d["--x"] for d in drawn[0]}) == 3


def test_best_run_is_none_when_no_child_logged_the_metric(tmp_path: Path, any_ws: Any) -> None:
    done = sweep(
        tmp_path, {"--curve": choice("good")}, arguments=["--steps", 1], metric="Acc",
        max_total_runs=1, ws=any_ws,
    )  # fmt: skip
    assert done.run.get_status() == rec.COMPLETED
    assert done.run.get_best_run_by_primary_metric() is None  # names are case-sensitive
    assert done.run.get_children_sorted_by_primary_metric()[0]["best_primary_metric"] is None
    assert done.run.get_children_sorted_by_primary_metric(discard_no_metric=True) == []


# Folder only from here: these read the folder's records, logs and processes (the server's
# cancel is tested in tests/remote_runs/test_remote_sweeps_pipelines.py).
def test_cancelling_the_parent_cancels_every_child(tmp_path: Path) -> None:
    started = sweep(
        tmp_path, {"--curve": choice("slow1", "slow2", "slow3", "slow4")},
        arguments=["--steps", 1000, "--pause", 0.1], max_total_runs=4, max_concurrent_runs=2,
        wait=False,
    )  # fmt: skip
    store = started.store
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = store.list(parent_id=started.run.id)
        if len(children) == 2 and all(c.status == rec.RUNNING for c in children):
            break
        time.sleep(0.1)
    started.run.cancel()
    assert started.run.get_status() == rec.CANCELED
    children = store.list(parent_id=started.run.id)
    assert len(children) == 2 and {c.status for c in children} == {rec.CANCELED}
    refs = [
        ProcessRef.from_dict(record.supervisor.get("process") or {})
        for record in [*children, store.get(started.run.id)]
    ]
    assert all(ref is not None for ref in refs)
    deadline = time.monotonic() + 10  # the supervisors exit just after they record the end
    while any(is_running(ref) for ref in refs if ref is not None):
        assert time.monotonic() < deadline, "a supervisor outlived its canceled run"
        time.sleep(0.1)
    assert len(store.list(parent_id=started.run.id)) == 2  # nothing started after the cancel


def test_resume_from_feeds_earlier_trials_and_reruns_chosen_children(tmp_path: Path) -> None:
    space = {"--x": uniform(0, 1), "--curve": choice("good", "ok")}
    first = sweep(
        tmp_path / "a", space, sampling=RandomParameterSampling, arguments=["--steps", 1],
        max_total_runs=2,
    )  # fmt: skip
    again = f"{first.run.id}_1"
    ws, src = first.ws, ScriptRunConfig(str(make_source(tmp_path / "b")), "train.py")
    with pytest.warns(UserWarning, match="at least 40 runs"):  # v1's advice for Bayesian
        config = HyperDriveConfig(
            run_config=src,
            hyperparameter_sampling=BayesianParameterSampling(space, seed=3),
            primary_metric_name="acc",
            primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=1,
            resume_from=first.run,
            resume_child_runs=[again],
        )
    second = Experiment(ws, "sweeps").submit(config)
    second.wait_for_completion()
    log = (first.store.run_dir(second.id) / "azureml-logs/hyperdrive.txt").read_text()
    assert f"warm start: 2 trials from {first.run.id}" in log
    rerun = json.loads(second.get_hyperparameters()[f"{second.id}_0"])
    assert rerun == json.loads(first.run.get_hyperparameters()[again])
    best = second.get_best_run_by_primary_metric(include_resume_from_runs=True)
    assert best is not None and best.id.startswith((first.run.id, second.id))


def test_max_duration_cancels_the_children_still_running(tmp_path: Path) -> None:
    done = sweep(
        tmp_path, {"--curve": choice("slow1", "slow2")},
        arguments=["--steps", 1000, "--pause", 0.1], max_total_runs=2, max_duration_minutes=0.05,
    )  # fmt: skip
    assert done.run.get_status() == rec.COMPLETED
    children = done.store.list(parent_id=done.run.id)
    assert {c.status for c in children} == {rec.CANCELED}
    assert all("max_duration_minutes" in (c.error or {}).get("message", "") for c in children)
    assert "2 child runs were canceled" in done.store.get(done.run.id).warnings[0]


def test_cli_submits_a_sweep_written_in_yaml(tmp_path: Path) -> None:
    from serving.cli.sweeps import sweeps as sweeps_group

    make_source(tmp_path)
    (tmp_path / "sweep.yml").write_text(
        textwrap.dedent(
            """
            experiment: yaml-sweep
            script: train.py
            source_directory: src
            arguments: [--steps, 2]
            sampling: grid
            parameters:
              --curve: {choice: [good, bad]}
            policy: {bandit: {slack_amount: 0.1}}
            primary_metric: {name: acc, goal: maximize}
            max_total_runs: 5
            """
        )
    )
    ws = SdkWorkspace.open(tmp_path / "ws", create=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        sweeps_group.main(
            ["submit", str(tmp_path / "sweep.yml"), "--workspace", str(ws.path)],
            standalone_mode=False,
        )
    parent = RunStore(ws.path, ws.db).list(experiment="yaml-sweep", top_level=True)[0]
    assert parent.status == rec.COMPLETED and parent.definition["total_runs"] == 2
    assert f"{parent.id}: Completed, 2 of 2 child runs" in out.getvalue()
    (tmp_path / "bad.yml").write_text("script: train.py\nsampler: random\n")
    with pytest.raises(UserErrorException, match="unknown keys sampler"):
        sweeps_group.main(["submit", str(tmp_path / "bad.yml")], standalone_mode=False)

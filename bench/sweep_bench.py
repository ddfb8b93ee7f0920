"""HyperDrive sweep figures on local compute.

    python bench/sweep_bench.py [--children 12] [--trial-s 1.5] [--only overhead|concurrency]

* scheduling overhead per child: a sweep of ``--children`` trivial children (the script
  logs one value), one at a time, in a cached environment (``Environment`` with nothing
  beyond the serving runtime: its venv is built once, untimed) and in the user-managed
  interpreter. The overhead is the driver's gap (a child's end → the next child's record)
  plus the child's supervisor start (record → Running), medians; the script's own run
  (Running → end, Python's start included) and the wall time per child are shown beside.
* concurrency: 12 trials of a fixed single-threaded CPU-bound loop (about ``--trial-s``
  seconds each), ``max_concurrent_runs=2`` against 1; the ratio of their wall times.

Nothing is asserted; the targets are at most 0.5 s per child and at most 0.6 x.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.runs.records import RunRecord  # noqa: E402
from serving.sdk import Environment, Experiment, ScriptRunConfig, Workspace  # noqa: E402
from serving.sdk.hyperdrive import (  # noqa: E402
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveRun,
    choice,
)

TRIVIAL = textwrap.dedent(
    """
    from azureml.core import Run
    Run.get_context().log("acc", 1.0)
    """
)
CPU = textwrap.dedent(
    """
    import argparse
    from azureml.core import Run
    parser = argparse.ArgumentParser()
    parser.add_argument("--loops", type=int)
    parser.add_argument("--trial", type=int)
    args = parser.parse_args()


    def work(loops):
        total = 0
        for i in range(loops):
            total += i * i
        return total


    work(args.loops)
    Run.get_context().log("acc", float(args.trial))
    """
)


def _stamp(text: str | None) -> float:
    return datetime.fromisoformat(text).timestamp() if text else float("nan")


def run_sweep(
    ws: Workspace, src: Path, script: str, trials: int, at_once: int, **kw: Any
) -> HyperDriveRun:
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src), script, **kw),
        hyperparameter_sampling=GridParameterSampling({"--trial": choice(list(range(trials)))}),
        primary_metric_name="acc",
        primary_metric_goal="MAXIMIZE",
        max_total_runs=trials,
        max_concurrent_runs=at_once,
    )
    run: HyperDriveRun = Experiment(ws, "sweep-bench").submit(config)
    run.wait_for_completion()
    return run


def _children(run: HyperDriveRun) -> list[RunRecord]:
    found = run._store.list(parent_id=run.id)
    return sorted(found, key=lambda r: r.created_at)


def overhead(ws: Workspace, src: Path, children: int, label: str, **kw: Any) -> None:
    run_sweep(ws, src, "trivial.py", 2, 1, **kw)  # warms the environment, untimed
    run = run_sweep(ws, src, "trivial.py", children, 1, **kw)
    parent = run._store.get(run.id)
    records = _children(run)
    wall = _stamp(parent.ended_at) - _stamp(parent.started_at)
    gaps = [_stamp(b.created_at) - _stamp(a.ended_at) for a, b in itertools.pairwise(records)]
    starts = [_stamp(r.started_at) - _stamp(r.created_at) for r in records]
    scripts = [_stamp(r.ended_at) - _stamp(r.started_at) for r in records]
    gap, start, script = (statistics.median(x) for x in (gaps, starts, scripts))
    print(
        f"scheduling overhead per child, {label}: {gap + start:.3f} s (target <= 0.5 s): "
        f"driver gap {gap:.3f} s + supervisor start {start:.3f} s (medians); with the trivial "
        f"script's own run ({script:.3f} s, Python's start included) a sweep of {children} "
        f"took {wall:.2f} s, {wall / children:.3f} s per child"
    )


def calibrate(trial_s: float) -> int:
    loops = 1_000_000
    started = time.perf_counter()
    total = 0
    for i in range(loops):
        total += i * i
    took = time.perf_counter() - started
    return int(loops * trial_s / took)


def concurrency(ws: Workspace, src: Path, trial_s: float) -> None:
    loops = calibrate(trial_s)
    walls = {}
    for at_once in (1, 2):
        started = time.perf_counter()
        run_sweep(ws, src, "cpu.py", 12, at_once, arguments=["--loops", loops])
        walls[at_once] = time.perf_counter() - started
        label = f"12 CPU-bound trials (~{trial_s:g} s each), {at_once} at a time"
        print(f"{label}: {walls[at_once]:.2f} s")
    print(f"2 at a time / 1 at a time: {walls[2] / walls[1]:.2f} x (target <= 0.6 x)")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"({os.cpu_count()} CPUs; load average {load}: other work on them slows the pair)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=12)
    parser.add_argument("--trial-s", type=float, default=1.5)
    parser.add_argument("--workspace", type=Path, help="default: a temporary folder")
    parser.add_argument("--only", choices=("overhead", "concurrency"), help="one part only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workspace or Path(tmp)
        ws = Workspace.create(path=root / "proj", show_output=False)
        src = root / "src"
        src.mkdir(parents=True, exist_ok=True)
        (src / "trivial.py").write_text(TRIVIAL)
        (src / "cpu.py").write_text(CPU)
        if args.only != "concurrency":
            env = Environment("sweep-bench-env")
            overhead(ws, src, args.children, "local, cached venv", environment=env)
            overhead(ws, src, args.children, "local, user-managed interpreter")
        if args.only != "overhead":
            concurrency(ws, src, args.trial_s)


if __name__ == "__main__":
    main()

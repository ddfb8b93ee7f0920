"""Training-run figures: submit → first line of the script, run.log throughput, and
metrics of concurrent runs arriving complete.

    python bench/runs_bench.py [--rounds 5] [--docker] [--workspace DIR]

* submit → first line: the time from ``experiment.submit(...)`` to the timestamp the
  script prints on its first line, on local compute with a cached environment (the venv
  is built once, untimed, before the rounds), with the user-managed interpreter, and with
  ``--docker`` on a Docker compute whose environment image exists (built once, untimed).
* ``run.log`` throughput: calls per second of a tight loop in this process (an
  interactive run), and how long the final flush takes.
* 4 concurrent submitted runs each logging 10 000 values: every value counted back.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from serving.sdk import Environment, Experiment, ScriptRunConfig, Workspace
from serving.sdk.run import Run

FIRST_LINE = "import time; print('FIRST', time.time(), flush=True)\n"
CONCURRENT = textwrap.dedent(
    """
    from azureml.core import Run
    run = Run.get_context()
    for i in range(10_000):
        run.log("value", i)
    """
)


def _first_line_delay(run: Run, started: float) -> float:
    run.wait_for_completion()
    log = (run.experiment.workspace.path / "runs" / run.id / "user_logs/std_log.txt").read_text()
    stamp = next(line for line in log.splitlines() if line.startswith("FIRST"))
    return float(stamp.split()[1]) - started


def submit_latency(ws: Workspace, src: Path, rounds: int, label: str, **kwargs: object) -> None:
    exp = Experiment(ws, "bench")
    config = ScriptRunConfig(str(src), "first.py", **kwargs)  # type: ignore[arg-type]
    exp.submit(config).wait_for_completion()  # builds/warms the environment, untimed
    delays = []
    for _ in range(rounds):
        started = time.time()
        run = exp.submit(config)
        delays.append(_first_line_delay(run, started))
    print(
        f"submit -> first line, {label}: median {statistics.median(delays):.3f} s, "
        f"max {max(delays):.3f} s over {rounds} runs"
    )


def log_throughput(ws: Workspace, calls: int = 300_000) -> None:
    run = Experiment(ws, "bench").start_logging()
    started = time.perf_counter()
    for i in range(calls):
        run.log("loss", i * 0.5)
    elapsed = time.perf_counter() - started
    flush_started = time.perf_counter()
    run.flush()
    flushed = time.perf_counter() - flush_started
    run.complete()
    count = len(run.get_metrics()["loss"])
    print(
        f"run.log: {calls / elapsed:,.0f} calls/s ({calls} calls in {elapsed:.2f} s), "
        f"final flush {flushed:.2f} s, {count} values stored"
    )


def concurrent_runs(ws: Workspace, src: Path) -> None:
    exp = Experiment(ws, "bench")
    started = time.perf_counter()
    runs = [exp.submit(ScriptRunConfig(str(src), "concurrent.py")) for _ in range(4)]
    counts = []
    for run in runs:
        run.wait_for_completion()
        counts.append(len(run.get_metrics()["value"]))
    elapsed = time.perf_counter() - started
    complete = all(c == 10_000 for c in counts)
    print(
        f"4 concurrent runs x 10 000 values: counts {counts} complete={complete} in {elapsed:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--docker", action="store_true", help="also time a Docker compute")
    parser.add_argument("--workspace", type=Path, default=None)
    args = parser.parse_args()
    root = args.workspace or Path(tempfile.mkdtemp(prefix="runs-bench-"))
    ws = Workspace.create(path=root)
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "first.py").write_text(FIRST_LINE)
    (src / "concurrent.py").write_text(CONCURRENT)
    print(f"workspace {ws.path}")
    env = Environment("bench-env")
    submit_latency(ws, src, args.rounds, "local, cached venv", environment=env)
    submit_latency(ws, src, args.rounds, "local, user-managed interpreter")
    if args.docker:
        from serving.sdk import AmlCompute, ComputeTarget

        target = ComputeTarget.create(
            ws, "bench-docker", AmlCompute.provisioning_configuration(max_nodes=1)
        )
        submit_latency(
            ws, src, args.rounds, "docker, built image", compute_target=target, environment=env
        )
    log_throughput(ws)
    concurrent_runs(ws, src)
    return 0


if __name__ == "__main__":
    sys.exit(main())

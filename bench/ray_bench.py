"""Ray compute benchmark: submit -> first line of the user script on a warm Ray cluster,
and a sweep's trials in parallel against the same sweep run serially.

    python bench/ray_bench.py [--repeat 5] [--nodes 2] [--node-cpu 0.5] [--head-cpus 0]
                              [--run-cpu 0.5] [--sweep 12] [--trial-s 2]

Starts a workspace server (gunicorn, 2 workers, 127.0.0.1) and a Ray cluster with
``serving compute up`` (head + ``--nodes`` workers, ``--node-cpu`` cores each), submits
one warm-up run and then ``--repeat`` runs through the server with the SDK
(``Experiment.submit``), each a script whose first line prints ``time.time()``. Reported
per run: submit -> the script's first line (its own clock; same machine), and submit ->
that line in the run's log on the server. The cluster is taken down at the end, whatever
happens.

``--sweep N`` (0: skipped): a sweep of N single-threaded trials (each busy ``--trial-s``
seconds of CPU) with ``max_concurrent_runs=N``, then the same sweep with
``max_concurrent_runs=1``; wall times from submit to the sweep's end and their ratio.
Give ``--node-cpu 1 --head-cpus 1`` for the issue's set-up (head + 2 workers, 1 CPU each,
every node taking trials).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving.hub.remote.runs import RemoteRunStore  # noqa: E402
from serving.hub.remote.transport import HubClient  # noqa: E402
from serving.images.engine import docker_client  # noqa: E402
from serving.runs.ray import cluster  # noqa: E402
from serving.sdk import Experiment, ScriptRunConfig, Workspace  # noqa: E402
from serving.workspace import Workspace as Folder  # noqa: E402
from tests.helpers import run_cli  # noqa: E402
from tests.remote_fixtures import start_hub, stop_hub  # noqa: E402

SCRIPT = "import time\nprint('first', repr(time.time()), flush=True)\n"
TRIAL = """
import argparse, time
from azureml.core import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=int)
p.add_argument("--seconds", type=float)
a = p.parse_args()
end = time.process_time() + a.seconds
while time.process_time() < end:
    pass
Run.get_context().log("score", a.x)
"""
WAIT_S = 120.0
STAMP = "%Y-%m-%dT%H:%M:%S.%f%z"  # the system log's (UTC) timestamps, zone added


def one_run(
    sws: Workspace, runs: RemoteRunStore, source: Path, compute: str
) -> tuple[float, float]:
    started = time.time()
    config = ScriptRunConfig(str(source), "first.py", compute_target=compute)
    run = Experiment(sws, "ray-bench").submit(config)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        text = runs.log(run.record.id, 0)["text"]
        lines = [line for line in text.splitlines() if line.startswith("first ")]
        if lines:
            seen = time.time()
            run.wait_for_completion()
            first = float(lines[0].split()[1])
            print("  " + stages(runs.log(run.record.id, 0, "system")["text"], started, first))
            return first - started, seen - started
        time.sleep(0.02)
    raise SystemExit(f"run {run.record.id} printed nothing in {WAIT_S:g} s")


def stages(system_log: str, submitted: float, first: float) -> str:
    """Where one run's submit -> first line went, from its system log's timestamps."""
    marks: dict[str, float] = {}
    for line in system_log.splitlines():
        stamp, _, text = line.partition(" ")
        for key, start in (("supervisor", "supervising run"), ("job", "running ")):
            if text.startswith(start) and key not in marks:
                marks[key] = datetime.strptime(
                    stamp + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z"
                ).timestamp()
    if len(marks) < 2:
        return "stages: not in the system log"
    return (
        f"submit -> supervisor {marks['supervisor'] - submitted:.2f} s, "
        f"-> job submitted {marks['job'] - marks['supervisor']:.2f} s, "
        f"-> first line on the node {first - marks['job']:.2f} s"
    )


def sweep(
    sws: Workspace, source: Path, compute: str, trials: int, seconds: float, concurrent: int
) -> float:
    from serving.sdk import GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal
    from serving.sdk.hyperdrive import choice

    (source / "trial.py").write_text(TRIAL)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(
            str(source), "trial.py", arguments=["--seconds", seconds], compute_target=compute
        ),
        hyperparameter_sampling=GridParameterSampling({"--x": choice(*range(trials))}),
        primary_metric_name="score",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=trials,
        max_concurrent_runs=concurrent,
    )
    started = time.monotonic()
    run = Experiment(sws, f"ray-sweep-{concurrent}").submit(config)
    status = run.wait_for_completion(raise_on_error=False)["status"]
    took = time.monotonic() - started
    children = list(run.get_children())
    done = sum(1 for c in children if c.get_status() == "Completed")
    failed = [c for c in children if c.get_status() != "Completed"]
    if failed:
        print("a trial that did not complete:", failed[0].get_details().get("error"))
    print(
        f"sweep of {trials} trials, {concurrent} at once: {took:.1f} s ({status}, {done} completed)"
    )
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--node-cpu", default="0.5")
    parser.add_argument("--head-cpus", default="0")
    parser.add_argument("--node-memory", default="700m")
    parser.add_argument("--run-cpu", default="0.5", help="Cores each run asks of Ray.")
    parser.add_argument("--sweep", type=int, default=0)
    parser.add_argument("--trial-s", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        ws = Folder.open(Path(tmp) / "ws", create=True)
        hub = start_hub(ws, Path(tmp) / "server.log")
        name = f"rb{uuid.uuid4().hex[:6]}"
        try:
            started = time.monotonic()
            up = ("compute", "up", name, "--nodes", args.nodes, "--node-cpu", args.node_cpu,
                  "--head-cpus", args.head_cpus)  # fmt: skip
            done = run_cli(ws.path, *up, "--node-memory", args.node_memory, "--cpu", args.run_cpu)
            if done.code != 0:
                raise SystemExit(done.err)
            print(f"compute up ({args.nodes} workers): {time.monotonic() - started:.1f} s")
            os.environ["SERVING_TOKEN"] = hub.tokens["rw"]
            source = Path(tmp) / "src"
            source.mkdir()
            (source / "first.py").write_text(SCRIPT)
            sws = Workspace.get(path=hub.base)
            runs = RemoteRunStore(HubClient(hub.base, hub.tokens["rw"]))
            if args.sweep:
                together = sweep(sws, source, name, args.sweep, args.trial_s, args.sweep)
                serial = sweep(sws, source, name, args.sweep, args.trial_s, 1)
                print(f"parallel / serial: {together / serial:.2f}")
            cold = one_run(sws, runs, source, name)
            print(f"first run (package upload): first line {cold[0]:.2f} s, in log {cold[1]:.2f} s")
            times = [one_run(sws, runs, source, name) for _ in range(args.repeat)]
            for label, values in (
                ("first line", [t[0] for t in times]),
                ("in log", [t[1] for t in times]),
            ):
                print(
                    f"warm submit -> {label}: median {statistics.median(values):.2f} s, "
                    f"max {max(values):.2f} s over {len(values)} runs"
                )
        finally:
            client = docker_client()
            cluster.remove(client, ws.path, name)
            client.close()
            stop_hub(hub)
    return 0


if __name__ == "__main__":
    sys.exit(main())

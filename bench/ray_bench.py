"""Ray compute benchmark: submit -> first line of the user script on a warm Ray cluster.

    python bench/ray_bench.py [--repeat 5] [--nodes 2] [--node-cpu 0.5]

Starts a workspace server (gunicorn, 2 workers, 127.0.0.1) and a Ray cluster with
``serving compute up`` (head + ``--nodes`` workers, ``--node-cpu`` cores each), submits
one warm-up run and then ``--repeat`` runs through the server with the SDK
(``Experiment.submit``), each a script whose first line prints ``time.time()``. Reported
per run: submit -> the script's first line (its own clock; same machine), and submit ->
that line in the run's log on the server. The cluster is taken down at the end, whatever
happens.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
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
WAIT_S = 120.0


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
            return float(lines[0].split()[1]) - started, seen - started
        time.sleep(0.02)
    raise SystemExit(f"run {run.record.id} printed nothing in {WAIT_S:g} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--node-cpu", default="0.5")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        ws = Folder.open(Path(tmp) / "ws", create=True)
        hub = start_hub(ws, Path(tmp) / "server.log")
        name = f"rb{uuid.uuid4().hex[:6]}"
        try:
            started = time.monotonic()
            up = ("compute", "up", name, "--nodes", args.nodes, "--node-cpu", args.node_cpu)
            done = run_cli(ws.path, *up, "--node-memory", "700m", "--cpu", "0.5")
            if done.code != 0:
                raise SystemExit(done.err)
            print(f"compute up ({args.nodes} workers): {time.monotonic() - started:.1f} s")
            os.environ["SERVING_TOKEN"] = hub.tokens["rw"]
            source = Path(tmp) / "src"
            source.mkdir()
            (source / "first.py").write_text(SCRIPT)
            sws = Workspace.get(path=hub.base)
            runs = RemoteRunStore(HubClient(hub.base, hub.tokens["rw"]))
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

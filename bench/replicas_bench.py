"""Replicated endpoint benchmark: throughput of the cluster target at 1 and 3 replicas.

Trains the digits LogisticRegression, deploys the scikit-learn template's score.py with
``--target cluster`` (HAProxy in front of replica containers, 1 sync worker each, at most
one request per replica at a time), and loads the one scoring URI with wrk, POSTing the
template's one-row sample, at each connection count. The endpoint is scaled between 1 and 3
replicas (alternating, ``--rounds`` times) and the medians are reported, with the scaling
factor rps(3) / rps(1). Errors count wrk's socket errors and non-2xx answers (503s from the
queue limit would show there: the queue wait is set to 10 s so that only real failures do).

    python bench/replicas_bench.py [--duration 10] [--rounds 2] [--connections 4 16]

Needs Docker and `wrk` (apt-get install wrk). Traffic stays on 127.0.0.1. On a 2-core
machine the replicas, HAProxy and wrk share the same cores: expect little gain.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server_bench import LUA, wrk  # noqa: E402  (this folder: the shared wrk runner)

from serving.deploy import service  # noqa: E402
from serving.deploy.spec import DeploymentSpec  # noqa: E402
from serving.workspace import Workspace  # noqa: E402

TEMPLATE = ROOT / "scoring_templates" / "sklearn"
NAME = "bench-replicas"


@dataclass
class Run:
    replicas: int
    conns: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def deploy(ws: Workspace, work: Path) -> str:
    model = work / "model.pkl"
    subprocess.run(
        [sys.executable, str(TEMPLATE / "train.py"), "--output", str(model)],
        check=True,
        capture_output=True,
    )
    ws.models.register(model, "digits")
    say("deploying the digits endpoint with --target cluster --replicas 1")
    record = service.deploy(
        ws,
        NAME,
        models=["digits:1"],
        entry_script=TEMPLATE / "score.py",
        env=str(TEMPLATE / "env.yml"),
        target="cluster",
        deployment=DeploymentSpec.from_options({"replicas": 1, "max_queue_wait_ms": 10000}),
        progress=lambda line: None,
    )
    return str(record.scoring_uri)


def measure(args: argparse.Namespace, ws: Workspace, uri: str, work: Path) -> list[Run]:
    lua = work / "post.lua"
    lua.write_text(LUA)
    body = TEMPLATE / "sample-request.json"
    runs: list[Run] = []
    for round_no in range(args.rounds):
        for replicas in (1, 3):
            service.scale(ws, NAME, replicas)
            time.sleep(2)  # let the health checks settle
            for conns in args.connections:
                wrk(uri, body, conns, 2, lua)  # warm-up
                rps, p50, p99, errors = wrk(uri, body, conns, args.duration, lua)
                say(
                    f"round {round_no + 1}: {replicas} replica(s), {conns} connections: "
                    f"{rps:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {errors} errors"
                )
                runs.append(Run(replicas, conns, rps, p50, p99, errors))
    return runs


def report(runs: list[Run], connections: list[int]) -> None:
    print(f"{'replicas':>8} {'conns':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    medians: dict[tuple[int, int], float] = {}
    for replicas in (1, 3):
        for conns in connections:
            same = [r for r in runs if r.replicas == replicas and r.conns == conns]
            rps = statistics.median(r.rps for r in same)
            medians[(replicas, conns)] = rps
            print(
                f"{replicas:>8} {conns:>5} {rps:>8.0f} "
                f"{statistics.median(r.p50_ms for r in same):>7.1f} "
                f"{statistics.median(r.p99_ms for r in same):>7.1f} "
                f"{sum(r.errors for r in same):>6}"
            )
    for conns in connections:
        factor = medians[(3, conns)] / medians[(1, conns)]
        print(f"scaling 1 -> 3 replicas at {conns} connections: x{factor:.2f}")
    print(f"cores: {os.cpu_count()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, nargs="+", default=[4, 16])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="replicas-bench-") as tmp:
        work = Path(tmp)
        ws = Workspace.open(work / "ws", create=True)
        try:
            uri = deploy(ws, work)
            report(measure(args, ws, uri, work), args.connections)
        finally:
            if any(r.name == NAME for r in ws.endpoints.list()):
                service.delete(ws, NAME)


if __name__ == "__main__":
    main()

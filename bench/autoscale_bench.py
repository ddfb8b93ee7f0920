"""Autoscaling benchmark: the cluster target under a locust ramp (2 -> 40 users over 60 s,
held 10 s, back to 2), printing a per-second timeline (users, replicas, req/s, failures) and
the autoscaler's decisions as ``serving endpoints show`` records them.

Trains the digits LogisticRegression, deploys the scikit-learn template's score.py with
``--target cluster --autoscale --min-replicas 1 --max-replicas 3`` (4 threads per replica,
so 4 concurrent requests each; target 70 %, refresh 1 s), with the cool-down set through
``SERVING_AUTOSCALE_COOLDOWN_S`` (``--cooldown``, 15 s by default so one run shows the way
down too), runs the ramp and deletes the endpoint.

    python bench/autoscale_bench.py [--cooldown 15] [--high 40] [--tail 45] [--max-replicas 3]

Needs Docker (the platform's base image built) and locust (dev extras). Traffic stays on
127.0.0.1. On a 2-core machine locust, HAProxy and the replicas share the cores: more
replicas add little throughput there; the figures show the autoscaler's timing and that no
request fails while replicas join and leave.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.autoscale_ramp import RampRun, Second, run_ramp  # noqa: E402
from loadtests.ramp_shape import Ramp  # noqa: E402
from serving.deploy import service  # noqa: E402
from serving.deploy.cluster.state import load_state, state_dir  # noqa: E402
from serving.deploy.spec import AutoscalePolicy, DeploymentSpec, ReplicaPolicy  # noqa: E402
from serving.workspace import Workspace  # noqa: E402

TEMPLATE = ROOT / "scoring_templates" / "sklearn"
NAME = "bench-autoscale"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def deploy(ws: Workspace, work: Path, args: argparse.Namespace) -> None:
    model = work / "model.pkl"
    subprocess.run(
        [sys.executable, str(TEMPLATE / "train.py"), "--output", str(model)],
        check=True,
        capture_output=True,
    )
    ws.models.register(model, "digits")
    say(f"deploying {NAME}: --autoscale 1..{args.max_replicas}, cool-down {args.cooldown:g} s")
    os.environ["SERVING_AUTOSCALE_COOLDOWN_S"] = str(args.cooldown)
    service.deploy(
        ws,
        NAME,
        models=["digits:1"],
        entry_script=TEMPLATE / "score.py",
        env=str(TEMPLATE / "env.yml"),
        target="cluster",
        threads=4,
        deployment=DeploymentSpec(
            replicas=ReplicaPolicy(max_queue_wait_ms=30000),
            autoscale=AutoscalePolicy(True, 1, args.max_replicas, 70, 1.0),
        ),
        progress=lambda _line: None,
    )


def members(ws: Workspace) -> int:
    state = load_state(state_dir(ws, NAME))
    return -1 if state is None else len(state.members)


def progress(second: Second) -> None:
    say(
        f"  t={second.t_s:4.0f} s  users {second.users:3d}  replicas {second.replicas}  "
        f"{second.rps:6.1f} req/s"
    )


def report(ws: Workspace, run: RampRun) -> None:
    print(run.timeline())
    print()
    totals = run.totals
    percentiles = totals.get("percentiles_ms")
    p50 = percentiles.get("0.5") if isinstance(percentiles, dict) else None
    print(
        f"requests {run.requests}, failures {run.failures}, mean req/s "
        f"{float(str(totals.get('rps', 0))):.1f}, p50 "
        f"{p50} ms, "
        f"max replicas {max((s.replicas for s in run.seconds), default=0)}"
    )
    scaling = service.autoscaling(ws, NAME) or {}
    print(f"decisions ({len(scaling.get('decisions', []))}):")
    for d in scaling.get("decisions", []):
        status = "" if d["ok"] else " FAILED"
        print(f"  {d['time']}  {d['from']} -> {d['to']}{status}  {d['reason']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cooldown", type=float, default=15.0)
    parser.add_argument("--high", type=int, default=40)
    parser.add_argument("--tail", type=float, default=45.0)
    parser.add_argument("--max-replicas", type=int, default=3)
    args = parser.parse_args()
    ramp = Ramp(low=2, high=args.high, up_s=60, hold_s=10, down_s=5, tail_s=args.tail)
    with tempfile.TemporaryDirectory(prefix="autoscale-bench-") as tmp:
        work = Path(tmp)
        ws = Workspace.open(work / "ws", create=True)
        try:
            deploy(ws, work, args)
            record = ws.endpoints.get(NAME)
            say(f"ramp: 2 -> {args.high} users over 60 s, {ramp.duration_s:g} s in all")
            run = run_ramp(
                str(record.scoring_uri),
                record.keys[0] if record.keys else None,
                TEMPLATE / "sample-request.json",
                work / "ramp",
                ramp,
                replicas=lambda: members(ws),
                progress=progress,
            )
            report(ws, run)
        finally:
            say(f"deleting {NAME}")
            service.delete(ws, NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())

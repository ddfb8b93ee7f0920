"""The supervisor of a ``cluster`` endpoint: a small background process, started with the
endpoint and stopped when it is deleted, that every second makes the containers match the
endpoint's recorded state (``<workspace>/endpoints/<name>/cluster/state.json``).

Docker's restart policy covers a replica whose server crashes; the balancer routes around a
replica the moment a connection to it fails. What Docker does not cover, this does:

* a replica container that is gone, or stopped and not coming back (``docker kill`` counts
  as a manual stop, so the restart policy ignores it), is started again in its slot;
* a running replica whose readiness check has failed for ``heal_after_s`` seconds (while
  idle; busy ones get the scoring timeout on top) is replaced;
* a member left out of the pool, a missing replica or a stopped balancer is put back, and
  replica containers that belong to no slot are removed.

With ``--autoscale`` each pass also samples the balancer's load and, every
``refresh_seconds``, lets the autoscaler (:mod:`serving.deploy.cluster.autoscaler`) resize
the pool through the same join-when-ready and drain-before-stop paths as ``endpoints
scale``; every change (or failed try) is recorded in the state file, the last
:data:`~serving.deploy.cluster.state.DECISIONS_KEPT` of them, for ``endpoints show``.

Each pass holds the endpoint's lock, so it never acts while a command (scale, update,
delete) is changing the endpoint. ``serving endpoints show/list`` start it again when it is
not running (after a reboot, say).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from serving.deploy import process
from serving.deploy.cluster.autoscaler import Autoscaler, sample_of
from serving.deploy.cluster.balancer import ensure_balancer_image
from serving.deploy.cluster.haproxy import ServerStatus
from serving.deploy.cluster.pool import Pool
from serving.deploy.cluster.state import (
    ClusterState,
    Decision,
    Member,
    endpoint_lock,
    load_state,
    save_state,
)
from serving.errors import DeploymentError, ServingError

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

POLL_S = 1.0
MIN_TICK_S = 0.25
"""The fastest the autoscaler samples, whatever ``refresh_seconds`` says."""
LOG_NAME = "supervisor.log"


def _log(line: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}", flush=True)


def why_replace(
    container: Container | None, status: ServerStatus | None, state: ClusterState
) -> str | None:
    """Why the replica in a slot must be replaced, or None when it is fine."""
    if container is None:
        return "its container is gone"
    if container.status in ("exited", "dead", "created"):
        code = container.attrs.get("State", {}).get("ExitCode")
        return f"its container is {container.status} (exit code {code})"
    if status is None or not status.failing:
        return None
    limit = state.heal_after_s
    if not status.idle:
        limit += state.limits.scoring_timeout_ms / 1000
    if status.since_s >= limit:
        return f"its readiness check has failed for {status.since_s} s"
    return None


def heal(pool: Pool) -> list[str]:
    """One reconcile pass; returns what it did."""
    state = pool.state
    done: list[str] = []
    pool.ensure_balancer(lambda: ensure_balancer_image(pool.client, lambda _line: None))
    statuses = pool.statuses()
    for slot in sorted(state.members):
        reason = why_replace(pool.replica(slot), statuses.get(slot), state)
        if reason is not None:
            _log(f"replacing r{slot}: {reason}")
            pool.replace(slot)
            done.append(f"replaced r{slot}: {reason}")
        elif statuses.get(slot) is not None and statuses[slot].status == "MAINT":
            _log(f"r{slot} is out of the pool: putting it back once ready")
            pool.wait_ready([slot])
            pool.api.set_state(slot, "ready")
            done.append(f"re-enabled r{slot}")
    missing = state.replicas - len(state.members)
    if missing > 0:
        slots: list[int] = []
        for _ in range(missing):
            slots.append(state.free_slot(set(slots)))
        _log(f"starting {missing} missing replica(s)")
        pool.add({slot: Member(state.revision, state.image) for slot in slots})
        done.append(f"added {', '.join(f'r{s}' for s in slots)}")
    for container in pool.owned("replica"):
        slot = int(container.labels.get("serving.slot", "0"))
        if slot not in state.members:
            _log(f"removing {container.name}: it belongs to no slot")
            container.remove(force=True)
            done.append(f"removed {container.name}")
    return done


def autoscale(pool: Pool, scaler: Autoscaler, now: float) -> list[str]:
    """Sample the pool's load; resize it when the autoscaler decides to (recorded)."""
    state = pool.state
    policy = state.autoscale
    if policy is None:
        return []
    try:
        statuses, queued = pool.snapshot()
    except DeploymentError:
        return []  # the balancer is down: heal restarts it; no sample meanwhile
    members = set(state.members)
    scaler.observe(sample_of(statuses, queued, members, state.limits.max_concurrent, now))
    plan = scaler.decide(now, len(members), policy)
    if plan is None:
        return []
    _log(f"autoscaling {plan.current} -> {plan.to}: {plan.reason}")
    decided, started = _now_iso(), time.monotonic()
    try:
        pool.resize(plan.to)
    except Exception as exc:  # Docker's own errors too: recorded, and heal must not retry
        why = exc.message if isinstance(exc, ServingError) else f"{type(exc).__name__}: {exc}"
        ok, outcome = False, f"failed after {time.monotonic() - started:.0f} s: {why}"
        _log(f"autoscaling failed: {why}")
        state.replicas = len(state.members)  # what serves
    else:
        ok, outcome = True, f"done in {time.monotonic() - started:.0f} s"
    reason = f"{plan.reason}; {outcome}"
    policy.record(Decision(decided, plan.current, plan.to, reason, plan.utilization, ok))
    pool.save()
    if ok:
        scaler.changed(time.monotonic())
    else:
        scaler.failed(time.monotonic())
    return [f"autoscaled {plan.current} -> {len(state.members)}"]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def reconcile_once(
    client: DockerClient,
    folder: Path,
    *,
    wait_s: float = 0.0,
    scaler: Autoscaler | None = None,
    heal_due: bool = True,
) -> list[str]:
    """Heal the endpoint whose state is in ``folder`` if its lock is free (when
    ``heal_due``), then with ``scaler`` take an autoscaling step."""
    with endpoint_lock(folder, wait_s=wait_s) as got:
        state = load_state(folder) if got else None
        if state is None:
            return []
        pool = Pool(client, folder, state, lambda _line: None)
        done = heal(pool) if heal_due else []
        if scaler is not None:
            done += autoscale(pool, scaler, time.monotonic())
        return done


def tick_s(state: ClusterState | None) -> float:
    """Seconds between passes: :data:`POLL_S`, shorter when the autoscaler refreshes
    faster (healing still runs every :data:`POLL_S`)."""
    if state is None or state.autoscale is None:
        return POLL_S
    return max(MIN_TICK_S, min(POLL_S, state.autoscale.refresh_s))


def _stop(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: list[str]) -> int:
    """``python -m serving.deploy.cluster.supervisor STATE_FOLDER``: runs until the
    endpoint's state is removed or it gets SIGTERM."""
    from serving.images.engine import docker_client

    folder = Path(argv[0])
    signal.signal(signal.SIGTERM, _stop)
    _log(f"supervising {folder} (pid {os.getpid()})")
    client = docker_client()
    scaler = Autoscaler()
    healed = 0.0
    while (state := load_state(folder)) is not None:
        heal_due = time.monotonic() - healed >= POLL_S - 0.05
        try:
            reconcile_once(client, folder, scaler=scaler, heal_due=heal_due)
        except ServingError as exc:
            _log(f"error: {exc.one_line()}")
        except Exception as exc:  # keep supervising through Docker hiccups
            _log(f"error: {type(exc).__name__}: {exc}")
        if heal_due:
            healed = time.monotonic()
        time.sleep(tick_s(state))
    _log("the endpoint's state is gone: stopping")
    return 0


def start(folder: Path, state: ClusterState) -> None:
    """Start the endpoint's supervisor (recorded in the state file)."""
    argv = [sys.executable, "-m", "serving.deploy.cluster.supervisor", str(folder)]
    ref, proc = process.start_detached(
        argv, env=dict(os.environ), cwd=folder, log_file=folder / LOG_NAME
    )
    process.reap_in_background(proc)
    state.supervisor = ref.to_dict()
    save_state(folder, state)


def running(state: ClusterState) -> bool:
    ref = process.ProcessRef.from_dict(state.supervisor or {})
    return ref is not None and process.is_running(ref)


def stop(state: ClusterState) -> None:
    ref = process.ProcessRef.from_dict(state.supervisor or {})
    if ref is not None:
        process.stop(ref, grace_s=10)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

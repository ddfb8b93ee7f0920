"""What ``serving endpoints show`` and ``logs`` print for a ``cluster`` endpoint: one row per
replica (container state and the balancer's view), the autoscaler's policy and decisions,
and the logs of one or all replicas."""

from __future__ import annotations

from typing import Any

from serving.deploy import process
from serving.deploy.cluster.haproxy import ServerStatus
from serving.deploy.cluster.pool import Pool, replica_id
from serving.deploy.cluster.state import ClusterState, balancer_name
from serving.deploy.cluster.supervisor import LOG_NAME
from serving.deploy.toolkit import container_log
from serving.errors import NotFoundError


def replica_state(container_status: str, status: ServerStatus | None, member: bool) -> str:
    """Ready, Starting, Draining, Unhealthy, Out of pool, or the container's own state."""
    if container_status != "running":
        return container_status.capitalize()
    if status is None:
        return "Unknown"
    if status.serving:
        return "Ready"
    if status.status.startswith("DRAIN"):
        return "Draining" if member else "Starting"
    if status.failing:
        return "Unhealthy"
    return "Out of pool"


def replica_rows(pool: Pool) -> list[dict[str, Any]]:
    """Every replica container of the endpoint, and members whose container is gone."""
    statuses = pool.statuses()
    rows: dict[int, dict[str, Any]] = {}
    for container in pool.owned("replica"):
        slot = int(container.labels.get("serving.slot", "0"))
        revision = int(container.labels.get("serving.revision", "0"))
        status = statuses.get(slot)
        rows[slot] = {
            "replica": f"r{slot}",
            "id": replica_id(pool.state.endpoint, slot, revision),
            "state": replica_state(container.status, status, slot in pool.state.members),
            "revision": revision,
            "check": status.check if status else "",
            "balancer": status.status if status else "",
            "in_flight": status.in_flight if status else 0,
            "container": container.name,
        }
    for slot, member in pool.state.members.items():
        rows.setdefault(
            slot,
            {
                "replica": f"r{slot}",
                "id": replica_id(pool.state.endpoint, slot, member.revision),
                "state": "Missing",
                "revision": member.revision,
                "check": "",
                "balancer": "",
                "in_flight": 0,
                "container": "",
            },
        )
    return [rows[slot] for slot in sorted(rows)]


def autoscale_view(state: ClusterState) -> dict[str, Any] | None:
    """The autoscaler's policy, the size now (replicas in the pool) and the size it set,
    and its last decisions, newest last (None: the endpoint does not autoscale)."""
    policy = state.autoscale
    if policy is None:
        return None
    return {
        "replicas": len(state.members),
        "desired": state.replicas,
        "min_replicas": policy.min_replicas,
        "max_replicas": policy.max_replicas,
        "target_utilization": policy.target_utilization,
        "refresh_seconds": policy.refresh_s,
        "cooldown_seconds": policy.cooldown_s,
        "per_replica_concurrency": state.limits.max_concurrent,
        "decisions": [
            {
                "time": d.time,
                "from": d.from_replicas,
                "to": d.to_replicas,
                "ok": d.ok,
                "utilization": round(d.utilization, 1),
                "reason": d.reason,
            }
            for d in policy.decisions
        ],
    }


def _container_log(pool: Pool, name: str, tail: int) -> str:
    container = pool.container(name)
    return "" if container is None else container_log(container, tail)


def replica_logs(pool: Pool, tail: int, replica: str | None) -> str:
    """One replica's log (``r2``/``2``), ``balancer``, ``supervisor``; None: every replica's,
    each under a ``==> rK <==`` header."""
    endpoint = pool.state.endpoint
    if replica is None:
        parts = []
        for container in sorted(pool.owned("replica"), key=lambda c: str(c.name)):
            slot = container.labels.get("serving.slot", "?")
            parts.append(f"==> r{slot} ({container.name}) <==\n{container_log(container, tail)}")
        return "\n".join(parts)
    key = replica.strip().lower()
    if key in ("balancer", "lb"):
        return _container_log(pool, balancer_name(endpoint), tail)
    if key == "supervisor":
        return process.tail(pool.folder / LOG_NAME, tail)
    slot = key.removeprefix("r")
    container = pool.replica(int(slot)) if slot.isdigit() else None
    if container is None:
        raise NotFoundError(
            f"endpoint {endpoint} has no replica {replica!r}",
            hint="see the replicas in 'serving endpoints show'; 'balancer' and 'supervisor' "
            "are accepted too",
        )
    return container_log(container, tail)

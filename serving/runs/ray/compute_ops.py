"""Ray computes of a workspace: attach one (``--address``), start one here (``up``), stop
it (``down``) and describe its nodes and free resources (``show``).

A Ray compute is a row of the ``computes`` table like a Docker compute, of kind ``ray``,
whose spec records the head's address (and, for a cluster started here, its Docker
network). It has no ``max_nodes`` queue of its own: Ray queues the jobs that wait for
resources (such a run shows Queued).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from serving.environments import EnvSpec
from serving.errors import ConflictError, UserInputError
from serving.runs.compute import (
    RAY,
    ComputeRecord,
    ComputeSpec,
    ComputeStore,
    check_name,
    parse_cpu,
    parse_memory,
)
from serving.runs.execution import Progress
from serving.runs.ray import cluster
from serving.runs.ray.jobs_api import RayJobs
from serving.workspace import Workspace

MAX_NODES = 16


def _check_address(address: str) -> str:
    if not address.startswith(("http://", "https://")):
        raise UserInputError(
            f"invalid Ray address {address!r}: give the head's dashboard URL",
            hint="such as http://HEAD:8265",
        )
    return address.rstrip("/")


def ray_spec(
    address: str,
    *,
    cpu: str | float | None = None,
    memory: str | int | None = None,
    gpus: float | None = None,
    server_url: str | None = None,
    docker_network: str | None = None,
    docker_gateway: str | None = None,
    description: str | None = None,
) -> ComputeSpec:
    """A checked spec: ``cpu``/``memory``/``gpus`` are what each run asks of Ray."""
    if gpus is not None and not 0 <= gpus <= 64:
        raise UserInputError(f"gpus {gpus!r} is out of range (0 to 64)")
    return ComputeSpec(
        max_nodes=None,
        cpu=parse_cpu(cpu) if cpu is not None else None,
        memory_bytes=parse_memory(memory) if memory is not None else None,
        network=True,
        address=_check_address(address),
        docker_network=docker_network,
        docker_gateway=docker_gateway,
        server_url=_check_address(server_url) if server_url else None,
        gpus=gpus or None,
        description=description,
        azure_type="AmlCompute",
    )


def node_note(environment: EnvSpec | None) -> str:
    """What the nodes' image holds, as recorded in the compute's notes."""
    if environment is None:
        return "nodes run the runtime image (no environment packages)"
    return f"nodes run environment {environment.name} ({environment.short_hash})"


def attach(ws: Workspace, name: str, spec: ComputeSpec) -> ComputeRecord:
    """Record a Ray cluster running elsewhere (its head must answer now)."""
    RayJobs(str(spec.address)).version()
    return ComputeStore(ws.path, ws.db).add(name, spec, RAY)


def up(
    ws: Workspace,
    name: str,
    nodes: int,
    limits: cluster.NodeLimits,
    progress: Progress,
    *,
    cpu: str | None = None,
    memory: str | None = None,
    environment: EnvSpec | None = None,
) -> ComputeRecord:
    """Start a head and ``nodes`` workers here, from ``environment``'s image plus Ray (the
    runtime alone when None), and record the compute."""
    check_name(name)
    if not 1 <= nodes <= MAX_NODES:
        raise UserInputError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes}")
    store = ComputeStore(ws.path, ws.db)
    if store.find(name) is not None:
        raise ConflictError(
            f"compute {name} already exists", hint=f"'serving compute down {name}' first"
        )
    from serving.images.engine import docker_client
    from serving.runs.ray.image import build_node_image

    image = build_node_image(ws, environment, progress)
    client = docker_client()
    try:
        address, network = cluster.start(client, ws.path, name, image, nodes, limits, progress)
        try:
            host = cluster.gateway(client, network)
            spec = ray_spec(
                address, cpu=cpu, memory=memory, docker_network=network, docker_gateway=host
            )
            spec = replace(spec, notes=(node_note(environment),))
            return store.add(name, spec, RAY)
        except BaseException:
            cluster.remove(client, ws.path, name)
            raise
    finally:
        client.close()


def down(ws: Workspace, name: str) -> int:
    """Forget the compute (refused while runs on it have not ended) and remove its
    containers; how many containers were removed."""
    store = ComputeStore(ws.path, ws.db)
    record = store.get(name)
    if record.kind != RAY or not record.spec.docker_network:
        raise UserInputError(
            f"compute {name} was not started by 'serving compute up'",
            hint=f"use 'serving compute delete {name}'",
        )
    store.delete(name)
    from serving.images.engine import docker_client

    client = docker_client()
    try:
        return cluster.remove(client, ws.path, name)
    finally:
        client.close()


def describe(record: ComputeRecord) -> dict[str, Any]:
    """The cluster's nodes, the resources of the alive ones, and what is free of them
    (Ray's last load report: it may lag a node that joined seconds ago)."""
    jobs = RayJobs(str(record.spec.address))
    nodes = [
        {
            "name": node.get("node_name"),
            "head": bool(node.get("is_head_node")),
            "state": node.get("state"),
            "cpu": (node.get("resources_total") or {}).get("CPU", 0.0),
            "memory": (node.get("resources_total") or {}).get("memory", 0.0),
            "gpu": (node.get("resources_total") or {}).get("GPU", 0.0),
        }
        for node in jobs.nodes()
    ]
    free = jobs.available()
    alive = [n for n in nodes if n["state"] == "ALIVE"]
    total = {k: sum(float(n[k.lower()]) for n in alive) for k in ("CPU", "GPU", "memory")}
    return {
        "ray_version": jobs.version(),
        "nodes": nodes,
        "total": {k: v for k, v in total.items() if v},
        "free": {k: free.get(k, 0.0) for k in ("CPU", "GPU", "memory") if total[k]},
    }


__all__ = ["attach", "describe", "down", "ray_spec", "up"]

"""`serving compute ...`: the workspace's compute targets (``local``, Docker computes and
Ray clusters: ``--type ray --address`` attaches one, ``up``/``down`` start one here)."""

from __future__ import annotations

from typing import Any

import click

from serving.cli.common import (
    emit_list,
    emit_one,
    emit_or_say,
    err,
    notice,
    plain,
    shows,
    workspace,
)
from serving.runs.compute import KINDS, RAY, ComputeRecord, ComputeStore

LIST_COLUMNS = [
    ("name", "NAME"),
    ("kind", "TYPE"),
    ("max_nodes", "MAX NODES"),
    ("cpu", "CPU"),
    ("memory", "MEMORY"),
    ("network", "NETWORK"),
    ("created_at", "CREATED"),
]


def _store() -> ComputeStore:
    ws = workspace()
    return ComputeStore(ws.path, ws.db)


def _size(size: int | None) -> str | None:
    if size is None:
        return None
    for unit, factor in (("g", 2**30), ("m", 2**20), ("k", 2**10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _row(record: ComputeRecord) -> dict[str, Any]:
    """One compute as a flat row (JSON output keeps the full record besides)."""
    spec = record.spec
    return {
        **record.to_dict(),
        "max_nodes": spec.max_nodes if spec.max_nodes is not None else "unlimited",
        "cpu": spec.cpu,
        "memory": _size(spec.memory_bytes),
        "network": "yes" if spec.network or record.is_local else "no",
    }


@click.group("compute")
def compute() -> None:
    """Compute targets that runs are submitted to."""


@compute.command("create")
@click.argument("name")
@click.option(
    "--type", "kind", type=click.Choice((*KINDS, RAY)), default=KINDS[0], show_default=True,
    help="What the compute is (ray: a Ray cluster at --address).",
)  # fmt: skip
@click.option("--address", help="Ray: the head's dashboard URL (http://HEAD:8265).")
@click.option("--server-url", help="Ray: the workspace server's URL as the nodes reach it.")
@click.option("--gpus", type=float, help="Ray: GPUs per run.")
@click.option(
    "--max-nodes", type=int, default=1, show_default=True, help="Runs at once; others queue."
)
@click.option("--cpu", help="Cores per run (e.g. 1.5); no limit when not given.")
@click.option("--memory", help="Memory per run (e.g. 4g); no limit when not given.")
@click.option("--network", is_flag=True, help="Let runs reach the network (off by default).")
@click.option("--description", help="Free text.")
@shows
def create(
    name: str,
    kind: str,
    max_nodes: int,
    cpu: str | None,
    memory: str | None,
    network: bool,
    description: str | None,
    address: str | None,
    server_url: str | None,
    gpus: float | None,
) -> None:
    """Create compute target NAME (runs in containers on this machine's Docker Engine, or
    as jobs on a Ray cluster with --type ray --address)."""
    if kind == RAY:
        _attach_ray(name, address, cpu, memory, gpus, server_url, description)
        return
    if address or server_url or gpus is not None:
        raise click.UsageError("--address, --server-url and --gpus are for --type ray")
    record = _store().create(
        name,
        kind,
        max_nodes=max_nodes,
        cpu=cpu,
        memory=memory,
        network=network,
        description=description,
    )
    for note in record.spec.notes:
        notice(note)
    emit_or_say(record.to_dict(), f"created compute {record.name} ({record.kind})")


@compute.command("list")
@shows
def list_computes() -> None:
    """List compute targets (``local`` always)."""
    emit_list([_row(r) for r in _store().list()], LIST_COLUMNS)


@compute.command("show")
@click.argument("name")
@shows
def show(name: str) -> None:
    """Show one compute target, with its runs not yet ended."""
    store = _store()
    record = store.get(name)
    data = _row(record)
    data["active_runs"] = store.active_runs(name)
    if record.kind == RAY:
        from serving.runs.ray.compute_ops import describe

        data |= {"address": record.spec.address, **describe(record)}
        data["nodes"] = [_node_line(node) for node in data["nodes"]]
    emit_one(data)


@compute.command("delete")
@click.argument("name")
@shows
def delete(name: str) -> None:
    """Delete compute target NAME (refused while runs on it have not ended); a Ray cluster
    started by 'compute up' is taken down as well."""
    found = _store().get(name)
    if found.kind == RAY and found.spec.docker_network:
        from serving.runs.ray.compute_ops import down as stop

        removed = stop(workspace(), name)
        emit_or_say(found.to_dict(), f"deleted compute {name} (its {removed} nodes removed)")
        return
    record = _store().delete(name)
    emit_or_say(record.to_dict(), f"deleted compute {record.name}")


def _progress(line: str) -> None:
    err.print(plain(line), highlight=False)


def _node_line(node: dict[str, Any]) -> str:
    role = "head" if node["head"] else "worker"
    memory = _size(int(node["memory"])) if node["memory"] else "0"
    return f"{node['name']} {role} {node['state']} cpu={node['cpu']:g} memory={memory}"


def _attach_ray(
    name: str,
    address: str | None,
    cpu: str | None,
    memory: str | None,
    gpus: float | None,
    server_url: str | None,
    description: str | None,
) -> None:
    from serving.runs.ray.compute_ops import attach, ray_spec

    if not address:
        raise click.UsageError("--type ray needs --address http://HEAD:8265")
    spec = ray_spec(
        address, cpu=cpu, memory=memory, gpus=gpus, server_url=server_url, description=description
    )
    record = attach(workspace(), name, spec)
    emit_or_say(record.to_dict(), f"created compute {record.name} (ray at {spec.address})")


@compute.command("up")
@click.argument("name")
@click.option("--type", "kind", type=click.Choice((RAY,)), default=RAY, show_default=True)
@click.option("--nodes", type=int, default=2, show_default=True, help="Worker containers.")
@click.option("--node-cpu", type=float, default=1.0, show_default=True, help="Cores per node.")
@click.option("--node-memory", default="1g", show_default=True, help="Memory per node.")
@click.option(
    "--head-cpus", type=int, default=0, show_default=True, help="CPUs the head offers to runs."
)
@click.option("--cpu", help="Cores each run asks of Ray (default 1).")
@click.option("--memory", help="Memory each run asks of Ray.")
@click.option(
    "--environment", "env_ref", metavar="NAME[:VERSION]",
    help="The registered environment the nodes run (its packages plus Ray).",
)  # fmt: skip
@shows
def up(
    name: str,
    kind: str,
    nodes: int,
    node_cpu: float,
    node_memory: str,
    head_cpus: int,
    cpu: str | None,
    memory: str | None,
    env_ref: str | None,
) -> None:
    """Start a Ray cluster NAME here: a head and --nodes workers in containers on a private
    Docker network (the head's dashboard on 127.0.0.1 only), and record it as a compute."""
    from serving.runs.compute import parse_cpu, parse_memory
    from serving.runs.ray.cluster import NodeLimits
    from serving.runs.ray.compute_ops import up as start

    if not 0 <= head_cpus <= 64:
        raise click.UsageError(f"--head-cpus must be between 0 and 64, not {head_cpus}")
    limits = NodeLimits(parse_cpu(node_cpu), parse_memory(node_memory), head_cpus)
    ws = workspace()
    env = None
    if env_ref:
        from serving.environments import EnvSpec
        from serving.registry.names import parse_ref

        env = EnvSpec.from_dict(ws.environments.get(parse_ref(env_ref, "environment")).spec)
    record = start(ws, name, nodes, limits, _progress, cpu=cpu, memory=memory, environment=env)
    emit_or_say(record.to_dict(), f"compute {name} is up: Ray at {record.spec.address}")


@compute.command("down")
@click.argument("name")
@shows
def down(name: str) -> None:
    """Stop and remove Ray cluster NAME started by 'compute up', and forget it."""
    from serving.runs.ray.compute_ops import down as stop

    removed = stop(workspace(), name)
    emit_or_say({"name": name, "removed": removed}, f"compute {name} is down ({removed} nodes)")

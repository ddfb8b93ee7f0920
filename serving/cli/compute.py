"""`serving compute ...`: the workspace's compute targets (``local`` and Docker computes)."""

from __future__ import annotations

from typing import Any

import click

from serving.cli.common import emit_list, emit_one, emit_or_say, notice, shows, workspace
from serving.runs.compute import KINDS, ComputeRecord, ComputeStore

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
    "--type", "kind", type=click.Choice(KINDS), default=KINDS[0], show_default=True,
    help="What the compute is.",
)  # fmt: skip
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
) -> None:
    """Create compute target NAME (runs in containers on this machine's Docker Engine)."""
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
    data = _row(store.get(name))
    data["active_runs"] = store.active_runs(name)
    emit_one(data)


@compute.command("delete")
@click.argument("name")
@shows
def delete(name: str) -> None:
    """Delete compute target NAME (refused while runs on it have not ended)."""
    record = _store().delete(name)
    emit_or_say(record.to_dict(), f"deleted compute {record.name}")

"""`serving envs ...`: register and inspect environments (conda env.yml or requirements)."""

from __future__ import annotations

from pathlib import Path

import click

from serving.catalog import register_env_file
from serving.cli.common import any_workspace, emit_list, emit_one, is_json, notice, say, shows
from serving.registry.names import parse_ref

LIST_COLUMNS = [
    ("id", "ENVIRONMENT"),
    ("python", "PYTHON"),
    ("content_hash", "HASH"),
    ("requirements", "REQUIREMENTS"),
    ("created_at", "CREATED"),
]


@click.group("envs")
def envs() -> None:
    """Register and inspect environments (what deployments install)."""


@envs.command("register")
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.Path(path_type=Path),
    help="A conda env.yml, or a pip requirements .txt file.",
)
@click.option("--name", "-n", help="Name (default: the file's 'name:', or its stem).")
@shows
def register(path: Path, name: str | None) -> None:
    """Parse and record an environment; same content as the latest version reuses it."""
    resolved = register_env_file(any_workspace(), path, name)
    for line in resolved.spec.notices:
        notice(line)
    assert resolved.record is not None
    if is_json():
        emit_one(resolved.record.to_dict() | {"created": resolved.created})
        return
    suffix = "" if resolved.created else " (unchanged, same content hash)"
    say(f"{resolved.record.ref}{suffix}")


@envs.command("list")
@click.option("--name", "-n", help="Only this environment name.")
@click.option("--latest", is_flag=True, help="Only the latest version of each name.")
@shows
def list_envs(name: str | None, latest: bool) -> None:
    """List registered environments."""
    records = any_workspace().environments.list(name=name, latest=latest)
    rows = [
        r.to_dict() | {"content_hash": r.content_hash[:12]} if not is_json() else r.to_dict()
        for r in records
    ]
    emit_list(rows, LIST_COLUMNS)


@envs.command("show")
@click.argument("ref", metavar="NAME[:VERSION]")
@shows
def show(ref: str) -> None:
    """Show one environment version with its resolved requirements."""
    record = any_workspace().environments.get(parse_ref(ref, "environment"))
    emit_one(record.to_dict())

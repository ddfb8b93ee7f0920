"""`serving models ...`: the model registry from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from serving.cli.common import byte_progress, emit_list, emit_one, emit_or_say, shows, workspace
from serving.registry.frameworks import FRAMEWORKS
from serving.registry.names import parse_pairs, parse_ref

LIST_COLUMNS = [
    ("id", "MODEL"),
    ("framework", "FRAMEWORK"),
    ("framework_version", "VERSION"),
    ("size_bytes", "BYTES"),
    ("tags", "TAGS"),
    ("created_at", "CREATED"),
]


@click.group("models")
def models() -> None:
    """Register and manage versioned models."""


@models.command("register")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="Model name; re-registering adds a version.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Tag (repeatable).")
@click.option(
    "--property",
    "properties",
    multiple=True,
    metavar="K=V",
    help="Property (repeatable; properties cannot be changed later).",
)
@click.option("--description", help="Free text.")
@click.option("--framework", type=click.Choice(FRAMEWORKS), help="Detected when not given.")
@click.option("--framework-version", help="Library version (detected when not given).")
@click.option("--run", "run_id", metavar="RUN_ID", help="Training run that produced the model.")
@shows
def register(
    path: Path,
    name: str,
    tags: tuple[str, ...],
    properties: tuple[str, ...],
    description: str | None,
    framework: str | None,
    framework_version: str | None,
    run_id: str | None,
) -> None:
    """Register the file or folder PATH as a new version of model NAME."""
    ws = workspace()
    with byte_progress(f"registering {name}") as progress:
        record = ws.models.register(
            path,
            name,
            tags=parse_pairs(tags, "tag"),
            properties=parse_pairs(properties, "property"),
            description=description,
            framework=framework,
            framework_version=framework_version,
            run_id=run_id,
            progress=progress,
        )
    emit_or_say(record.to_dict(), record.ref)


@models.command("list")
@click.option("--name", "-n", help="Only this model name.")
@click.option("--tag", "tags", multiple=True, metavar="K[=V]", help="Has tag K (with value V).")
@click.option("--run", "run_id", metavar="RUN_ID", help="Only models from this run.")
@click.option("--latest", is_flag=True, help="Only the latest version of each name.")
@shows
def list_models(name: str | None, tags: tuple[str, ...], run_id: str | None, latest: bool) -> None:
    """List registered models, newest version first."""
    wanted: dict[str, str | None] = {}
    for item in tags:
        key, sep, value = item.partition("=")
        wanted[key] = value if sep else None
    records = workspace().models.list(name=name, tags=wanted, latest=latest, run_id=run_id)
    emit_list([r.to_dict() for r in records], LIST_COLUMNS)


@models.command("show")
@click.argument("ref", metavar="NAME[:VERSION]")
@shows
def show(ref: str) -> None:
    """Show one model version (the latest when no version is given)."""
    ws = workspace()
    record = ws.models.get(parse_ref(ref))
    data = record.to_dict()
    data["endpoints"] = ws.models.endpoints_using(record)
    emit_one(data)


@models.command("download")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("target", type=click.Path(path_type=Path))
@shows
def download(ref: str, target: Path) -> None:
    """Write the model's file or folder into TARGET, verifying every hash."""
    dest = workspace().models.download(parse_ref(ref), target)
    emit_or_say({"path": str(dest)}, str(dest))


@models.command("update")
@click.argument("ref", metavar="NAME:VERSION")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Add or replace a tag.")
@click.option("--remove-tag", "remove_tags", multiple=True, metavar="K", help="Remove a tag.")
@click.option("--property", "properties", multiple=True, metavar="K=V", help="Add a property.")
@click.option("--description", help="Replace the description.")
@shows
def update(
    ref: str,
    tags: tuple[str, ...],
    remove_tags: tuple[str, ...],
    properties: tuple[str, ...],
    description: str | None,
) -> None:
    """Change a model version's tags, properties (add only) or description."""
    record = workspace().models.update(
        parse_ref(ref),
        add_tags=parse_pairs(tags, "tag"),
        remove_tags=remove_tags,
        add_properties=parse_pairs(properties, "property"),
        description=description,
    )
    emit_one(record.to_dict(), skip=("files",))


@models.command("delete")
@click.argument("ref", metavar="NAME:VERSION")
@click.option("--force", is_flag=True, help="Delete even while endpoints use it.")
@shows
def delete(ref: str, force: bool) -> None:
    """Delete one model version and its unshared files."""
    record = workspace().models.delete(parse_ref(ref), force=force)
    emit_or_say({"deleted": record.ref}, f"deleted {record.ref}")

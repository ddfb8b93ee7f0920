"""`serving workspace ...`."""

from __future__ import annotations

from pathlib import Path

import click

from serving.cli.common import emit_one, emit_or_say, shows
from serving.workspace import Workspace, garbage_collect


@click.group("workspace")
def workspace_group() -> None:
    """Create and inspect workspaces."""


@workspace_group.command("create")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--name", help="Workspace name (default: the folder's name).")
@shows
def create(path: Path | None, name: str | None) -> None:
    """Create a workspace in PATH/.serving (default: the current folder)."""
    ws = Workspace.create(name=name, path=path)
    emit_or_say(ws.describe(), f"workspace {ws.name} at {ws.path}")


@workspace_group.command("show")
@shows
def show() -> None:
    """Show the workspace in use (a folder, or a server) and what it holds."""
    from serving.cli.common import any_workspace

    emit_one(any_workspace().describe())


@workspace_group.command("gc")
@shows
def gc() -> None:
    """Remove stored files that no model references (left by interrupted registrations)."""
    from serving.cli.common import workspace

    removed = garbage_collect(workspace())
    emit_or_say({"removed_blobs": removed}, f"removed {removed} unreferenced blob(s)")

"""Command-line interface."""

from __future__ import annotations

import click


def extra_commands() -> list[click.Command]:
    """Commands beyond the registry ones, each from its own module."""
    commands: list[click.Command] = []
    try:
        from serving.cli.serve import serve
    except ImportError:  # pragma: no cover - the server layer is part of every install
        pass
    else:
        commands.append(serve)
    from serving.cli.images import images

    commands.append(images)
    return commands

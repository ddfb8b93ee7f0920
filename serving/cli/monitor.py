"""``serving monitor``: watch what deployed models see."""

from __future__ import annotations

import click

from serving.errors import UserInputError


@click.group("monitor")
def monitor() -> None:
    """Compare what endpoints collected with a baseline."""


@monitor.command("drift")
@click.argument("name")
@click.option("--baseline", required=True, metavar="DATA")
def drift(name: str, baseline: str) -> None:
    """Report data drift of endpoint NAME's inputs against a baseline."""
    raise UserInputError("monitor drift is not built yet")

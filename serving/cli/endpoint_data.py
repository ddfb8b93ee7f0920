"""``serving endpoints data NAME``: export what ``ModelDataCollector`` recorded."""

from __future__ import annotations

from pathlib import Path

import click

from serving.errors import UserInputError


@click.command("data")
@click.argument("name")
@click.option("--since", metavar="WHEN", help="Only records from this time on.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path))
def data(name: str, since: str | None, output: Path | None) -> None:
    """Export the inputs and predictions endpoint NAME collected."""
    raise UserInputError("endpoints data is not built yet")

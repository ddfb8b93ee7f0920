"""``serving endpoints data NAME``: export what ``ModelDataCollector`` recorded.

The records are where the endpoint was deployed to write them (its recorded
``model_data_dir``); for an endpoint that no longer exists, the default datastore's
folder, so data collected before a delete can still be exported.
"""

from __future__ import annotations

from pathlib import Path

import click

from serving.cli.common import emit_list, is_json, print_json, say, shows, step_progress, workspace
from serving.errors import NotFoundError, UserInputError
from serving.runs.datastores import model_data_folder
from serving.scoring.collection import export as exports
from serving.scoring.collection import layout
from serving.workspace import Workspace

COUNT_COLUMNS = [
    ("model_name", "MODEL"),
    ("model_version", "VERSION"),
    ("designation", "DESIGNATION"),
    ("records", "RECORDS"),
    ("first", "FIRST"),
    ("last", "LAST"),
]


def data_folder(ws: Workspace, name: str) -> Path:
    """The datastore folder endpoint ``name`` collects (or collected) into."""
    try:
        record = ws.endpoints.get(name)
    except NotFoundError:
        folder = Path(model_data_folder(ws))
        if layout.endpoint_dir(folder, name).is_dir():
            return folder
        raise NotFoundError(
            f"endpoint {name} not found, and nothing was collected under that name",
            hint="see 'serving endpoints list'",
        ) from None
    deployment = record.spec.get("deployment") or {}
    recorded = deployment.get("model_data_dir")
    if recorded:
        return Path(recorded)
    folder = Path(model_data_folder(ws))
    if layout.endpoint_dir(folder, name).is_dir():  # collected by an earlier deployment
        return folder
    raise UserInputError(
        f"endpoint {name} does not collect model data",
        hint="deploy it with --collect-model-data (docs/data-collection.md)",
    )


@click.command("data")
@click.argument("name")
@click.option(
    "--since",
    metavar="WHEN",
    help="Only records from this time on: an ISO date or time (UTC unless given) or a "
    "duration back from now (30m, 6h, 1d, 2w).",
)
@click.option("--designation", help="Only this designation (inputs, predictions, ...).")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one merged file per designation here, sorted by time "
    "(<endpoint>-<designation>.jsonl or .csv); without it, only the counts are shown.",
)
@click.option(
    "--file-format",
    "fmt",
    type=click.Choice(exports.FORMATS),
    default="jsonl",
    show_default=True,
    help="File format of --output: the records as stored, or one CSV line per data row.",
)
@shows
def data(
    name: str, since: str | None, designation: str | None, output: Path | None, fmt: str
) -> None:
    """Export the inputs and predictions endpoint NAME collected (docs/data-collection.md)."""
    ws = workspace()
    root = data_folder(ws, name)
    after = layout.parse_since(since) if since else None
    if output is None:  # counting streams; an export reads the records once, for both
        records = None
        counts = exports.counts(root, name, designation=designation, since=after)
    else:
        records = exports.load(root, name, designation=designation, since=after)
        counts = exports.tally(records)
    if not counts:
        window = f" since {after.isoformat(timespec='seconds')}" if after else ""
        which = f" ({designation})" if designation else ""
        raise NotFoundError(
            f"nothing collected for endpoint {name}{which}{window} in {root}",
            hint="ModelDataCollector.collect() in the score.py records once the endpoint "
            "was deployed with --collect-model-data",
        )
    if output is None or records is None:
        emit_list([c.to_dict() for c in counts], COUNT_COLUMNS)
        return
    with step_progress(f"exporting the model data of {name}") as progress:
        written = exports.export(records, name, output, fmt=fmt, progress=progress)
    if is_json():
        print_json(
            {
                "counts": [c.to_dict() for c in counts],
                "files": [
                    {"path": str(f.path), "designation": f.designation, "records": f.records,
                     "rows": f.rows}
                    for f in written
                ],
            }
        )  # fmt: skip
        return
    emit_list([c.to_dict() for c in counts], COUNT_COLUMNS)
    for item in written:
        say(f"wrote {item.path}: {item.records} records, {item.rows} rows")

"""`serving models ...`: the model registry from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from serving.cli.common import (
    any_workspace,
    byte_progress,
    emit_list,
    emit_one,
    emit_or_say,
    err,
    is_json,
    say,
    shows,
    step_progress,
    workspace,
)
from serving.convert import PARITY, ConvertOptions, convert, describe
from serving.errors import UserInputError
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
    ws = any_workspace()
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
        if not key.strip():
            raise UserInputError(f"invalid tag filter {item!r}: expected KEY or KEY=VALUE")
        wanted[key.strip()] = value if sep else None
    records = any_workspace().models.list(name=name, tags=wanted, latest=latest, run_id=run_id)
    emit_list([r.to_dict() for r in records], LIST_COLUMNS)


@models.command("show")
@click.argument("ref", metavar="NAME[:VERSION]")
@shows
def show(ref: str) -> None:
    """Show one model version (the latest when no version is given)."""
    ws = any_workspace()
    record = ws.models.get(parse_ref(ref))
    data = record.to_dict()
    data["endpoints"] = ws.models.endpoints_using(record)
    report = record.properties.get(PARITY)
    if report is not None:
        # the stored JSON is unreadable in a table: shown as lines of its own instead
        if is_json():
            data["parity"] = json.loads(report)
        else:
            data["properties"] = {k: v for k, v in record.properties.items() if k != PARITY}
            data["parity"] = describe(report)
    emit_one(data)


@models.command("download")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("target", type=click.Path(path_type=Path))
@shows
def download(ref: str, target: Path) -> None:
    """Write the model's file or folder into TARGET, verifying every hash."""
    dest = any_workspace().models.download(parse_ref(ref), target)
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
    record = any_workspace().models.update(
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
    record = any_workspace().models.delete(parse_ref(ref), force=force)
    emit_or_say({"deleted": record.ref}, f"deleted {record.ref}")


@models.command("convert")
@click.argument("ref", metavar="NAME:VERSION")
@click.option("--to", "target", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="Target format.")  # fmt: skip
@click.option("--onnx", "onnx_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Gate and register this ONNX file, converted elsewhere, instead.")  # fmt: skip
@click.option("--sample", type=click.Path(path_type=Path), metavar="FILE",
              help="Rows to compare on (.npy, .csv or .json); else synthesised.")  # fmt: skip
@click.option("--rows", type=int, default=100, show_default=True,
              help="Rows synthesised when no --sample is given.")  # fmt: skip
@click.option("--atol", type=float, default=1e-5, show_default=True, help="Absolute tolerance.")
@click.option("--rtol", type=float, default=1e-5, show_default=True, help="Relative tolerance.")
@click.option("--opset", type=int, default=17, show_default=True, help="ai.onnx opset to target.")
@shows
def convert_model(
    ref: str,
    target: str,
    onnx_file: Path | None,
    sample: Path | None,
    rows: int,
    atol: float,
    rtol: float,
    opset: int,
) -> None:
    """Convert model NAME:VERSION to ONNX and register it as a new version of NAME.

    scikit-learn models are converted with skl2onnx, TensorFlow/Keras models with tf2onnx.
    The converted model must answer the sample like the original (labels equal, other
    outputs within |Δ| <= atol + rtol*|original|), else nothing is registered. Without
    --sample, ROWS rows of standard-normal floats of the model's input shape are used.
    """
    options = ConvertOptions(atol, rtol, sample, rows, opset, onnx_file)
    ws = workspace()
    with step_progress(f"converting {ref} to {target}") as show:
        done = convert(ws.models, parse_ref(ref), options, show)
    report = done.report.to_json()
    if not is_json():
        for line in describe(report).splitlines():
            say(f"  parity {line}", console=err)
    emit_or_say(done.record.to_dict() | {"parity": json.loads(report)}, done.record.ref)

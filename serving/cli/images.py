"""`serving images ...`: base images, build contexts, model images."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from serving.catalog import resolve_env
from serving.cli.common import (
    any_workspace,
    app_inputs,
    emit_list,
    emit_one,
    emit_or_say,
    is_json,
    notice,
    options,
    say,
    shows,
    step_progress,
    workspace,
)
from serving.config import PlatformSettings
from serving.deploy.service import check_script, resolve_models
from serving.errors import ConflictError
from serving.images.bootstrap import bootstrap_base
from serving.images.build import ImageBuilder
from serving.images.engine import docker_session, find_image
from serving.images.flavours import AUTO, FLAVOURS
from serving.images.model import BuildRequest
from serving.images.package import package_image
from serving.images.platform_image import build_platform_image
from serving.registry.images import parse_image_tag

LIST_COLUMNS = [
    ("id", "IMAGE"),
    ("tag", "TAG"),
    ("models", "MODELS"),
    ("flavour", "FLAVOUR"),
    ("size", "SIZE"),
    ("created_at", "CREATED"),
]


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@click.group("images")
def images() -> None:
    """Build model images (Docker) and the base images they start from."""


@images.command("bootstrap")
@click.option(
    "--python",
    "python",
    default="3.11",
    show_default=True,
    help="Python version (it decides the Debian suite).",
)
@click.option(
    "--include",
    "include",
    multiple=True,
    metavar="PACKAGE",
    help="Extra Debian package to put in the base (repeatable).",
)
@click.option("--with-apt", is_flag=True, help="Keep apt in the image (larger).")
@click.option("--force", is_flag=True, help="Rebuild even if the base exists.")
@shows
def bootstrap(python: str, include: tuple[str, ...], with_apt: bool, force: bool) -> None:
    """Build a base image with no registry, from this machine's Debian mirror."""
    with (
        docker_session(PlatformSettings.from_env()) as client,
        step_progress(f"bootstrapping a Python {python} base image") as progress,
    ):
        base = bootstrap_base(
            client, python, include=include, with_apt=with_apt, force=force, progress=progress
        )
    data = {
        "tag": base.tag,
        "image_id": base.image_id,
        "python": base.python,
        "suite": base.suite,
        "size_bytes": base.size_bytes,
        "seconds": round(base.seconds, 1),
        "reused": base.reused,
    }
    if is_json():
        emit_one(data)
        return
    how = "reused" if base.reused else f"built in {base.seconds:.0f} s"
    say(f"{base.tag} ({_mb(base.size_bytes)}, {how})")


def takes_build_request(fn: Callable[..., None]) -> Callable[..., None]:
    """`images package` and `images build`: the model image options, handed to the command
    as one checked :class:`BuildRequest` (``request``)."""

    @functools.wraps(fn)
    def command(
        models: tuple[str, ...],
        entry_script: Path,
        source_dir: Path | None,
        env: str,
        flavour: str,
        tag: str | None,
        **rest: Any,
    ) -> None:
        ws = workspace()
        records = resolve_models(ws, list(models))
        script, source = check_script(entry_script, source_dir)
        spec = resolve_env(ws, env).spec
        for line in spec.notices:
            notice(line)
        name, label = parse_image_tag(tag) if tag else (None, None)
        request = BuildRequest(
            records, script, source, spec, name=name, label=label, flavour=flavour
        )
        fn(request, **rest)

    return options(
        app_inputs,
        click.option(
            "--flavour",
            type=click.Choice([AUTO, *FLAVOURS]),
            default=AUTO,
            show_default=True,
            help="Runtime flavour (auto: onnx if onnxruntime).",
        ),
        click.option(
            "--tag",
            metavar="NAME[:LABEL]",
            help="Image name (default serving/<model>) and label (default: version).",
        ),
    )(command)


@images.command("package")
@takes_build_request
@click.option(
    "--output",
    "-O",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write (absent or empty).",
)
@shows
def package(request: BuildRequest, output: Path) -> None:
    """Write a build context (Dockerfile, wheelhouse, models, code) and build nothing."""
    with step_progress("writing the build context") as progress:
        result = package_image(workspace(), request, output, progress=progress)
    if is_json():
        emit_one(
            {
                "path": str(result.path),
                "dockerfile": str(result.dockerfile),
                "base_image": result.base_image,
                "flavour": result.flavour,
                "tag": result.tag,
            }
        )
        return
    say(f"wrote {result.path}")
    say(f"build it with: docker build -t {result.tag} {result.path}")


@images.command("build")
@takes_build_request
@shows
def build(request: BuildRequest) -> None:
    """Build a model image with Docker and record it."""
    with step_progress(f"building {request.repository}") as progress:
        built = ImageBuilder(workspace()).build(request, progress)
    data = built.record.to_dict() | {
        "reused": built.reused,
        "env_reused": built.env_reused,
        "seconds": round(built.seconds, 1),
    }
    if is_json():
        emit_one(data)
        return
    how = "reused (same inputs)" if built.reused else f"built in {built.seconds:.1f} s"
    env_note = "environment layer reused" if built.env_reused else "environment layer built"
    say(f"{built.record.tag} ({_mb(built.record.size_bytes)}, {how}; {env_note})")


@images.command("list")
@click.option("--name", "-n", help="Only images of this name.")
@shows
def list_images(name: str | None) -> None:
    """List recorded model images."""
    records = any_workspace().images.list(name=name)
    rows = [r.to_dict() | {"size": _mb(r.size_bytes)} for r in records]
    emit_list(rows, LIST_COLUMNS)


@images.command("show")
@click.argument("ref", metavar="NAME[:VERSION]|TAG")
@shows
def show(ref: str) -> None:
    """Show one image: models, hashes, labels."""
    emit_one(any_workspace().images.get(ref).to_dict())


@images.command("delete")
@click.argument("ref", metavar="NAME[:VERSION]|TAG")
@click.option("--force", is_flag=True, help="Delete even if an endpoint runs it.")
@shows
def delete(ref: str, force: bool) -> None:
    """Remove an image from Docker and from the records."""
    ws = workspace()
    record = ws.images.get(ref)
    users = [e.name for e in ws.endpoints.list() if e.runtime.get("image_ref") == record.ref]
    if users and not force:
        raise ConflictError(
            f"image {record.ref} is used by endpoint(s) {', '.join(users)}",
            hint="delete or update those endpoints first, or pass --force",
        )
    with docker_session(PlatformSettings.from_env()) as client:
        if find_image(client, record.image_id) is not None:
            client.images.remove(record.image_id, force=True)
    ws.images.delete(record)
    emit_or_say({"deleted": record.ref}, f"deleted {record.ref} ({record.tag})")


@images.command("platform")
@click.option(
    "--tag", default=None, metavar="NAME[:LABEL]", help="Tag (default serving-platform:<version>)."
)
@click.option(
    "--output",
    "-O",
    type=click.Path(path_type=Path),
    help="Write the build context here instead of building.",
)
@shows
def platform(tag: str | None, output: Path | None) -> None:
    """Build the platform's own image (the top-level Dockerfile) with no registry."""
    with step_progress("building the platform image") as progress:
        result = build_platform_image(workspace(), tag=tag, output=output, progress=progress)
    if is_json():
        emit_one(result)
    elif output is not None:
        say(f"wrote {output}; build it with: docker build -t {result['tag']} {output}")
    else:
        say(f"{result['tag']} ({_mb(int(result['size_bytes']))})")

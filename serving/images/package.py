"""``serving images package``: write a self-contained build context and build nothing.

The folder holds one Dockerfile (runtime flavour, environment and model stages) and all it
copies: ``runtime/wheelhouse/`` and ``wheelhouse/`` (the runtime's and the environment's
wheels, resolved on this machine), ``runtime/serving/`` (the platform's runtime code),
``azureml-models/`` and ``azureml-app/``. ``docker build`` on it needs no
network, only the base image named in ``ARG BASE_IMAGE`` (override with ``--build-arg``).
Azure's ``Model.package(generate_dockerfile=True)`` gave the same kind of folder.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from serving.config import PlatformSettings
from serving.environments import EnvSpec
from serving.errors import BackendUnavailableError, ConflictError
from serving.images.bases import (
    DEFAULT_GLIBC,
    BaseFacts,
    ResolvedBase,
    check_python,
    probe,
    resolve_base,
)
from serving.images.build import wheel_root
from serving.images.context import AppContext, write_app_context
from serving.images.dockerfile import (
    ENV_STAGE,
    RUNTIME_STAGE,
    combined,
    environment_stages,
    flavour_stages,
    header,
)
from serving.images.engine import Progress, docker_client
from serving.images.environment import env_wheelhouse, write_environment_context
from serving.images.flavours import (
    RUNTIME_WHEELS,
    Flavour,
    choose_flavour,
    write_platform_code,
)
from serving.images.model import BuildRequest, model_layers
from serving.images.wheelhouse import ensure_wheelhouse, link_wheels
from serving.workspace import Workspace

if TYPE_CHECKING:
    from docker import DockerClient


@dataclass(frozen=True)
class PackageResult:
    path: Path
    dockerfile: Path
    base_image: str
    flavour: str
    tag: str
    """A tag to build it with (``docker build -t TAG PATH``)."""


def _check_output(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConflictError(
            f"{output} already exists and is not empty", hint="choose a new --output folder"
        )


def _client(settings: PlatformSettings, progress: Progress) -> DockerClient | None:
    try:
        return docker_client(settings)
    except BackendUnavailableError:
        progress("no Docker Engine here: the base image is not inspected")
        return None


def _facts(
    client: DockerClient | None, base: ResolvedBase, python: str, progress: Progress
) -> BaseFacts:
    if client is not None and base.image_id is not None:
        facts = probe(client, base)
        check_python(base, facts, python)
        return facts
    progress(f"assuming {base.ref} has Python {python} and glibc {DEFAULT_GLIBC} or newer")
    return BaseFacts(python, DEFAULT_GLIBC, platform.machine() or "x86_64")


def _inspect_base(
    settings: PlatformSettings, python: str, progress: Progress
) -> tuple[ResolvedBase, BaseFacts]:
    client = _client(settings, progress)
    try:
        base = resolve_base(client, python, settings, progress, pull_missing=False)
        return base, _facts(client, base, python, progress)
    finally:
        if client is not None:
            client.close()


def _wheels(
    ws: Workspace,
    spec: EnvSpec,
    flavour: Flavour,
    facts: BaseFacts,
    index_url: str | None,
    progress: Progress,
) -> tuple[Path, Path]:
    """The runtime's wheelhouse and the environment's (runtime included)."""
    root = wheel_root(ws)
    runtime = ensure_wheelhouse(
        root, flavour.requirements, facts, index_url=index_url, progress=progress
    )
    env = env_wheelhouse(root, spec, flavour, facts, index_url=index_url, progress=progress)
    return runtime, env


def _dockerfile(
    request: BuildRequest, app: AppContext, flavour: Flavour, base: str, tag: str
) -> str:
    spec = request.env
    created = datetime.now(UTC)
    layers = model_layers(
        request, app, env_image_id="(package)", flavour=flavour.name, base=base, created=created
    )
    head = header(
        f"Model image: {', '.join(app.models)} with {app.entry_script}, environment "
        f"{spec.name} ({spec.short_hash}), flavour {flavour.name}.",
        [
            "",
            f"Build (no network needed): docker build -t {tag} .",
            f"It starts FROM {base}; pass --build-arg BASE_IMAGE=... for another base with",
            f"Python {spec.python}. Layers: base, runtime, environment, platform code, models,",
            "score.py and source.",
        ],
        created,
    )
    return combined(
        head,
        flavour.name,
        flavour_stages(flavour.dockerfile, base),
        environment_stages(RUNTIME_STAGE, spec),
        layers.dockerfile(ENV_STAGE),
    )


def package_image(
    ws: Workspace,
    request: BuildRequest,
    output: Path,
    *,
    settings: PlatformSettings | None = None,
    progress: Progress,
) -> PackageResult:
    """Write the build context for ``request`` into ``output`` (absent or empty)."""
    settings = settings or PlatformSettings.from_env()
    output = Path(output)
    _check_output(output)
    spec = request.env
    base, facts = _inspect_base(settings, spec.python, progress)
    flavour = choose_flavour(spec, request.flavour)
    runtime_wheels, env_wheels = _wheels(ws, spec, flavour, facts, settings.pip_index_url, progress)
    output.mkdir(parents=True, exist_ok=True)
    progress(f"writing the build context into {output}")
    link_wheels(runtime_wheels, output / RUNTIME_WHEELS)
    write_environment_context(output, env_wheels)
    write_platform_code(output / "runtime", spec.python)
    app = write_app_context(ws, output, request.models, request.entry_script, request.source_dir)
    tag = f"{request.repository}:{request.label or 'latest'}"
    dockerfile = output / "Dockerfile"
    dockerfile.write_text(_dockerfile(request, app, flavour, base.ref, tag))
    return PackageResult(output, dockerfile, base.ref, flavour.name, tag)

"""Environment images: a runtime flavour plus one environment's venv, keyed by the
environment's content hash, so every model image sharing an environment reuses it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from serving.environments import EnvSpec
from serving.images.bases import BaseFacts
from serving.images.context import build_in_folder
from serving.images.dockerfile import environment_stages, install_requirements
from serving.images.engine import Progress, find_image
from serving.images.flavours import Flavour, FlavourImage
from serving.images.wheelhouse import ensure_wheelhouse, link_wheels

if TYPE_CHECKING:
    from docker import DockerClient

REPOSITORY = "serving-env"


@dataclass(frozen=True)
class EnvImage:
    tag: str
    image_id: str
    reused: bool
    seconds: float


def env_tag(spec: EnvSpec, dockerfile: str) -> str:
    """``serving-env:py<X.Y>-<environment hash>-<stage hash>``; the stage text names the
    flavour image, so a new runtime gives new environment images."""
    stage = hashlib.sha256(dockerfile.encode()).hexdigest()[:8]
    return f"{REPOSITORY}:py{spec.python}-{spec.content_hash()[:12]}-{stage}"


def env_wheelhouse(
    wheel_root: Path,
    spec: EnvSpec,
    flavour: Flavour,
    facts: BaseFacts,
    *,
    index_url: str | None,
    progress: Progress,
) -> Path:
    """The environment's wheels (with the runtime's, resolved together) for the flavour."""
    return ensure_wheelhouse(
        wheel_root,
        install_requirements(spec, flavour.requirements),
        facts,
        pip_options=spec.pip_options,
        index_url=index_url,
        progress=progress,
    )


def write_environment_context(dest: Path, wheels: Path) -> None:
    """``wheelhouse/`` (wheels and the requirements.txt to install) under ``dest``."""
    link_wheels(wheels, dest / "wheelhouse")


def ensure_environment(
    client: DockerClient,
    wheel_root: Path,
    spec: EnvSpec,
    flavour: FlavourImage,
    facts: Callable[[], BaseFacts],
    *,
    index_url: str | None,
    progress: Progress,
) -> EnvImage:
    """Build (or reuse) the environment image for ``spec`` on ``flavour``; ``facts`` is
    only asked for when it must be built."""
    started = time.monotonic()
    dockerfile = environment_stages(flavour.tag, spec)
    tag = env_tag(spec, dockerfile)
    existing = find_image(client, tag)
    if existing is not None:
        progress(
            f"environment {spec.name} ({spec.short_hash}): reusing the environment layer {tag}"
        )
        return EnvImage(tag, str(existing.id), True, time.monotonic() - started)
    progress(f"environment {spec.name} ({spec.short_hash}): building {tag}")
    wheels = env_wheelhouse(
        wheel_root, spec, flavour.flavour, facts(), index_url=index_url, progress=progress
    )

    def fill(context: Path) -> None:
        (context / "Dockerfile").write_text(dockerfile)
        write_environment_context(context, wheels)

    out = build_in_folder(client, fill, tag=tag, progress=progress)
    return EnvImage(tag, out.image_id, False, time.monotonic() - started)

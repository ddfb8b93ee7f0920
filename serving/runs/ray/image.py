"""The image a Ray node runs: the run's environment image with ``ray[default]`` added.

A node executes the run's script, so it needs the environment's packages; it also needs
Ray itself, at the same version on every node and matching :data:`RAY_VERSION`. Rather
than a second way of making images, the node image is the environment built by the
platform's own image builder (wheelhouse from PyPI, then an offline install in the build)
with one more requirement line, so it is cached and labelled like every environment image.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING

from serving.environments import EnvSpec
from serving.runs.execution import Progress

if TYPE_CHECKING:
    from serving.workspace import Workspace

RAY_VERSION = "2.60.0"
RAY_REQUIREMENT = f"ray[default]=={RAY_VERSION}"


def node_spec(spec: EnvSpec | None) -> EnvSpec:
    """``spec`` (None: the runtime alone on this interpreter's Python) plus Ray."""
    if spec is None:
        python = f"{sys.version_info[0]}.{sys.version_info[1]}"
        spec = EnvSpec(name="ray-node", python=python)
    kept = tuple(r for r in spec.requirements if not _is_ray(r))
    return dataclasses.replace(
        spec, name=f"{spec.name}+ray", requirements=(*kept, RAY_REQUIREMENT), check=False
    )


def _is_ray(requirement: str) -> bool:
    name = requirement.split(";")[0].split("[")[0].split("=")[0].split("<")[0].split(">")[0]
    return name.strip().lower() == "ray"


def build_node_image(ws: Workspace, spec: EnvSpec | None, progress: Progress) -> str:
    """The node image's tag for ``spec``, built when missing (one build at a time)."""
    from serving.images.build import ImageBuilder  # the Docker SDK: only when building
    from serving.runs.docker_exec import environment_image

    return environment_image(ImageBuilder(ws), node_spec(spec), progress)

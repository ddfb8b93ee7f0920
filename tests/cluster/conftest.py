"""Fixtures for the cluster target's tests: the real Docker Engine (its absence fails the
tests, it is never a skip), the bootstrapped base image, a trained digits model, and a
scratch workspace whose endpoints, containers and images are removed afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.helpers import ROOT

if TYPE_CHECKING:
    from docker import DockerClient

SKLEARN = ROOT / "scoring_templates" / "sklearn"
SAMPLE = SKLEARN / "sample-request.json"
APP = Path(__file__).resolve().parent / "app"
CLUSTER_TIMEOUT = 900
"""Seconds for a docker test with its fixtures: the first one may bootstrap and build."""


def remove_workspace_debris(client: DockerClient, workspace: Path, prefix: str) -> None:
    """Containers and networks labelled with ``workspace``, and model images named
    ``serving/<prefix>...`` (what a test module made)."""
    label = f"serving.workspace={workspace.resolve()}"
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": label}):
        network.remove()
    for image in client.images.list():
        if any(tag.startswith(f"serving/{prefix}") for tag in image.tags):
            client.images.remove(image.id, force=True)

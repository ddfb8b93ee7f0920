"""Fixtures for the cluster target's tests: the real Docker Engine (its absence fails the
tests, it is never a skip), the bootstrapped base image, a trained digits model, and a
scratch workspace whose endpoints, containers and images are removed afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.errors import BackendUnavailableError
from serving.images import bootstrap_base, docker_client
from tests.helpers import ROOT

if TYPE_CHECKING:
    from docker import DockerClient

SKLEARN = ROOT / "scoring_templates" / "sklearn"
SAMPLE = SKLEARN / "sample-request.json"
APP = Path(__file__).resolve().parent / "app"
CLUSTER_TIMEOUT = 900
"""Seconds for a docker test with its fixtures: the first one may bootstrap and build."""


@pytest.fixture(scope="session")
def cluster_engine() -> Iterator[DockerClient]:
    """The Docker Engine; its absence fails the test (CI must run these for real)."""
    try:
        client = docker_client()
    except BackendUnavailableError as exc:
        pytest.fail(f"cluster tests need a running Docker Engine: {exc.one_line()}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def cluster_base(cluster_engine: DockerClient) -> str:
    """The bootstrapped Python 3.11 base (built on first use, kept afterwards)."""
    return bootstrap_base(cluster_engine, "3.11", progress=lambda _line: None).tag


@pytest.fixture(scope="session")
def digits_pkl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits model made by the scikit-learn template's own train.py."""
    out = tmp_path_factory.mktemp("cluster-model") / "model.pkl"
    subprocess.run(
        [sys.executable, str(SKLEARN / "train.py"), "--output", str(out)],
        check=True,
        capture_output=True,
    )
    return out


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

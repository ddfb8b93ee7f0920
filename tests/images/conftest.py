"""Fixtures for image and docker-target tests: the real Docker Engine, never a mock.

An unreachable engine fails these tests (it is not a skip): CI machines run one. The base
image is bootstrapped once (or reused when this machine already has it) and left in place
as the cache; the digits image is built once per session and shared. Model images and
containers recorded in this session's workspaces are removed at its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from serving.catalog import parse_env_file
from serving.environments import EnvSpec
from serving.errors import BackendUnavailableError, ServingError
from serving.images import BuildRequest, BuiltImage, ImageBuilder, docker_client
from serving.images.engine import find_image
from serving.workspace import Workspace
from tests.helpers import SKLEARN


@pytest.fixture(scope="session", autouse=True)
def _remove_session_images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end, remove the model images recorded in this session's workspaces and the
    containers labelled with them; the base, runtime and environment images stay as the
    cache (other sessions on the machine are left alone)."""
    yield
    basetemp = tmp_path_factory.getbasetemp()
    try:
        client = docker_client()
    except BackendUnavailableError:
        return
    try:
        for container in client.containers.list(all=True, filters={"label": "serving.workspace"}):
            if str(basetemp) in str(container.labels.get("serving.workspace", "")):
                container.remove(force=True)
        for db in basetemp.rglob("workspace.db"):
            try:
                records = Workspace.open(db.parent).images.list()
            except ServingError:
                continue  # a test's stand-in file named workspace.db, not a workspace
            for record in records:
                if find_image(client, record.image_id) is not None:
                    client.images.remove(record.image_id, force=True)
        for image in client.images.list():
            if any(tag.startswith("test-pkg/") for tag in image.tags):
                client.images.remove(image.id, force=True)
    finally:
        client.close()


@dataclass(frozen=True)
class Digits:
    ws: Workspace
    built: BuiltImage
    env: EnvSpec
    model: Path


def sklearn_env() -> EnvSpec:
    return parse_env_file(SKLEARN / "env.yml")


@pytest.fixture(scope="session")
def digits(
    tmp_path_factory: pytest.TempPathFactory, base_image: str, template_model: Path
) -> Digits:
    """The scikit-learn digits image, built once for the session."""
    ws = Workspace.open(tmp_path_factory.mktemp("digits-ws"), create=True)
    record = ws.models.register(template_model, "digits")
    spec = sklearn_env()
    built = ImageBuilder(ws).build(
        BuildRequest((record,), SKLEARN / "score.py", None, spec), lambda line: None
    )
    return Digits(ws, built, spec, template_model)

"""``serving deploy --target kubernetes --output DIR`` for the digits example: the model image
is built here (real Docker), the manifests are written, pass the typed validation and point
at that image, whose port and routes they probe; nothing is deployed or recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from serving.deploy.kubernetes.validate import validate
from serving.errors import BackendUnavailableError
from serving.images import bootstrap_base, docker_client
from serving.images.model import CONTAINER_PORT
from tests.helpers import SKLEARN, CliResult

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]
REGISTRY = "registry.example.com/team"


@pytest.fixture(scope="module")
def k8s_engine() -> Iterator[DockerClient]:
    try:
        client = docker_client()
    except BackendUnavailableError as exc:
        pytest.fail(f"this test needs a running Docker Engine: {exc.one_line()}")
    bootstrap_base(client, "3.11", progress=lambda _line: None)
    yield client
    for image in client.images.list():
        if any("serving/k8s-digits" in tag for tag in image.tags):
            client.images.remove(image.id, force=True)
    client.close()


def test_k8s_output_writes_checked_manifests_for_digits(
    cli: Callable[..., CliResult], k8s_engine: DockerClient, tmp_path: Path
) -> None:
    model = tmp_path / "model.pkl"
    subprocess.run(
        [sys.executable, str(SKLEARN / "train.py"), "--output", str(model)],
        check=True,
        capture_output=True,
    )
    assert cli("models", "register", model, "--name", "digits").code == 0
    out = tmp_path / "manifests"
    result = cli(
        "deploy", "k8s-digits", "-m", "digits:1", "--entry-script", SKLEARN / "score.py",
        "--env", SKLEARN / "env.yml", "--target", "kubernetes", "--output", out, "--auth",
        "--replicas", "2", "--image-registry", REGISTRY, "-o", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict) and len(data["keys"]) == 2
    docs = {}
    for name in data["manifests"]:
        doc = yaml.safe_load(Path(name).read_text())
        validate(doc)
        docs[doc["kind"]] = doc
    assert sorted(docs) == ["Deployment", "HorizontalPodAutoscaler", "Secret", "Service"]
    assert docs["Secret"]["stringData"]["keys"].split() == data["keys"]

    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith(f"{REGISTRY}/serving/k8s-digits:")
    image = k8s_engine.images.get(container["image"])  # built and tagged here
    config = image.attrs["Config"]
    assert f"{CONTAINER_PORT}/tcp" in config["ExposedPorts"]
    assert container["ports"][0]["containerPort"] == CONTAINER_PORT
    assert "/health/ready" in " ".join(config["Healthcheck"]["Test"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert "digits:1" in json.loads(image.labels["serving.models"])
    assert (
        docs["Deployment"]["spec"]["template"]["metadata"]["labels"]["models.serving.io/digits"]
        == "1"
    )
    assert cli("endpoints", "list", "-o", "json").json() == []  # nothing deployed

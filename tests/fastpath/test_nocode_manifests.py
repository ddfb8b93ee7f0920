"""No-code deployments off the server: the request and its record, the model image's
settings (what every Docker-based target, cluster replicas and Kubernetes pods run) and
the Kubernetes manifests, which pass the typed validation. No Docker, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from serving.config import ServerSettings
from serving.deploy.base import DeployRequest
from serving.deploy.inputs import new_request, request_of
from serving.deploy.kubernetes.manifests import manifests
from serving.deploy.kubernetes.target import kubernetes_spec
from serving.deploy.kubernetes.validate import validate_all
from serving.errors import UserInputError
from serving.images.context import write_code_context
from serving.images.model import BuildRequest, model_layers
from serving.workspace import Workspace
from tests.fastpath.nocode_models import Digits, make_digits


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    return make_digits(tmp_path_factory.mktemp("digits"))


def _onnx_request(ws: Workspace, digits: Digits) -> DeployRequest:
    ws.models.register(digits.onnx, "digits-onnx")
    return new_request(ws, "nc-k8s", True, ["digits-onnx"], None, None)


def test_request_is_no_code_in_the_built_in_env_and_survives_its_record(
    ws: Workspace, digits: Digits
) -> None:
    request = _onnx_request(ws, digits)
    assert request.nocode == "onnx" and request.entry_script is None
    assert request.env.name == "nocode-onnx"
    assert set(request.env.requirements) == {"numpy", "onnxruntime"}
    spec = request.to_spec()
    assert spec["nocode"] == "onnx" and spec["entry_script"] is None
    record = ws.endpoints.create(request.name, "kubernetes", spec, list(request.keys), [])
    assert request_of(ws, record) == request


def test_image_settings_name_the_framework_and_the_model(
    ws: Workspace, digits: Digits, tmp_path: Path
) -> None:
    request = _onnx_request(ws, digits)
    build = BuildRequest(request.models, None, None, request.env, nocode=request.nocode)
    app = write_code_context(tmp_path / "context", request.models, None, None)
    assert not any((tmp_path / "context" / "azureml-app").iterdir())  # no code at all
    layers = model_layers(
        build, app, env_image_id="sha256:0", flavour="onnx", base="b", created=datetime.now(UTC)
    )
    settings = ServerSettings.from_env(layers.env)
    assert settings.nocode_framework == "onnx"
    assert (settings.model_name, settings.model_version) == ("digits-onnx", "1")
    assert str(settings.model_dir).endswith("azureml-models/digits-onnx/1")
    assert layers.labels["serving.nocode"] == "onnx"


def test_kubernetes_manifests_of_a_no_code_deployment(ws: Workspace, digits: Digits) -> None:
    request = _onnx_request(ws, digits)
    docs = manifests(kubernetes_spec(request, "registry.example.com/serving/nc-k8s:1"))
    assert [type(t).__name__ for t in validate_all(docs)][:3] == [
        "V1Secret",
        "V1Deployment",
        "V1Service",
    ]
    container = docs[1]["spec"]["template"]["spec"]["containers"][0]
    names = {e["name"] for e in container["env"]}
    assert "AZUREML_ENTRY_SCRIPT" not in names  # the image's ENV decides: no-code


def test_no_code_refuses_a_source_dir(ws: Workspace, digits: Digits, tmp_path: Path) -> None:
    ws.models.register(digits.onnx, "digits-onnx")
    with pytest.raises(UserInputError, match="--source-dir needs an --entry-script"):
        new_request(ws, "nc-x", False, ["digits-onnx"], None, None, tmp_path)

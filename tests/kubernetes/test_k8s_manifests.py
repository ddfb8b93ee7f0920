"""Kubernetes manifests for the digits example, checked against the ``kubernetes`` client's
typed models (unknown or misspelled fields fail) and against what the image serves: probe
paths, ports, labels. No cluster is needed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving.catalog import parse_env_file
from serving.deploy.base import DeployRequest
from serving.deploy.kubernetes.manifests import manifests
from serving.deploy.kubernetes.target import kubernetes_spec, write_manifests
from serving.deploy.kubernetes.validate import ManifestError, validate, validate_all
from serving.deploy.spec import DeploymentSpec
from serving.images.model import CONTAINER_PORT
from serving.server.handler import ROUTES
from serving.workspace import Workspace
from tests.helpers import SKLEARN

FIXTURES = Path(__file__).resolve().parent / "fixtures"
IMAGE = "registry.example.com/team/serving/digits-svc:1"


def _digits_docs(ws: Workspace, tmp_path: Path, **options: Any) -> list[dict[str, Any]]:
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(b"not a real model: the manifests only need its record")
    model = ws.models.register(model_file, "digits")
    request = DeployRequest(
        name="digits-svc",
        models=(model,),
        entry_script=SKLEARN / "score.py",
        source_dir=None,
        env=parse_env_file(SKLEARN / "env.yml"),
        keys=("key-one", "key-two"),
        deployment=DeploymentSpec.from_options(
            {"replicas": 2, "cpu": 0.5, "memory": "1g", **options}
        ),
    )
    return manifests(kubernetes_spec(request, IMAGE))


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs}


def test_k8s_digits_manifests_pass_typed_validation(ws: Workspace, tmp_path: Path) -> None:
    docs = _digits_docs(ws, tmp_path)
    assert [d["kind"] for d in docs] == [
        "Secret",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    ]
    typed = validate_all(docs)
    assert [type(t).__name__ for t in typed] == [
        "V1Secret",
        "V1Deployment",
        "V1Service",
        "V2HorizontalPodAutoscaler",
    ]
    written = write_manifests(tmp_path / "out", docs)
    assert [p.name for p in written][1] == "02-deployment.yaml"
    assert written[0].stat().st_mode & 0o777 == 0o600  # the Secret holds the keys
    for path in written:  # what is written is what was checked
        validate(yaml.safe_load(path.read_text()))


def test_k8s_probes_ports_and_labels_match_the_image(ws: Workspace, tmp_path: Path) -> None:
    docs = _by_kind(_digits_docs(ws, tmp_path))
    deployment, service, hpa, secret = (
        docs["Deployment"],
        docs["Service"],
        docs["HorizontalPodAutoscaler"],
        docs["Secret"],
    )
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == IMAGE
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in ROUTES
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["readinessProbe"]["initialDelaySeconds"] > 0
    assert container["ports"] == [
        {"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}
    ]
    assert f"0.0.0.0:{CONTAINER_PORT}" in container["command"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"

    selector = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= template_labels.items()
    for doc in docs.values():
        assert doc["metadata"]["labels"]["models.serving.io/digits"] == "1"
        assert doc["metadata"]["annotations"]["serving.io/models"] == "digits:1"
    assert template_labels["models.serving.io/digits"] == "1"
    assert "models.serving.io/digits" not in selector  # a new version must not orphan pods

    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1024Mi"}
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}

    assert secret["stringData"]["keys"] == "key-one\nkey-two\n"
    assert pod["volumes"][0]["secret"]["secretName"] == secret["metadata"]["name"]
    env = {e["name"]: e for e in container["env"]}
    mount = container["volumeMounts"][0]["mountPath"]
    assert env["SERVING_KEYS_FILE"]["value"] == f"{mount}/keys"
    assert env["SERVING_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "SERVING_KEYS" not in env  # keys come from the Secret only


def test_k8s_misspelled_field_in_a_fixture_fails() -> None:
    doc = yaml.safe_load((FIXTURES / "deployment-misspelled.yaml").read_text())
    with pytest.raises(ManifestError, match="readinesProbe"):
        validate(doc)
    fixed = copy.deepcopy(doc)
    container = fixed["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"] = container.pop("readinesProbe")
    validate(fixed)


def test_k8s_wrong_type_in_a_fixture_fails() -> None:
    doc = yaml.safe_load((FIXTURES / "hpa-wrong-type.yaml").read_text())
    with pytest.raises(ManifestError, match="maxReplicas"):
        validate(doc)


def test_k8s_a_typo_in_generated_manifests_fails(ws: Workspace, tmp_path: Path) -> None:
    docs = _by_kind(_digits_docs(ws, tmp_path))
    bad = copy.deepcopy(docs["Deployment"])
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerport"] = 5001
    with pytest.raises(ManifestError, match="containerport"):
        validate(bad)
    bad = copy.deepcopy(docs["Service"])
    bad["spec"]["selectr"] = {}
    with pytest.raises(ManifestError, match="selectr"):
        validate(bad)
    with pytest.raises(ManifestError, match="no typed model"):
        validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}})


def test_k8s_options_shape_the_manifests(ws: Workspace, tmp_path: Path) -> None:
    docs = _by_kind(
        _digits_docs(
            ws,
            tmp_path,
            namespace="ml",
            max_replicas=4,
            service_type="LoadBalancer",
            scoring_timeout_ms=5000,
        )
    )
    assert {d["metadata"]["namespace"] for d in docs.values()} == {"ml"}
    assert docs["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 4
    assert docs["Service"]["spec"]["type"] == "LoadBalancer"
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "SCORING_TIMEOUT_MS", "value": "5000"} in container["env"]
    validate_all(list(docs.values()))


def test_k8s_apply_without_a_cluster_fails_in_one_line(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    model = tmp_path / "model.pkl"
    model.write_bytes(b"x")
    assert cli("models", "register", model, "--name", "digits").code == 0
    result = cli(
        "deploy", "k8s-none", "-m", "digits:1", "--entry-script", SKLEARN / "score.py",
        "--env", SKLEARN / "env.yml", "--target", "kubernetes",
    )  # fmt: skip
    assert result.code == 7, result.err
    assert "error: no Kubernetes cluster configured" in result.err
    assert "--output DIR" in result.err and len(result.err.strip().splitlines()) <= 2

"""The Kubernetes manifests with TLS: a ``kubernetes.io/tls`` Secret and an Ingress that
terminates HTTPS, checked against the ``kubernetes`` client's typed models. No cluster."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from serving.catalog import parse_env_file
from serving.deploy.base import DeployRequest
from serving.deploy.kubernetes.manifests import manifests
from serving.deploy.kubernetes.target import _without_keys, kubernetes_spec, write_manifests
from serving.deploy.kubernetes.validate import validate, validate_all
from serving.deploy.spec import DeploymentSpec, TlsOptions
from serving.workspace import Workspace
from tests.helpers import SKLEARN
from tests.tls.certs import make_ca

IMAGE = "registry.example.com/team/serving/digits-svc:1"


def test_k8s_manifests_with_tls_pass_typed_validation(ws: Workspace, tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(b"the manifests only need its record")
    request = DeployRequest(
        name="digits-svc",
        models=(ws.models.register(model_file, "digits"),),
        entry_script=SKLEARN / "score.py",
        source_dir=None,
        env=parse_env_file(SKLEARN / "env.yml"),
        keys=("key-one", "key-two"),
        deployment=DeploymentSpec(
            tls=TlsOptions(str(ca.good.cert), str(ca.good.key), "digits.example.com")
        ),
    )
    docs = manifests(kubernetes_spec(request, IMAGE))
    typed = validate_all(docs)
    assert [type(t).__name__ for t in typed] == [
        "V1Secret", "V1Secret", "V1Deployment", "V1Service", "V2HorizontalPodAutoscaler",
        "V1Ingress",
    ]  # fmt: skip
    secret, ingress = docs[1], docs[-1]
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.key"]) == ca.good.key.read_bytes()
    assert ingress["spec"]["tls"] == [
        {"secretName": "digits-svc-tls", "hosts": ["digits.example.com"]}
    ]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "digits-svc", "port": {"name": "http"}}}
    assert "data" not in _without_keys(secret)  # the record holds no key

    written = write_manifests(tmp_path / "out", docs)
    names = [p.name for p in written]
    assert "01-secret-tls.yaml" in names and "05-ingress.yaml" in names
    assert len(set(names)) == len(names)
    for path in written:
        validate(yaml.safe_load(path.read_text()))
        if "secret" in path.name:
            assert path.stat().st_mode & 0o777 == 0o600

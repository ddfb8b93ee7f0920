"""Kubernetes manifests of an endpoint, as plain dicts (pure functions, tested without a
cluster): a Secret with the keys, a Deployment, a Service and a HorizontalPodAutoscaler
(with TLS also a ``kubernetes.io/tls`` Secret and an Ingress that terminates HTTPS), all
labelled with the endpoint and the model versions they serve.

The Deployment runs the same model image and command as the docker and cluster targets
(port 5001, one sync worker by default), with the AKS defaults where Azure had them: CPU
request 0.1 core, memory 0.5 GiB, autoscaling 1 to 10 replicas at 70 % CPU. Probes use the
server's own routes: readiness ``/health/ready`` (traffic only once init() has finished),
liveness ``/health/live``, and a startup probe on ``/health/live`` that gives a slow init()
five minutes (Azure used a 310 s initial delay) without delaying restarts of a hung pod.
Rolling updates start a new pod and wait for its readiness before an old one stops
(``maxSurge 1, maxUnavailable 0``), as the cluster target does.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

import serving
from serving.images.dockerfile import USER_ID
from serving.images.model import CONTAINER_PORT

MANAGED_BY = "serving"
KEYS_PATH = "/var/run/serving/keys"
ENDPOINT_LABEL = "serving.io/endpoint"
MODEL_LABEL_PREFIX = "models.serving.io/"
PROBE_PATHS = {"readiness": "/health/ready", "liveness": "/health/live"}
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class KubernetesSpec:
    """What the manifests say: image, command, sizes and scaling."""

    name: str
    image: str
    command: list[str]
    env: dict[str, str]
    models: tuple[str, ...]
    keys: tuple[str, ...] = ()
    namespace: str = "default"
    replicas: int = 1
    max_replicas: int = 10
    target_cpu_percent: int = 70
    cpu_request: str = "100m"
    memory_request: str = "512Mi"
    cpu_limit: str | None = None
    memory_limit: str | None = None
    service_type: str = "ClusterIP"
    service_port: int = 80
    image_pull_policy: str = "IfNotPresent"
    annotations: dict[str, str] = field(default_factory=dict)
    tls: TlsPair | None = None
    """HTTPS at an Ingress (``--ssl-cert``); None: no Ingress."""
    scale_down_window_s: int | None = None
    """With ``--autoscale``: the HPA's scale-down stabilization window (the cluster target's
    cool-down); None: the HPA's default (300 s) and no ``behavior`` field, as before."""
    model_data: tuple[str, str] | None = None
    """With ``--collect-model-data``: (PersistentVolumeClaim name, mount path) of the
    datastore the pods write collected model data to (docs/data-collection.md)."""


@dataclass(frozen=True)
class TlsPair:
    """The certificate and key (PEM) of the endpoint's Ingress, and its host name."""

    cert_pem: bytes
    key_pem: bytes
    host: str | None = None
    """--ssl-cname: the Ingress rule's host (None: any host)."""


def label_value(text: str) -> str:
    """A valid label value (63 characters of ``[A-Za-z0-9_.-]``, alphanumeric at both ends)."""
    return _LABEL_VALUE.sub("-", text)[:63].strip("-_.")


def selector(spec: KubernetesSpec) -> dict[str, str]:
    """Labels that pick the endpoint's pods (never changed by an update)."""
    return {
        "app.kubernetes.io/name": label_value(spec.name),
        ENDPOINT_LABEL: label_value(spec.name),
    }


def labels(spec: KubernetesSpec) -> dict[str, str]:
    """Selector labels plus one ``models.serving.io/<model>: <version>`` per model."""
    out = {
        **selector(spec),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/version": label_value(serving.__version__),
    }
    for ref in spec.models:
        model, _, version = ref.partition(":")
        out[MODEL_LABEL_PREFIX + label_value(model.lower())] = label_value(version)
    return out


def metadata(spec: KubernetesSpec, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": spec.namespace,
        "labels": labels(spec),
        "annotations": {"serving.io/models": ",".join(spec.models), **spec.annotations},
    }


API_VERSIONS = {
    "Secret": "v1",
    "Deployment": "apps/v1",
    "Service": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "Ingress": "networking.k8s.io/v1",
}
"""Each kind's API version, in the order to apply."""


def _manifest(
    spec: KubernetesSpec, kind: str, /, name: str | None = None, **body: Any
) -> dict[str, Any]:
    """An object of ``kind`` named for the endpoint, with the endpoint's metadata."""
    default = f"{spec.name}-keys" if kind == "Secret" else spec.name
    return {
        "apiVersion": API_VERSIONS[kind],
        "kind": kind,
        "metadata": metadata(spec, name or default),
        **body,
    }


def secret(spec: KubernetesSpec) -> dict[str, Any]:
    """The keys, one per line (empty: no auth); mounted into the pods as a file."""
    keys = "".join(f"{k}\n" for k in spec.keys)
    return _manifest(spec, "Secret", type="Opaque", stringData={"keys": keys})


def tls_secret_name(spec: KubernetesSpec) -> str:
    return f"{spec.name}-tls"


def tls_secret(spec: KubernetesSpec, pair: TlsPair) -> dict[str, Any]:
    """A ``kubernetes.io/tls`` Secret with the files' base64 (as the keys Secret holds the
    keys): written 0600 by ``--output``, recorded without its data."""
    data = {
        "tls.crt": base64.b64encode(pair.cert_pem).decode(),
        "tls.key": base64.b64encode(pair.key_pem).decode(),
    }
    name = tls_secret_name(spec)
    return _manifest(spec, "Secret", name=name, type="kubernetes.io/tls", data=data)


def ingress(spec: KubernetesSpec, pair: TlsPair) -> dict[str, Any]:
    """An Ingress that terminates TLS with :func:`tls_secret` and forwards plain HTTP to the
    Service; ingress-nginx redirects plain HTTP to HTTPS (308) once a ``tls`` entry exists,
    and the annotation says so for controllers that read it."""
    tls: dict[str, Any] = {"secretName": tls_secret_name(spec)}
    rule: dict[str, Any] = {}
    if pair.host:
        tls["hosts"] = [pair.host]
        rule["host"] = pair.host
    backend = {"service": {"name": spec.name, "port": {"name": "http"}}}
    rule["http"] = {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}
    doc = _manifest(spec, "Ingress", spec={"tls": [tls], "rules": [rule]})
    doc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] = "true"
    return doc


PROBES: dict[str, tuple[str, dict[str, int]]] = {
    "readinessProbe": (
        "readiness",
        {"initialDelaySeconds": 5, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3},
    ),
    "livenessProbe": (
        "liveness",
        {
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
    ),
    "startupProbe": ("liveness", {"periodSeconds": 5, "failureThreshold": 60}),
}
"""Each probe of the scoring container: the route it checks and its timing."""


def probes() -> dict[str, dict[str, Any]]:
    return {
        name: {"httpGet": {"path": PROBE_PATHS[route], "port": "http"}, **timing}
        for name, (route, timing) in PROBES.items()
    }


def container(spec: KubernetesSpec) -> dict[str, Any]:
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": spec.cpu_request, "memory": spec.memory_request}
    }
    limits = {"cpu": spec.cpu_limit, "memory": spec.memory_limit}
    if any(limits.values()):
        resources["limits"] = {k: v for k, v in limits.items() if v}
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    env.append(
        {"name": "SERVING_REPLICA_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    )
    env.append({"name": "SERVING_KEYS_FILE", "value": f"{KEYS_PATH}/keys"})
    return {
        "name": "scoring",
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": spec.command,
        "env": env,
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        **probes(),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        "resources": resources,
        "volumeMounts": [
            {"name": "keys", "mountPath": KEYS_PATH, "readOnly": True},
            *([{"name": "model-data", "mountPath": spec.model_data[1]}] if spec.model_data else []),
        ],
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }


def _model_data_volume(spec: KubernetesSpec) -> list[dict[str, Any]]:
    if spec.model_data is None:
        return []
    return [{"name": "model-data", "persistentVolumeClaim": {"claimName": spec.model_data[0]}}]


def deployment(spec: KubernetesSpec) -> dict[str, Any]:
    return _manifest(
        spec,
        "Deployment",
        spec={
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector(spec)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels(spec)},
                "spec": {
                    "containers": [container(spec)],
                    "securityContext": {
                        "runAsUser": int(USER_ID),
                        "runAsGroup": int(USER_ID),
                        **({"fsGroup": int(USER_ID)} if spec.model_data else {}),
                    },
                    "terminationGracePeriodSeconds": 40,
                    "volumes": [
                        {"name": "keys", "secret": {"secretName": f"{spec.name}-keys"}},
                        *_model_data_volume(spec),
                    ],
                },
            },
        },
    )


def service(spec: KubernetesSpec) -> dict[str, Any]:
    port = {"name": "http", "port": spec.service_port, "targetPort": "http", "protocol": "TCP"}
    return _manifest(
        spec,
        "Service",
        spec={"type": spec.service_type, "selector": selector(spec), "ports": [port]},
    )


def autoscaler(spec: KubernetesSpec) -> dict[str, Any]:
    """From ``replicas`` (the minimum) to ``max_replicas`` at ``target_cpu_percent`` of the
    CPU request; with ``--autoscale`` the bounds and target are the policy's and scale-down
    waits the cool-down (docs/autoscale.md)."""
    target = {"type": "Utilization", "averageUtilization": spec.target_cpu_percent}
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
        "minReplicas": spec.replicas,
        "maxReplicas": max(spec.max_replicas, spec.replicas),
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": target}}],
    }
    if spec.scale_down_window_s is not None:
        window = {"stabilizationWindowSeconds": spec.scale_down_window_s}
        body["behavior"] = {"scaleDown": window}
    return _manifest(spec, "HorizontalPodAutoscaler", spec=body)


def manifests(spec: KubernetesSpec) -> list[dict[str, Any]]:
    """Secret, Deployment, Service and HorizontalPodAutoscaler, in the order to apply; with
    TLS, also the TLS Secret (after the keys') and an Ingress (last)."""
    docs = [secret(spec), deployment(spec), service(spec), autoscaler(spec)]
    if spec.tls is not None:
        docs.insert(1, tls_secret(spec, spec.tls))
        docs.append(ingress(spec, spec.tls))
    return docs


def file_name(manifest: dict[str, Any]) -> str:
    """``02-deployment.yaml``-style names that keep the apply order (the TLS Secret:
    ``01-secret-tls.yaml``)."""
    order = list(API_VERSIONS)
    kind = str(manifest["kind"])
    tls = "-tls" if manifest.get("type") == "kubernetes.io/tls" else ""
    return f"{order.index(kind) + 1:02d}-{kind.lower()}{tls}.yaml"

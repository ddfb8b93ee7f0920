"""The ``kubernetes`` target, for teams that outgrow one machine.

``serving deploy NAME ... --target kubernetes --output DIR`` builds the model image here and
writes the manifests (:mod:`serving.deploy.kubernetes.manifests`) to DIR, checked against the
``kubernetes`` client's typed models; nothing is recorded and no cluster is needed. Without
``--output`` the manifests are applied to the current kubeconfig context with the
``kubernetes`` client (create, or patch what exists), the rollout is awaited and the
endpoint is recorded with its URI. The image must be pullable by the cluster:
``--image-registry REG`` tags it ``REG/serving/NAME:N`` and pushes it before applying (and
names it so in written manifests); without it the local tag is used, which suits kind
(``kind load docker-image``) and minikube (``minikube image load``).

Updates patch the Deployment (Kubernetes rolls it: a new pod ready before an old one stops),
scaling patches the replica count and the autoscaler's minimum, keys patch the Secret
(mounted as the file the server re-reads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from serving.config import PlatformSettings
from serving.deploy import tls
from serving.deploy.base import Deployed, DeployRequest, Observed, Progress, Started, ignore
from serving.deploy.containers import (
    MODEL_DATA_MOUNT,
    Docker,
    RunSpec,
    container_env,
    container_settings,
    releasing,
)
from serving.deploy.kubernetes import apply as k8s_apply
from serving.deploy.kubernetes.manifests import KubernetesSpec, TlsPair, file_name, manifests
from serving.deploy.kubernetes.validate import validate_all
from serving.deploy.spec import DeploymentSpec, TlsOptions, check_cooldown, check_replicas
from serving.errors import DeploymentError
from serving.images.build import BuiltImage
from serving.images.dockerfile import ENV_PYTHON
from serving.registry import EndpointRecord
from serving.server.gunicorn import gunicorn_argv
from serving.workspace import Workspace

MIB = 2**20
MODEL_DATA_CLAIM = "serving-model-data"
"""The PersistentVolumeClaim (ReadWriteMany, made by the cluster's admin) that pods
collecting model data write to (docs/data-collection.md)."""


def kubernetes_spec(request: DeployRequest, image: str) -> KubernetesSpec:
    """The manifests' content for ``request`` (pure). The pods' keys come from the
    Secret's file and their replica id from their name (see the manifests);
    ``SERVING_AUTH`` is set: "key" refuses every request while the file is unreadable."""
    deployment = request.deployment
    k8s, resources = deployment.kubernetes, deployment.resources
    settings = container_settings(
        RunSpec.from_request(request, image, 0),
        request.name,
        auth=bool(request.keys),
        scoring_timeout_ms=deployment.scoring_timeout_ms,
    )
    replicas, highest, percent, window = _scaling(deployment)
    memory = None if resources.memory_bytes is None else f"{resources.memory_bytes // MIB}Mi"
    return KubernetesSpec(
        name=request.name,
        image=image,
        command=gunicorn_argv(settings, python=ENV_PYTHON),
        env=container_env(settings, inline_keys=False, scoring_timeout=True),
        models=tuple(m.ref for m in request.models),
        keys=request.keys,
        namespace=k8s.namespace,
        replicas=replicas,
        max_replicas=highest,
        target_cpu_percent=percent,
        cpu_request=f"{round(resources.cpu * 1000)}m" if resources.cpu is not None else "100m",
        memory_request=memory or "512Mi",
        memory_limit=memory,
        service_type=k8s.service_type,
        tls=_tls_pair(deployment.tls),
        scale_down_window_s=window,
        model_data=(MODEL_DATA_CLAIM, MODEL_DATA_MOUNT) if deployment.collect_model_data else None,
    )


def _scaling(deployment: DeploymentSpec) -> tuple[int, int, int, int | None]:
    """(replicas, HPA maximum, target percent, scale-down window): with ``--autoscale`` the
    policy's minimum, maximum and target and the cool-down
    (``SERVING_AUTOSCALE_COOLDOWN_S``); else the fixed count and the Kubernetes options,
    as before autoscaling existed."""
    policy = deployment.autoscale
    if policy.enabled:
        cooldown = check_cooldown(PlatformSettings.from_env().autoscale_cooldown_s)
        return policy.lowest, policy.highest, policy.target, min(3600, round(cooldown))
    k8s = deployment.kubernetes
    replicas = deployment.replicas.count(1)
    return replicas, k8s.max_replicas or max(10, replicas), k8s.target_cpu_percent, None


def _tls_pair(options: TlsOptions) -> TlsPair | None:
    """The pair's contents for the Ingress's Secret (checked first), or None."""
    if not (options.cert_file and options.key_file):
        return None
    cert, key = tls.read_pair(options)
    return TlsPair(cert, key, options.cname)


def write_manifests(folder: Path, docs: list[dict[str, Any]]) -> list[Path]:
    """One YAML file per manifest (the Secret readable by its owner only)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in docs:
        path = folder / file_name(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        if doc["kind"] == "Secret":
            path.chmod(0o600)
        written.append(path)
    return written


def _without_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """What is recorded of a manifest: a Secret without its data (the registry has the
    keys; the TLS pair stays in its files)."""
    return {k: v for k, v in doc.items() if k not in ("stringData", "data")}


class KubernetesTarget:
    """Endpoints as a Deployment, Service, HorizontalPodAutoscaler and Secret."""

    name = "kubernetes"

    def __init__(self, docker: Docker | None = None) -> None:
        self.docker = docker or Docker()

    def _image(self, ws: Workspace, request: DeployRequest, progress: Progress) -> str:
        """Build the model image; with a registry, tag it there (pushed when applying)."""
        built: BuiltImage = self.docker.build(ws, request, progress)
        registry = request.deployment.kubernetes.image_registry
        if not registry:
            return built.record.tag
        repository, _, label = built.record.tag.rpartition(":")
        self.docker.client.images.get(built.record.image_id).tag(f"{registry}/{repository}", label)
        return f"{registry}/{repository}:{label}"

    def _push(self, image: str, progress: Progress) -> None:
        import docker

        repository, _, label = image.rpartition(":")
        progress(f"pushing {image}")
        try:
            for line in self.docker.client.images.push(repository, label, stream=True, decode=True):
                if "error" in line:
                    raise DeploymentError(f"pushing {image} failed: {line['error']}")
        except docker.errors.APIError as exc:
            raise DeploymentError(f"pushing {image} failed: {exc.explanation}") from exc

    def _docs(self, request: DeployRequest, image: str) -> list[dict[str, Any]]:
        docs = manifests(kubernetes_spec(request, image))
        validate_all(docs)
        return docs

    @releasing
    def write(
        self, ws: Workspace, request: DeployRequest, output: Path, progress: Progress
    ) -> list[Path]:
        """Build the image and write the checked manifests to ``output``."""
        docs = self._docs(request, self._image(ws, request, progress))
        return write_manifests(output, docs)

    @releasing
    def deploy(
        self, ws: Workspace, request: DeployRequest, progress: Progress, started: Started = ignore
    ) -> Deployed:
        context = request.deployment.kubernetes.context
        api = k8s_apply.connect(context)  # before a long build
        image = self._image(ws, request, progress)
        docs = self._docs(request, image)
        if request.deployment.kubernetes.image_registry:
            self._push(image, progress)
        namespace = docs[0]["metadata"]["namespace"]
        runtime = {
            "namespace": namespace,
            "context": context,
            "image": image,
            "manifests": [_without_keys(doc) for doc in docs],
        }
        started(runtime)  # before applying: 'delete' finds whatever part of it exists
        k8s_apply.apply(api, docs, progress)
        k8s_apply.wait_rollout(api, request.name, namespace, progress, k8s_apply.ROLLOUT_TIMEOUT_S)
        uri = k8s_apply.service_uri(api, request.name, namespace)
        if request.deployment.tls.cname:  # served by the Ingress
            uri = f"https://{request.deployment.tls.cname}/score"
        return Deployed(uri, uri.rsplit("/", 1)[0] + "/swagger.json", runtime)

    def roll(
        self, ws: Workspace, record: EndpointRecord, request: DeployRequest, progress: Progress
    ) -> Deployed:
        """Patching the Deployment is a rolling update in Kubernetes."""
        return self.deploy(ws, request, progress)

    @staticmethod
    def _connect(record: EndpointRecord) -> Any:
        return k8s_apply.connect(record.runtime.get("context"))

    @staticmethod
    def _namespace(record: EndpointRecord) -> str:
        return str(record.runtime.get("namespace") or "default")

    def scale(
        self, ws: Workspace, record: EndpointRecord, replicas: int, progress: Progress
    ) -> Deployed:
        count = check_replicas(replicas)
        docs = [dict(d) for d in record.runtime.get("manifests", [])]
        for doc in docs:
            if doc["kind"] == "Deployment":
                doc["spec"] = {**doc["spec"], "replicas": count}
            if doc["kind"] == "HorizontalPodAutoscaler":
                high = max(count, int(doc["spec"]["maxReplicas"]))
                doc["spec"] = {**doc["spec"], "minReplicas": count, "maxReplicas": high}
        api = self._connect(record)
        k8s_apply.apply(api, docs, progress)
        k8s_apply.wait_rollout(
            api, record.name, self._namespace(record), progress, k8s_apply.ROLLOUT_TIMEOUT_S
        )
        runtime = {**record.runtime, "manifests": docs}
        return Deployed(record.scoring_uri or "", record.swagger_uri or "", runtime)

    def observe(self, ws: Workspace, record: EndpointRecord) -> Observed:
        try:
            rows = k8s_apply.pod_states(self._connect(record), record.name, self._namespace(record))
        except Exception as exc:  # an unreachable cluster is a state, not a crash
            return Observed("Unhealthy", f"cannot read the pods: {' '.join(str(exc).split())}")
        ready = sum(1 for row in rows if row["ready"])
        if ready == 0:
            return Observed("Unhealthy", "no pod is ready")
        return Observed("Healthy")

    def replicas(self, ws: Workspace, record: EndpointRecord) -> list[dict[str, Any]]:
        return k8s_apply.pod_states(self._connect(record), record.name, self._namespace(record))

    def replica_logs(self, ws: Workspace, record: EndpointRecord, tail: int, replica: str) -> str:
        return k8s_apply.pod_logs(
            self._connect(record), record.name, self._namespace(record), tail, replica
        )

    def logs(self, ws: Workspace, record: EndpointRecord, tail: int) -> str:
        return k8s_apply.pod_logs(
            self._connect(record), record.name, self._namespace(record), tail, None
        )

    def set_keys(self, ws: Workspace, record: EndpointRecord, keys: list[str]) -> None:
        """Patch the Secret; the kubelet refreshes the mounted file (within a minute)."""
        docs = record.runtime.get("manifests", [])
        old = next((d for d in docs if d["kind"] == "Secret"), None)
        if old is None:
            raise DeploymentError(f"endpoint {record.name} has no recorded Secret")
        new = {**old, "stringData": {"keys": "".join(f"{k}\n" for k in keys)}}
        k8s_apply.apply(self._connect(record), [new], lambda _line: None)

    def remove(self, ws: Workspace, record: EndpointRecord) -> None:
        docs = record.runtime.get("manifests", [])
        if docs:
            k8s_apply.delete(self._connect(record), docs)

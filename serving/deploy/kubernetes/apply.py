"""Talk to a real cluster with the ``kubernetes`` client (current kubeconfig context, or the
in-cluster configuration): create-or-patch the manifests, wait for the rollout, read pods'
state and logs, delete.

No cluster runs on the development machines, so this module is exercised against real
clusters by hand (README, "Kubernetes"); what can be checked without one (the manifests and
their types) is tested in ``tests/kubernetes``.
"""

from __future__ import annotations

import time
from typing import Any

from serving.deploy.base import Progress
from serving.deploy.kubernetes.manifests import ENDPOINT_LABEL
from serving.deploy.kubernetes.validate import kubernetes_module
from serving.errors import BackendUnavailableError, DeploymentError

ROLLOUT_TIMEOUT_S = 600.0
_CALLS = {
    "Secret": ("CoreV1Api", "namespaced_secret"),
    "Service": ("CoreV1Api", "namespaced_service"),
    "Deployment": ("AppsV1Api", "namespaced_deployment"),
    "HorizontalPodAutoscaler": ("AutoscalingV2Api", "namespaced_horizontal_pod_autoscaler"),
    "Ingress": ("NetworkingV1Api", "namespaced_ingress"),
}


def connect(context: str | None = None) -> Any:
    """An ``ApiClient`` for ``context`` (default: the current one), or in-cluster config."""
    client = kubernetes_module("kubernetes.client")
    loader = kubernetes_module("kubernetes.config")  # its loaders are untyped
    try:
        loader.load_kube_config(context=context)
    except Exception as kube_exc:  # no kubeconfig: maybe we run inside a pod
        try:
            loader.load_incluster_config()
        except Exception:
            raise BackendUnavailableError(
                f"no Kubernetes cluster configured: {kube_exc}",
                hint="set KUBECONFIG or 'kubectl config use-context', or use --output DIR",
            ) from kube_exc
    return client.ApiClient()


def _api(api_client: Any, kind: str) -> tuple[Any, str]:
    from kubernetes import client

    api_name, suffix = _CALLS[kind]
    return getattr(client, api_name)(api_client), suffix


def apply(api_client: Any, manifests: list[dict[str, Any]], progress: Progress) -> None:
    """Create each object, or patch it when it exists (strategic merge)."""
    from kubernetes.client.exceptions import ApiException

    for manifest in manifests:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        namespace = manifest["metadata"]["namespace"]
        api, suffix = _api(api_client, kind)
        try:
            getattr(api, f"create_{suffix}")(namespace, manifest)
            progress(f"created {kind} {namespace}/{name}")
        except ApiException as exc:
            if exc.status != 409:
                raise DeploymentError(f"the cluster refused {kind} {name}: {exc.reason}") from exc
            getattr(api, f"patch_{suffix}")(name, namespace, manifest)
            progress(f"updated {kind} {namespace}/{name}")


def wait_rollout(
    api_client: Any, name: str, namespace: str, progress: Progress, timeout_s: float
) -> None:
    """Until every replica runs the newest template and is available."""
    from kubernetes import client

    apps = client.AppsV1Api(api_client)
    deadline = time.monotonic() + timeout_s
    while True:
        dep: Any = apps.read_namespaced_deployment_status(name, namespace)
        want = dep.spec.replicas or 0
        status = dep.status
        done = (
            (status.observed_generation or 0) >= (dep.metadata.generation or 0)
            and (status.updated_replicas or 0) == want
            and (status.available_replicas or 0) == want
            and not status.unavailable_replicas
        )
        if done:
            return
        if time.monotonic() > deadline:
            raise DeploymentError(
                f"deployment {namespace}/{name} did not finish rolling out in {timeout_s:.0f} s "
                f"({status.available_replicas or 0} of {want} available)",
                hint=f"kubectl -n {namespace} describe deployment {name}",
            )
        progress(
            f"rollout: {status.updated_replicas or 0} updated, "
            f"{status.available_replicas or 0} of {want} available"
        )
        time.sleep(2)


def service_uri(api_client: Any, name: str, namespace: str, wait_s: float = 60.0) -> str:
    """``http://<load balancer>/score``, else the in-cluster DNS name."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    deadline = time.monotonic() + wait_s
    while True:
        svc: Any = core.read_namespaced_service(name, namespace)
        port = svc.spec.ports[0].port
        suffix = "" if port == 80 else f":{port}"
        if svc.spec.type != "LoadBalancer":
            return f"http://{name}.{namespace}.svc.cluster.local{suffix}/score"
        ingress = (svc.status.load_balancer.ingress or []) if svc.status.load_balancer else []
        if ingress:
            host = ingress[0].ip or ingress[0].hostname
            return f"http://{host}{suffix}/score"
        if time.monotonic() > deadline:
            return f"http://{name}.{namespace}.svc.cluster.local{suffix}/score"
        time.sleep(2)


def pod_states(api_client: Any, name: str, namespace: str) -> list[dict[str, Any]]:
    """One row per pod of the endpoint: name, phase, ready."""
    from kubernetes import client

    pods: Any = client.CoreV1Api(api_client).list_namespaced_pod(
        namespace, label_selector=f"{ENDPOINT_LABEL}={name}"
    )
    rows = []
    for pod in pods.items:
        statuses = pod.status.container_statuses or []
        rows.append(
            {
                "replica": pod.metadata.name,
                "state": pod.status.phase,
                "ready": all(s.ready for s in statuses) and bool(statuses),
                "restarts": sum(s.restart_count for s in statuses),
            }
        )
    return rows


def pod_logs(api_client: Any, name: str, namespace: str, tail: int, pod: str | None) -> str:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    names = [pod] if pod else [row["replica"] for row in pod_states(api_client, name, namespace)]
    parts = []
    for pod_name in names:
        text = core.read_namespaced_pod_log(pod_name, namespace, tail_lines=tail)
        parts.append(text if pod else f"==> {pod_name} <==\n{text}")
    return "\n".join(parts).rstrip("\n")


def delete(api_client: Any, manifests: list[dict[str, Any]]) -> None:
    from kubernetes.client.exceptions import ApiException

    for manifest in reversed(manifests):
        api, suffix = _api(api_client, manifest["kind"])
        meta = manifest["metadata"]
        try:
            getattr(api, f"delete_{suffix}")(meta["name"], meta["namespace"])
        except ApiException as exc:
            if exc.status != 404:
                raise DeploymentError(
                    f"could not delete {manifest['kind']} {meta['name']}: {exc.reason}"
                ) from exc

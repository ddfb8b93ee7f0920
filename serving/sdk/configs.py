"""Deployment configurations for ``Model.deploy``, one per target, with Azure ML v1's
``*Webservice.deploy_configuration`` spellings mapped onto them.

``LocalDeployment`` runs the embedded local target (a gunicorn process on this machine); it
is named for what it does rather than Azure's ``LocalWebservice.deploy_configuration``,
which needed Docker and the cloud. That spelling is accepted too.

Key auth defaults as in Azure ML v1: off for the local and docker targets (as for ACI), on
for the cluster and kubernetes targets (as for AKS); ``auth_enabled`` changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LocalDeployment:
    """Run on this machine as a background process (the embedded default target)."""

    port: int | None = None
    workers: int | None = None
    threads: int | None = None
    auth_enabled: bool = False
    target: str = field(default="local", init=False)


class LocalWebservice:
    """Azure's spelling: ``LocalWebservice.deploy_configuration(port=...)``."""

    @staticmethod
    def deploy_configuration(port: int | None = None) -> LocalDeployment:
        return LocalDeployment(port=port)


@dataclass
class DockerDeployment:
    """Run in a Docker container of an image built from the models, score.py and environment
    (Azure Container Instances, on this machine); ``None`` limits mean no limit."""

    port: int | None = None
    cpu_cores: float | None = None
    memory_gb: float | None = None
    workers: int | None = None
    threads: int | None = None
    auth_enabled: bool = False
    target: str = field(default="docker", init=False)

    @property
    def options(self) -> dict[str, Any]:
        """The docker target's options (``cpu``, ``memory``)."""
        out: dict[str, Any] = {}
        if self.cpu_cores is not None:
            out["cpu"] = self.cpu_cores
        if self.memory_gb is not None:
            out["memory"] = f"{round(self.memory_gb * 1024)}m"
        return out


class AciWebservice:
    """Azure's spelling: ``AciWebservice.deploy_configuration(cpu_cores=..., memory_gb=...)``."""

    @staticmethod
    def deploy_configuration(
        cpu_cores: float | None = None,
        memory_gb: float | None = None,
        auth_enabled: bool = False,
        port: int | None = None,
        **_azure_kwargs: Any,
    ) -> DockerDeployment:
        return DockerDeployment(
            port=port, cpu_cores=cpu_cores, memory_gb=memory_gb, auth_enabled=auth_enabled
        )


@dataclass
class ClusterDeployment:
    """Run ``replicas`` containers behind one load-balanced URI on this machine (AKS-like:
    key auth, readiness checks, back-pressure, rolling updates, self-healing)."""

    replicas: int = 2
    port: int | None = None
    cpu_cores: float | None = None
    memory_gb: float | None = None
    workers: int | None = None
    threads: int | None = None
    max_concurrent_requests_per_replica: int | None = None
    max_queue_wait_ms: int | None = None
    scoring_timeout_ms: int | None = None
    auth_enabled: bool = True
    target: str = field(default="cluster", init=False)

    @property
    def options(self) -> dict[str, Any]:
        """The cluster target's options."""
        out = DockerDeployment(cpu_cores=self.cpu_cores, memory_gb=self.memory_gb).options
        out["replicas"] = self.replicas
        extra = {
            "max_concurrent_requests": self.max_concurrent_requests_per_replica,
            "max_queue_wait_ms": self.max_queue_wait_ms,
            "scoring_timeout_ms": self.scoring_timeout_ms,
        }
        out.update({k: v for k, v in extra.items() if v is not None})
        return out


@dataclass
class KubernetesDeployment:
    """Apply a Deployment, Service, HorizontalPodAutoscaler and Secret to the current
    kubeconfig context (or ``context``); the image must be pullable (``image_registry``)."""

    replicas: int = 1
    autoscale_max_replicas: int = 10
    autoscale_target_utilization: int = 70
    cpu_cores: float | None = None
    memory_gb: float | None = None
    workers: int | None = None
    threads: int | None = None
    scoring_timeout_ms: int | None = None
    namespace: str = "default"
    context: str | None = None
    image_registry: str | None = None
    service_type: str = "ClusterIP"
    auth_enabled: bool = True
    port: int | None = field(default=None, init=False)
    target: str = field(default="kubernetes", init=False)

    @property
    def options(self) -> dict[str, Any]:
        """The kubernetes target's options."""
        out = DockerDeployment(cpu_cores=self.cpu_cores, memory_gb=self.memory_gb).options
        out.update(
            replicas=self.replicas,
            max_replicas=self.autoscale_max_replicas,
            target_cpu_percent=self.autoscale_target_utilization,
            namespace=self.namespace,
            service_type=self.service_type,
        )
        extra = {
            "scoring_timeout_ms": self.scoring_timeout_ms,
            "context": self.context,
            "image_registry": self.image_registry,
        }
        out.update({k: v for k, v in extra.items() if v is not None})
        return out


class AksWebservice:
    """Azure's spelling: ``AksWebservice.deploy_configuration(...)`` runs replicas behind a
    balancer on this machine (the cluster target); for a real cluster use
    :class:`KubernetesDeployment`."""

    @staticmethod
    def deploy_configuration(
        num_replicas: int | None = None,
        cpu_cores: float | None = None,
        memory_gb: float | None = None,
        auth_enabled: bool = True,
        replica_max_concurrent_requests: int | None = None,
        max_request_wait_time: int | None = None,
        scoring_timeout_ms: int | None = None,
        **_azure_kwargs: Any,
    ) -> ClusterDeployment:
        return ClusterDeployment(
            replicas=num_replicas or 1,
            cpu_cores=cpu_cores,
            memory_gb=memory_gb,
            max_concurrent_requests_per_replica=replica_max_concurrent_requests,
            max_queue_wait_ms=max_request_wait_time,
            scoring_timeout_ms=scoring_timeout_ms,
            auth_enabled=auth_enabled,
        )


DeploymentConfig = LocalDeployment | DockerDeployment | ClusterDeployment | KubernetesDeployment

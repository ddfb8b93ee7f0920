"""Deployment configurations for ``Model.deploy``, one per target, with Azure ML v1's
``*Webservice.deploy_configuration`` spellings mapped onto them.

``LocalDeployment`` runs the embedded local target (a gunicorn process on this machine); it
is named for what it does rather than Azure's ``LocalWebservice.deploy_configuration``,
which needed Docker and the cloud. That spelling is accepted too.

Key auth defaults as in Azure ML v1: off for the local and docker targets (as for ACI), on
for the cluster and kubernetes targets (as for AKS); ``auth_enabled`` changes it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from serving.deploy import tls
from serving.deploy.spec import (
    AutoscalePolicy,
    DeploymentSpec,
    KubernetesOptions,
    ReplicaPolicy,
    Resources,
    TlsOptions,
)
from serving.errors import UserInputError


def warn_ignored(call: str, given: dict[str, Any]) -> None:
    """One line naming the Azure arguments given to ``call`` that have no effect here."""
    names = sorted(k for k, v in given.items() if v is not None and v is not False)
    if names:
        warnings.warn(
            f"{call}: {', '.join(names)} not supported here (ignored)", UserWarning, stacklevel=3
        )


@dataclass(kw_only=True)
class _Processes:
    """Server processes (default: one per core) and threads per process."""

    workers: int | None = None
    threads: int | None = None
    collect_model_data: bool = False
    """``ModelDataCollector`` records to the default datastore (docs/data-collection.md)."""


SSL_FIELDS = ("ssl_enabled", "ssl_cert_pem_file", "ssl_key_pem_file", "ssl_cname")
"""The TLS fields of a container config, copied as one when a config changes target."""


@dataclass(kw_only=True)
class _Container(_Processes):
    """Limits of each container; ``None`` means no limit. HTTPS with ``enable_ssl`` (or the
    ``ssl_*`` arguments), as in Azure ML v1 (docs/tls.md)."""

    cpu_cores: float | None = None
    memory_gb: float | None = None
    ssl_enabled: bool = False
    ssl_cert_pem_file: str | None = None
    ssl_key_pem_file: str | None = None
    ssl_cname: str | None = None

    def resources(self) -> Resources:
        return Resources.of_gb(self.cpu_cores, self.memory_gb)

    def enable_ssl(
        self,
        ssl_cert_pem_file: str | None = None,
        ssl_key_pem_file: str | None = None,
        ssl_cname: str | None = None,
        leaf_domain_label: str | None = None,
        overwrite_existing_domain: bool = False,
    ) -> None:
        """Serve HTTPS with this certificate and key (PEM files); ``ssl_cname`` is the
        host name in the scoring URI. Azure's managed certificates (``leaf_domain_label``)
        do not exist here."""
        warn_ignored(
            "enable_ssl",
            {
                "leaf_domain_label": leaf_domain_label,
                "overwrite_existing_domain": overwrite_existing_domain,
            },
        )
        self.ssl_enabled = True
        self.ssl_cert_pem_file = ssl_cert_pem_file
        self.ssl_key_pem_file = ssl_key_pem_file
        self.ssl_cname = ssl_cname

    def tls(self) -> TlsOptions:
        """The TLS concern of the spec (the pair checked); off unless ``ssl_enabled``."""
        if not self.ssl_enabled:
            return TlsOptions()
        if not (self.ssl_cert_pem_file and self.ssl_key_pem_file):
            raise UserInputError("ssl_enabled needs ssl_cert_pem_file and ssl_key_pem_file")
        options = TlsOptions(self.ssl_cert_pem_file, self.ssl_key_pem_file, self.ssl_cname)
        tls.check(options)
        return options


@dataclass
class LocalDeployment(_Processes):
    """Run on this machine as a background process (the embedded default target)."""

    port: int | None = None
    auth_enabled: bool = False
    target: str = field(default="local", init=False)

    def to_spec(self) -> DeploymentSpec:
        return DeploymentSpec(collect_model_data=self.collect_model_data)


class LocalWebservice:
    """Azure's spelling: ``LocalWebservice.deploy_configuration(port=...)``."""

    @staticmethod
    def deploy_configuration(port: int | None = None, **azure_only: Any) -> LocalDeployment:
        warn_ignored("LocalWebservice.deploy_configuration", azure_only)
        return LocalDeployment(port=port)


@dataclass
class DockerDeployment(_Container):
    """Run in a Docker container of an image built from the models, score.py and environment
    (Azure Container Instances, on this machine)."""

    port: int | None = None
    auth_enabled: bool = False
    target: str = field(default="docker", init=False)

    def to_spec(self) -> DeploymentSpec:
        """The docker target's spec (the container's limits, TLS)."""
        return DeploymentSpec(
            resources=self.resources(),
            tls=self.tls(),
            collect_model_data=self.collect_model_data,
        )


class AciWebservice:
    """Azure's spelling: ``AciWebservice.deploy_configuration(cpu_cores=..., memory_gb=...)``."""

    @staticmethod
    def deploy_configuration(
        cpu_cores: float | None = None,
        memory_gb: float | None = None,
        auth_enabled: bool = False,
        port: int | None = None,
        ssl_enabled: bool | None = None,
        ssl_cert_pem_file: str | None = None,
        ssl_key_pem_file: str | None = None,
        ssl_cname: str | None = None,
        collect_model_data: bool | None = None,
        **azure_only: Any,
    ) -> DockerDeployment:
        warn_ignored("AciWebservice.deploy_configuration", azure_only)
        config = DockerDeployment(
            port=port,
            cpu_cores=cpu_cores,
            memory_gb=memory_gb,
            auth_enabled=auth_enabled,
            collect_model_data=bool(collect_model_data),
        )
        if ssl_enabled:
            config.enable_ssl(ssl_cert_pem_file, ssl_key_pem_file, ssl_cname)
        return config


@dataclass
class ClusterDeployment(_Container):
    """Run ``replicas`` containers behind one load-balanced URI on this machine (AKS-like:
    key auth, readiness checks, back-pressure, rolling updates, self-healing)."""

    replicas: int = 2
    """The fixed count; with ``autoscale_enabled`` the autoscaler's bounds decide."""
    port: int | None = None
    max_concurrent_requests_per_replica: int | None = None
    max_queue_wait_ms: int | None = None
    scoring_timeout_ms: int | None = None
    auth_enabled: bool = True
    autoscale_enabled: bool = False
    autoscale_min_replicas: int | None = None
    autoscale_max_replicas: int | None = None
    autoscale_target_utilization: int | None = None
    autoscale_refresh_seconds: float | None = None
    target: str = field(default="cluster", init=False)

    def autoscale(self) -> AutoscalePolicy:
        return AutoscalePolicy(
            self.autoscale_enabled,
            self.autoscale_min_replicas,
            self.autoscale_max_replicas,
            self.autoscale_target_utilization,
            self.autoscale_refresh_seconds,
        )

    def to_spec(self) -> DeploymentSpec:
        """The cluster target's spec: limits, replicas (or autoscaling), back-pressure."""
        return DeploymentSpec(
            resources=self.resources(),
            replicas=ReplicaPolicy(
                None if self.autoscale_enabled else self.replicas,
                self.max_concurrent_requests_per_replica,
                self.max_queue_wait_ms,
            ),
            tls=self.tls(),
            autoscale=self.autoscale(),
            collect_model_data=self.collect_model_data,
            scoring_timeout_ms=self.scoring_timeout_ms,
        )


@dataclass
class KubernetesDeployment(_Container):
    """Apply a Deployment, Service, HorizontalPodAutoscaler and Secret to the current
    kubeconfig context (or ``context``); the image must be pullable (``image_registry``)."""

    replicas: int = 1
    autoscale_max_replicas: int = 10
    autoscale_target_utilization: int = 70
    scoring_timeout_ms: int | None = None
    namespace: str = "default"
    context: str | None = None
    image_registry: str | None = None
    service_type: str = "ClusterIP"
    auth_enabled: bool = True
    port: int | None = field(default=None, init=False)
    target: str = field(default="kubernetes", init=False)

    def to_spec(self) -> DeploymentSpec:
        """The kubernetes target's spec: limits, replicas, autoscaling and where to apply."""
        return DeploymentSpec(
            resources=self.resources(),
            replicas=ReplicaPolicy(self.replicas),
            kubernetes=KubernetesOptions(
                namespace=self.namespace,
                context=self.context,
                service_type=self.service_type,
                image_registry=self.image_registry,
                max_replicas=self.autoscale_max_replicas,
                target_cpu_percent=self.autoscale_target_utilization,
            ),
            tls=self.tls(),
            collect_model_data=self.collect_model_data,
            scoring_timeout_ms=self.scoring_timeout_ms,
        )


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
        ssl_enabled: bool | None = None,
        ssl_cert_pem_file: str | None = None,
        ssl_key_pem_file: str | None = None,
        ssl_cname: str | None = None,
        autoscale_enabled: bool | None = None,
        autoscale_min_replicas: int | None = None,
        autoscale_max_replicas: int | None = None,
        autoscale_target_utilization: int | None = None,
        autoscale_refresh_seconds: float | None = None,
        collect_model_data: bool | None = None,
        **azure_only: Any,
    ) -> ClusterDeployment:
        """As Azure's, except that autoscaling is on only with ``autoscale_enabled=True``
        (Azure turned it on whenever ``num_replicas`` was left out)."""
        warn_ignored("AksWebservice.deploy_configuration", azure_only)
        if autoscale_enabled and num_replicas is not None:
            raise UserInputError("num_replicas and autoscale_enabled do not go together")
        config = ClusterDeployment(
            autoscale_enabled=bool(autoscale_enabled),
            autoscale_min_replicas=autoscale_min_replicas,
            autoscale_max_replicas=autoscale_max_replicas,
            autoscale_target_utilization=autoscale_target_utilization,
            autoscale_refresh_seconds=autoscale_refresh_seconds,
            collect_model_data=bool(collect_model_data),
            replicas=num_replicas or 1,
            cpu_cores=cpu_cores,
            memory_gb=memory_gb,
            max_concurrent_requests_per_replica=replica_max_concurrent_requests,
            max_queue_wait_ms=max_request_wait_time,
            scoring_timeout_ms=scoring_timeout_ms,
            auth_enabled=auth_enabled,
        )
        if ssl_enabled:
            config.enable_ssl(ssl_cert_pem_file, ssl_key_pem_file, ssl_cname)
        return config


DeploymentConfig = LocalDeployment | DockerDeployment | ClusterDeployment | KubernetesDeployment

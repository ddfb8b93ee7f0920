"""``AksCompute``: Azure's Kubernetes deployment target, as a named deployment target here.

An AKS compute is where ``Model.deploy(..., deployment_target=aks_target)`` puts an
``AksWebservice`` service. Provisioned (``AksCompute.provisioning_configuration``) it is the
cluster target on this machine (replicas behind a load balancer, Docker); attached
(``AksCompute.attach_configuration(cluster_name=...)``) it is a Kubernetes context of the
kubeconfig, deployed to with the kubernetes target. The record is kept in the workspace's
metadata (``aks:<name>``), apart from training computes (runs cannot use it, as in v1)::

    try:
        aks_target = ComputeTarget(ws, "aks-cluster")
    except ComputeTargetException:
        config = AksCompute.provisioning_configuration(agent_count=2)
        aks_target = ComputeTarget.create(ws, "aks-cluster", config)
        aks_target.wait_for_completion(show_output=True)
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from typing import Any

from serving.sdk.compute import ComputeStatus, ComputeTarget, ComputeTargetException
from serving.workspace import Workspace

CLUSTER = "cluster"
KUBERNETES = "kubernetes"
_PREFIX = "aks:"


@dataclass(frozen=True)
class AksRecord:
    """A named deployment target: the cluster target, or a Kubernetes ``context``."""

    name: str
    target: str = CLUSTER
    context: str | None = None
    agent_count: int | None = None
    vm_size: str | None = None
    cluster_purpose: str | None = None
    namespace: str | None = None


def _warn_ignored(call: str, given: dict[str, Any]) -> None:
    names = sorted(k for k, v in given.items() if v is not None)
    if names:
        warnings.warn(
            f"{call}: {', '.join(names)} have no effect here (an AKS compute is a named "
            "deployment target on this machine)",
            UserWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class AksProvisioningConfiguration:
    """v1's AKS provisioning settings: the cluster target on this machine."""

    agent_count: int | None = None
    vm_size: str | None = None
    cluster_purpose: str | None = None

    def create_target(self, workspace: Workspace, name: str) -> AksCompute:
        record = AksRecord(name, CLUSTER, None, self.agent_count, self.vm_size,
                           self.cluster_purpose)  # fmt: skip
        return AksCompute._save(workspace, record)


@dataclass(frozen=True)
class AksAttachConfiguration:
    """v1's AKS attach settings: ``cluster_name`` is a kubeconfig context here."""

    cluster_name: str | None = None
    cluster_purpose: str | None = None
    namespace: str | None = None

    def create_target(self, workspace: Workspace, name: str) -> AksCompute:
        record = AksRecord(name, KUBERNETES, self.cluster_name or None, None, None,
                           self.cluster_purpose, self.namespace)  # fmt: skip
        return AksCompute._save(workspace, record)


def find_aks(workspace: Workspace, name: str) -> AksRecord | None:
    value = workspace._meta(_PREFIX + name)
    return None if value is None else AksRecord(**json.loads(value))


def list_aks(workspace: Workspace) -> list[AksRecord]:
    with workspace.db.read() as conn:
        rows = conn.execute(
            "SELECT value FROM meta WHERE key LIKE ? ORDER BY key", (_PREFIX + "%",)
        ).fetchall()
    return [AksRecord(**json.loads(row[0])) for row in rows]


class AksCompute(ComputeTarget):
    """A named deployment target for ``AksWebservice`` services (see the module doc)."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        record = find_aks(workspace, name)
        if record is None:
            raise ComputeTargetException(
                f"ComputeTargetNotFound: Compute Target with name {name} not found in "
                "provided workspace",
                hint=f"create it with ComputeTarget.create(ws, {name!r}, config)",
            )
        self.workspace, self.name, self._aks = workspace, name, record

    @classmethod
    def _save(cls, workspace: Workspace, record: AksRecord) -> AksCompute:
        existing = find_aks(workspace, record.name)
        if existing is not None and existing != record:
            raise ComputeTargetException(
                f"compute target {record.name} already exists with other settings",
                hint=f"delete it first (ComputeTarget(ws, {record.name!r}).delete())",
            )
        with workspace.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (_PREFIX + record.name, json.dumps(asdict(record))),
            )
        return cls(workspace, record.name)

    @staticmethod
    def provisioning_configuration(
        agent_count: int | None = None,
        vm_size: str | None = None,
        ssl_cname: str | None = None,
        ssl_cert_pem_file: str | None = None,
        ssl_key_pem_file: str | None = None,
        location: str | None = None,
        vnet_resourcegroup_name: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        service_cidr: str | None = None,
        dns_service_ip: str | None = None,
        docker_bridge_cidr: str | None = None,
        cluster_purpose: str | None = None,
        load_balancer_type: str | None = None,
        load_balancer_subnet: str | None = None,
    ) -> AksProvisioningConfiguration:
        """v1's signature; the networking, TLS and location options have no effect here."""
        extra = dict(locals())
        for kept in ("agent_count", "vm_size", "cluster_purpose"):
            extra.pop(kept)
        _warn_ignored("AksCompute.provisioning_configuration", extra)
        return AksProvisioningConfiguration(agent_count, vm_size, cluster_purpose)

    @staticmethod
    def attach_configuration(
        resource_group: str | None = None,
        cluster_name: str | None = None,
        resource_id: str | None = None,
        cluster_purpose: str | None = None,
        namespace: str | None = None,
    ) -> AksAttachConfiguration:
        """``cluster_name`` names the kubeconfig context to deploy to (None: the current
        one); ``resource_group`` and ``resource_id`` are Azure's and have no effect here."""
        _warn_ignored(
            "AksCompute.attach_configuration",
            {"resource_group": resource_group, "resource_id": resource_id},
        )
        return AksAttachConfiguration(cluster_name, cluster_purpose, namespace)

    # -- what a compute target answers -----------------------------------------------------
    @property
    def type(self) -> str:
        return "AKS"

    @property
    def deployment_target(self) -> str:
        """``cluster`` (this machine) or ``kubernetes`` (a kubeconfig context)."""
        return self._aks.target

    @property
    def context(self) -> str | None:
        return self._aks.context

    @property
    def namespace(self) -> str | None:
        return self._aks.namespace

    @property
    def agent_count(self) -> int | None:
        return self._aks.agent_count

    @property
    def vm_size(self) -> str | None:
        return self._aks.vm_size

    @property
    def max_nodes(self) -> int | None:
        return self._aks.agent_count

    @property
    def cluster_purpose(self) -> str | None:
        return self._aks.cluster_purpose

    def get_status(self) -> ComputeStatus:
        return ComputeStatus("Succeeded", self._aks.agent_count or 1, self._aks.agent_count,
                             self._aks.vm_size)  # fmt: skip

    def delete(self) -> None:
        with self.workspace.db.write() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (_PREFIX + self.name,))

    def serialize(self) -> dict[str, Any]:
        return {**asdict(self._aks), "type": self.type, "provisioningState": "Succeeded"}


__all__ = ["AksAttachConfiguration", "AksCompute", "AksProvisioningConfiguration"]

"""Compute targets shaped like Azure ML SDK v1's (``azureml.core.compute``).

``AmlCompute.provisioning_configuration(vm_size=..., max_nodes=...)`` becomes a Docker
compute on this machine: ``max_nodes`` runs at once, and the cores and memory of a few
common VM sizes as each run's limits (an unknown size: no limits). GPU sizes (NC, ND, NV
series) warn that no GPU is available here (:class:`GpuUnavailableWarning`). The v1
idioms work unchanged::

    try:
        target = ComputeTarget(workspace=ws, name="cpu-cluster")
    except ComputeTargetException:
        config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
        target = ComputeTarget.create(ws, "cpu-cluster", config)
        target.wait_for_completion(show_output=True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from serving.errors import NotFoundError, ServingError
from serving.runs.compute import (
    DEFAULT_SDK_MAX_NODES,
    DOCKER,
    LOCAL,
    ComputeRecord,
    ComputeSpec,
    ComputeStore,
    docker_spec,
    gpu_warning,
)
from serving.workspace import Workspace

VM_SIZES: dict[str, tuple[int, float]] = {
    "STANDARD_D1_V2": (1, 3.5),
    "STANDARD_D2_V2": (2, 7),
    "STANDARD_D3_V2": (4, 14),
    "STANDARD_D4_V2": (8, 28),
    "STANDARD_D11_V2": (2, 14),
    "STANDARD_D12_V2": (4, 28),
    "STANDARD_D13_V2": (8, 56),
    "STANDARD_DS2_V2": (2, 7),
    "STANDARD_DS3_V2": (4, 14),
    "STANDARD_DS4_V2": (8, 28),
    "STANDARD_DS11_V2": (2, 14),
    "STANDARD_DS12_V2": (4, 28),
    "STANDARD_D2_V3": (2, 8),
    "STANDARD_D4_V3": (4, 16),
    "STANDARD_D8_V3": (8, 32),
    "STANDARD_D2S_V3": (2, 8),
    "STANDARD_D4S_V3": (4, 16),
    "STANDARD_D8S_V3": (8, 32),
    "STANDARD_E4S_V3": (4, 32),
    "STANDARD_F2S_V2": (2, 4),
    "STANDARD_F4S_V2": (4, 8),
}
"""Azure VM sizes this platform knows: (cores, GiB of memory) per run."""
AML_COMPUTE = "AmlCompute"


class ComputeTargetException(ServingError):
    """Azure v1's compute error (``azureml.core.compute_target.ComputeTargetException``)."""


class GpuUnavailableWarning(UserWarning):
    """A GPU was asked for; there is none here, so runs use CPUs only."""


@dataclass(frozen=True)
class ComputeStatus:
    """What ``get_status()`` returns; ``serialize()`` gives v1's keys."""

    provisioning_state: str
    current_node_count: int
    max_nodes: int | None
    vm_size: str | None
    queued_runs: int = 0
    errors: list[str] = field(default_factory=list)

    def serialize(self) -> dict[str, Any]:
        return {
            "provisioningState": self.provisioning_state,
            "currentNodeCount": self.current_node_count,
            "targetNodeCount": self.current_node_count,
            "nodeStateCounts": {
                "idleNodeCount": max(0, (self.max_nodes or 0) - self.current_node_count),
                "runningNodeCount": self.current_node_count,
                "preparingNodeCount": 0,
                "unusableNodeCount": 0,
                "leavingNodeCount": 0,
                "preemptedNodeCount": 0,
            },
            "scaleSettings": {"minNodeCount": 0, "maxNodeCount": self.max_nodes},
            "vmSize": self.vm_size,
            "queuedRuns": self.queued_runs,
            "errors": self.errors or None,
        }


@dataclass(frozen=True)
class DockerComputeProvisioningConfiguration:
    """This platform's own options: runs at once, cores and memory per run, network."""

    max_nodes: int = 1
    cpu: float | None = None
    memory: str | int | None = None
    network: bool = False
    description: str | None = None

    def to_spec(self) -> ComputeSpec:
        return docker_spec(
            max_nodes=self.max_nodes,
            cpu=self.cpu,
            memory=self.memory,
            network=self.network,
            description=self.description,
        )


@dataclass(frozen=True)
class AmlComputeProvisioningConfiguration:
    """Azure's cluster settings, as given; :meth:`to_spec` maps them onto a Docker compute."""

    vm_size: str = ""
    vm_priority: str = "dedicated"
    min_nodes: int = 0
    max_nodes: int | None = None
    idle_seconds_before_scaledown: int | None = 1800
    description: str | None = None
    tags: dict[str, str] | None = None
    ignored: tuple[str, ...] = ()
    """Azure-only options given (networking, identity, admin user): no effect here."""

    def to_spec(self) -> ComputeSpec:
        size = (self.vm_size or "").strip().upper()
        cores, gib = VM_SIZES.get(size, (None, None))
        notes = []
        if size and cores is None and gpu_warning(size) is None:
            notes.append(
                f"vm_size {self.vm_size} is not one this platform knows: no CPU or memory limit"
            )
        return docker_spec(
            max_nodes=DEFAULT_SDK_MAX_NODES if self.max_nodes is None else self.max_nodes,
            cpu=cores,
            memory=f"{gib}g" if gib is not None else None,
            vm_size=self.vm_size or None,
            min_nodes=self.min_nodes,
            idle_seconds_before_scaledown=self.idle_seconds_before_scaledown,
            description=self.description,
            azure_type=AML_COMPUTE,
            notes=tuple(notes),
        )


ProvisioningConfiguration = (
    AmlComputeProvisioningConfiguration | DockerComputeProvisioningConfiguration | Any
)


def _store(workspace: Workspace) -> ComputeStore:
    return ComputeStore(workspace.path, workspace.db)


def _comparable(spec: ComputeSpec) -> dict[str, Any]:
    data = spec.to_dict()
    data.pop("notes")
    return data


class ComputeTarget:
    """A compute target of the workspace: ``ComputeTarget(ws, name)`` raises
    :class:`ComputeTargetException` when there is none called ``name``."""

    def __new__(cls, workspace: Workspace | None = None, name: str | None = None) -> Any:
        """``ComputeTarget(ws, name)`` of an AKS target is an :class:`AksCompute`."""
        if cls is ComputeTarget and workspace is not None and name is not None:
            from serving.sdk.aks import AksCompute, find_aks

            if find_aks(workspace, name) is not None:
                return super().__new__(AksCompute)
        return super().__new__(cls)

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        try:
            self._record = _store(workspace).get(name)
        except NotFoundError:
            raise ComputeTargetException(
                f"ComputeTargetNotFound: Compute Target with name {name} not found in "
                "provided workspace",
                hint=f"create it with ComputeTarget.create(ws, {name!r}, config)",
            ) from None
        self.name = name

    @classmethod
    def _wrap(cls, workspace: Workspace, record: ComputeRecord) -> ComputeTarget:
        target: ComputeTarget = cls.__new__(cls)
        target.workspace, target._record, target.name = workspace, record, record.name
        return target

    @staticmethod
    def create(
        workspace: Workspace, name: str, provisioning_configuration: ProvisioningConfiguration
    ) -> ComputeTarget:
        """Create the compute (the same settings again: the existing one is returned)."""
        create_target = getattr(provisioning_configuration, "create_target", None)
        if create_target is not None:  # AksCompute's configurations: a deployment target
            target: ComputeTarget = create_target(workspace, name)
            return target
        spec = provisioning_configuration.to_spec()
        for note in spec.notes:
            category = GpuUnavailableWarning if "GPU" in note else UserWarning
            warnings.warn(note, category, stacklevel=2)
        store = _store(workspace)
        existing = store.find(name)
        if existing is not None:
            if existing.kind == DOCKER and _comparable(existing.spec) == _comparable(spec):
                return ComputeTarget._wrap(workspace, existing)
            raise ComputeTargetException(
                f"compute target {name} already exists with other settings",
                hint=f"delete it first (ComputeTarget(ws, {name!r}).delete()) or pick another name",
            )
        record = store.add(name, spec)
        return ComputeTarget._wrap(workspace, record)

    @staticmethod
    def list(workspace: Workspace) -> list[ComputeTarget]:
        """The workspace's compute targets, AKS ones included (``local`` is not one, as in
        v1)."""
        from serving.sdk.aks import AksCompute, list_aks

        targets = [
            ComputeTarget._wrap(workspace, r) for r in _store(workspace).list() if r.name != LOCAL
        ]
        return [*targets, *(AksCompute(workspace, r.name) for r in list_aks(workspace))]

    @staticmethod
    def attach(workspace: Workspace, name: str, attach_configuration: Any) -> ComputeTarget:
        """v1's ``ComputeTarget.attach``: an ``AksCompute.attach_configuration(...)``."""
        create_target = getattr(attach_configuration, "create_target", None)
        if create_target is None:
            raise ComputeTargetException(
                "only AKS clusters can be attached here (a Kubernetes context): "
                "use AksCompute.attach_configuration(cluster_name=CONTEXT)"
            )
        target: ComputeTarget = create_target(workspace, name)
        return target

    @property
    def type(self) -> str:
        """``AmlCompute`` for one created as an Azure cluster, else ``Docker`` (or ``local``)."""
        if self._record.kind == LOCAL:
            return LOCAL
        return self._record.spec.azure_type or "Docker"

    @property
    def provisioning_state(self) -> str:
        return "Succeeded"

    @property
    def vm_size(self) -> str | None:
        return self._record.spec.vm_size

    @property
    def max_nodes(self) -> int | None:
        return self._record.spec.max_nodes

    def get_status(self) -> ComputeStatus:
        """Nodes in use now (runs holding one) and runs waiting."""
        from serving.runs import records as rec
        from serving.runs.compute import BUSY

        with self.workspace.db.read() as conn:
            rows = conn.execute(
                "SELECT status FROM runs WHERE target = ? AND kind = ?", (self.name, rec.SCRIPT)
            ).fetchall()
        statuses = [row[0] for row in rows]
        return ComputeStatus(
            provisioning_state=self.provisioning_state,
            current_node_count=sum(s in BUSY for s in statuses),
            max_nodes=self._record.spec.max_nodes,
            vm_size=self._record.spec.vm_size,
            queued_runs=sum(s == rec.QUEUED for s in statuses),
            errors=list(self._record.spec.notes),
        )

    @property
    def status(self) -> ComputeStatus:
        return self.get_status()

    def wait_for_completion(
        self,
        show_output: bool = False,
        min_node_count: int | None = None,
        timeout_in_minutes: int = 25,
        is_delete_operation: bool = False,
    ) -> None:
        """Nothing to provision here: returns at once (prints v1's lines when asked)."""
        if show_output:
            print("Succeeded")
            print(f"{self.type} wait for completion finished")
            if min_node_count:
                print("\nMinimum number of nodes requested have been provisioned")

    def delete(self) -> None:
        """Remove the compute (refused while runs on it have not ended)."""
        _store(self.workspace).delete(self.name)

    def detach(self) -> None:
        self.delete()

    def serialize(self) -> dict[str, Any]:
        data = self._record.to_dict()
        data["type"] = self.type
        data["provisioningState"] = self.provisioning_state
        return data

    def __repr__(self) -> str:
        return f"{self.type}(workspace={self.workspace.name!r}, name={self.name!r})"


class AmlCompute(ComputeTarget):
    """Azure's managed cluster: here, a Docker compute on this machine."""

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int = 0,
        max_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = 1800,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        **azure_only: Any,
    ) -> AmlComputeProvisioningConfiguration:
        """v1's signature; networking, identity and admin-user options have no effect here."""
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size,
            vm_priority=vm_priority,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds_before_scaledown,
            description=description,
            tags=tags,
            ignored=tuple(sorted(k for k, v in azure_only.items() if v is not None)),
        )

    @staticmethod
    def supported_vmsizes(
        workspace: Workspace, location: str | None = None
    ) -> list[dict[str, Any]]:
        """The sizes whose cores and memory become a run's limits here."""
        return [
            {"name": name, "vCPUs": cores, "gpus": 0, "memoryGB": gib}
            for name, (cores, gib) in sorted(VM_SIZES.items())
        ]


class DockerCompute(ComputeTarget):
    """This platform's own compute: ``DockerCompute.provisioning_configuration(max_nodes=2,
    cpu=1.5, memory="4g", network=False)``."""

    @staticmethod
    def provisioning_configuration(
        max_nodes: int = 1,
        cpu: float | None = None,
        memory: str | int | None = None,
        network: bool = False,
        description: str | None = None,
    ) -> DockerComputeProvisioningConfiguration:
        return DockerComputeProvisioningConfiguration(max_nodes, cpu, memory, network, description)


def compute_targets(workspace: Workspace) -> dict[str, ComputeTarget]:
    """``ws.compute_targets``: name -> target (``local`` is not listed, as in v1)."""
    return {target.name: target for target in ComputeTarget.list(workspace)}

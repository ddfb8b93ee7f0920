"""A Ray cluster as a v1 compute target: ``RayCompute.attach_configuration(address=...)``
given to ``ComputeTarget.create`` or ``ComputeTarget.attach``::

    from serving.sdk.ray_compute import RayCompute
    config = RayCompute.attach_configuration(address="http://head:8265", cpu=1)
    target = ComputeTarget.attach(ws, "ray-cluster", config)
    ScriptRunConfig(".", "train.py", compute_target="ray-cluster")

The head must answer when it is attached (a one-line error naming the address
otherwise). Its ``type`` is ``AmlCompute``: the v1 class of a cluster that runs many runs
and trials side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serving.runs.compute import RAY, ComputeStore
from serving.runs.ray.compute_ops import ray_spec
from serving.runs.ray.jobs_api import RayJobs
from serving.sdk.compute import ComputeTarget, ComputeTargetException


@dataclass(frozen=True)
class RayAttachConfiguration:
    """Where the head is, and what each run asks of the cluster."""

    address: str
    cpu: float | None = None
    memory: str | int | None = None
    gpus: float | None = None
    server_url: str | None = None
    """The workspace server's URL as the nodes reach it (the server must listen there)."""

    def create_target(self, workspace: Any, name: str) -> ComputeTarget:
        spec = ray_spec(
            self.address,
            cpu=self.cpu,
            memory=self.memory,
            gpus=self.gpus,
            server_url=self.server_url,
        )
        store = ComputeStore(workspace.path, workspace.db)
        existing = store.find(name)
        if existing is not None:
            if existing.kind == RAY and existing.spec.address == spec.address:
                return ComputeTarget._wrap(workspace, existing)
            raise ComputeTargetException(f"compute target {name} already exists")
        RayJobs(str(spec.address)).version()
        return ComputeTarget._wrap(workspace, store.add(name, spec, RAY))


class RayCompute(ComputeTarget):
    """A Ray cluster (KubeRay, VMs, or ``serving compute up``)."""

    @staticmethod
    def attach_configuration(
        address: str,
        cpu: float | None = None,
        memory: str | int | None = None,
        gpus: float | None = None,
        server_url: str | None = None,
    ) -> RayAttachConfiguration:
        return RayAttachConfiguration(address, cpu, memory, gpus, server_url)

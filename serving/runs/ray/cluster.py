"""A Ray cluster for trying Ray compute on this machine: ``serving compute up NAME --type
ray --nodes N`` starts a head and N worker containers from the node image
(:mod:`serving.runs.ray.image`) on a private Docker network; ``compute down`` removes them.

Everything is named ``serving-ray-<compute>-<workspace key>`` and labelled with the
workspace and the compute, so ``down`` removes exactly this cluster. By default the head
runs no script (``--num-cpus=0``; ``--head-cpus`` changes it): runs are placed on the
workers, and a worker lost fails only the runs on it. The head's dashboard (the Jobs
API) is published on 127.0.0.1 only, on a port Docker picks. Node death is noticed within
a few seconds (the head's health checks are shortened: a trial on a killed worker should
not wait the default half minute).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.errors import ServingError
from serving.images.dockerfile import ENV_VENV
from serving.runs.ray.jobs_api import RayJobs, RayUnreachable

if TYPE_CHECKING:
    from docker import DockerClient

Progress = Callable[[str], None]
DASHBOARD_PORT = 8265
GCS_PORT = 6379
OBJECT_STORE_BYTES = 80 * 2**20
"""Ray's floor is 75 MiB; nodes here are small."""
SHM_SIZE = "128m"
UP_TIMEOUT_S = 120.0
ROLE_LABEL = "serving.role"
WORKSPACE_LABEL = "serving.workspace"
COMPUTE_LABEL = "serving.compute"
NODE_ENV = {
    "PATH": f"{ENV_VENV}/bin:/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "RAY_USAGE_STATS_ENABLED": "0",
    "PYTHONUNBUFFERED": "1",
}
HEAD_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "4",
}


@dataclass(frozen=True)
class NodeLimits:
    """What each container may use."""

    cpu: float = 1.0
    memory_bytes: int = 1024 * 2**20
    head_cpus: int = 0
    """Logical CPUs the head offers to runs (0: the head runs none, a lost worker fails
    only the runs on it)."""


def prefix(workspace: Path, name: str) -> str:
    """``serving-ray-<name>-<8 hex of the workspace path>``."""
    key = hashlib.sha256(str(Path(workspace).resolve()).encode()).hexdigest()[:8]
    return f"serving-ray-{name}-{key}"


def labels(workspace: Path, name: str, role: str) -> dict[str, str]:
    return {WORKSPACE_LABEL: str(workspace), COMPUTE_LABEL: name, ROLE_LABEL: f"ray-{role}"}


def head_kwargs(
    workspace: Path, name: str, image: str, network: str, limits: NodeLimits
) -> dict[str, Any]:
    """``containers.run`` arguments of the head (pure)."""
    argv = ["start", "--head", "--block", f"--port={GCS_PORT}", f"--num-cpus={limits.head_cpus}"]
    argv += ["--dashboard-host=0.0.0.0", f"--dashboard-port={DASHBOARD_PORT}"]
    argv += ["--include-dashboard=true", f"--object-store-memory={OBJECT_STORE_BYTES}"]
    return _node(workspace, name, image, network, limits, "head", argv) | {
        "ports": {f"{DASHBOARD_PORT}/tcp": ("127.0.0.1", None)},
        "environment": NODE_ENV | HEAD_ENV,
    }


def worker_kwargs(
    workspace: Path, name: str, image: str, network: str, limits: NodeLimits, index: int
) -> dict[str, Any]:
    """``containers.run`` arguments of worker ``index`` (pure): one logical CPU per
    started core, at least one."""
    head = f"{prefix(workspace, name)}-head:{GCS_PORT}"
    argv = ["start", "--block", f"--address={head}", f"--num-cpus={max(1, round(limits.cpu))}"]
    argv += [f"--memory={limits.memory_bytes // 2}", f"--object-store-memory={OBJECT_STORE_BYTES}"]
    return _node(workspace, name, image, network, limits, f"worker-{index}", argv)


def _node(
    workspace: Path,
    name: str,
    image: str,
    network: str,
    limits: NodeLimits,
    role: str,
    argv: list[str],
) -> dict[str, Any]:
    return {
        "image": image,
        "entrypoint": [f"{ENV_VENV}/bin/ray"],
        "command": argv,
        "name": f"{prefix(workspace, name)}-{role}",
        "hostname": f"{prefix(workspace, name)}-{role}",
        "network": network,
        "labels": labels(workspace, name, role.split("-")[0]),
        "environment": NODE_ENV,
        "nano_cpus": int(limits.cpu * 1e9),
        "mem_limit": limits.memory_bytes,
        "shm_size": SHM_SIZE,
        "healthcheck": {"test": ["NONE"]},  # the image's own check is for scoring servers
        "init": True,
        "detach": True,
    }


def start(
    client: DockerClient,
    workspace: Path,
    name: str,
    image: str,
    nodes: int,
    limits: NodeLimits,
    progress: Progress,
) -> tuple[str, str]:
    """Start the cluster; (dashboard address, network name) once ``nodes`` workers joined.
    Whatever was started is removed again if it does not come up."""
    network = prefix(workspace, name)
    try:
        client.networks.create(network, driver="bridge", labels=labels(workspace, name, "net"))
        head = client.containers.run(**head_kwargs(workspace, name, image, network, limits))
        progress(f"started the head {head.name}")
        for index in range(1, nodes + 1):
            worker = client.containers.run(
                **worker_kwargs(workspace, name, image, network, limits, index)
            )
            progress(f"started worker {worker.name}")
        head.reload()
        port = head.attrs["NetworkSettings"]["Ports"][f"{DASHBOARD_PORT}/tcp"][0]["HostPort"]
        address = f"http://127.0.0.1:{port}"
        wait_ready(RayJobs(address), nodes + 1, progress)
    except BaseException:
        remove(client, workspace, name)
        raise
    return address, network


def wait_ready(jobs: RayJobs, count: int, progress: Progress) -> None:
    """Wait until ``count`` nodes are alive (bounded by :data:`UP_TIMEOUT_S`)."""
    deadline = time.monotonic() + UP_TIMEOUT_S
    shown = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(RayUnreachable, ServingError, KeyError):
            alive = sum(1 for n in jobs.nodes() if n.get("state") == "ALIVE")
            line = f"{alive} of {count} Ray nodes up"
            if line != shown:
                progress(line)
                shown = line
            if alive >= count:
                return
        time.sleep(0.5)
    raise ServingError(
        f"the Ray cluster at {jobs.address} did not come up within {UP_TIMEOUT_S:g} s",
        hint="look at the head's output: docker logs <prefix>-head",
    )


def remove(client: DockerClient, workspace: Path, name: str) -> int:
    """Remove the cluster's containers and network; how many containers went."""
    import docker

    wanted = [f"{WORKSPACE_LABEL}={workspace}", f"{COMPUTE_LABEL}={name}"]
    found = client.containers.list(all=True, filters={"label": wanted})
    found = [c for c in found if str(c.labels.get(ROLE_LABEL, "")).startswith("ray-")]
    for container in found:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    for network in client.networks.list(filters={"label": wanted}):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    return len(found)


def gateway(client: DockerClient, network: str) -> str:
    """The host's address on the cluster's network (where the nodes reach this machine)."""
    attrs = client.networks.get(network).attrs
    return str(attrs["IPAM"]["Config"][0]["Gateway"])

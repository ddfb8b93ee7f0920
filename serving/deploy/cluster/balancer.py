"""The balancer's image and container.

The image is HAProxy from Debian, made here with no registry like the model base
(``serving images bootstrap``): ``mmdebstrap`` builds a minimal Debian root file system with
the ``haproxy`` package from the host's configured mirror (read from its apt sources at run
time), and ``docker import`` tags it ``serving-balancer:haproxy-<suite>``. It is built once
and reused (about 70 MB, 25 s).

The container runs as the calling user (so the runtime API socket it creates in the
endpoint's folder belongs to that user), publishes only ``127.0.0.1:<port>`` and joins the
endpoint's private network, where it finds the replicas by name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.deploy.base import Progress
from serving.deploy.cluster.haproxy import CONFIG_DIR, CONFIG_NAME, LISTEN_PORT, RuntimeApi
from serving.deploy.cluster.state import balancer_name, network_name
from serving.deploy.toolkit import LOG_CONFIG, LOOPBACK, container_log, labels, wait_until
from serving.errors import DeploymentError
from serving.images.bootstrap import ensure_package_image

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

BALANCER_REPOSITORY = "serving-balancer"
BALANCER_SUITE = "bookworm"
"""Debian suite of the balancer image (HAProxy 2.6 LTS)."""
BALANCER_LABEL = "serving.balancer"
START_TIMEOUT_S = 30.0


def balancer_tag(suite: str = BALANCER_SUITE) -> str:
    return f"{BALANCER_REPOSITORY}:haproxy-{suite}"


def import_changes(suite: str, mirror: str) -> list[str]:
    """Dockerfile instructions applied by ``docker import``."""
    return [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        f'CMD ["haproxy", "-db", "-f", "{CONFIG_DIR}/{CONFIG_NAME}"]',
        f"LABEL {BALANCER_LABEL}=haproxy serving.balancer.suite={suite} "
        f"serving.base.mirror={mirror}",
    ]


def ensure_balancer_image(
    client: DockerClient, progress: Progress, *, apt_dir: Path = Path("/etc/apt")
) -> str:
    """The balancer image's tag, built from the host's Debian mirror when missing."""
    return ensure_package_image(
        client,
        balancer_tag(),
        "haproxy",
        BALANCER_SUITE,
        "balancer",
        import_changes,
        progress,
        apt_dir=apt_dir,
    )


def balancer_kwargs(
    endpoint: str, workspace: str, folder: Path, port: int, image: str
) -> dict[str, Any]:
    """Keyword arguments of ``containers.run`` for the balancer (pure; unit-tested)."""
    return {
        "image": image,
        "name": balancer_name(endpoint),
        "command": ["haproxy", "-db", "-f", f"{CONFIG_DIR}/{CONFIG_NAME}"],
        "user": f"{os.getuid()}:{os.getgid()}",
        "volumes": {str(folder): {"bind": CONFIG_DIR, "mode": "rw"}},
        "ports": {f"{LISTEN_PORT}/tcp": (LOOPBACK, port)},
        "network": network_name(endpoint),
        "restart_policy": {"Name": "unless-stopped"},
        "labels": labels(endpoint, workspace, "balancer"),
        "log_config": LOG_CONFIG,
        "detach": True,
    }


def ensure_network(client: DockerClient, endpoint: str, workspace: str) -> None:
    """The endpoint's private bridge network (created when missing)."""
    import docker

    name = network_name(endpoint)
    try:
        client.networks.get(name)
    except docker.errors.NotFound:
        client.networks.create(name, driver="bridge", labels=labels(endpoint, workspace, "network"))


def start_balancer(
    client: DockerClient, endpoint: str, workspace: str, folder: Path, port: int, image: str
) -> Container:
    """Run the balancer and wait until its runtime API answers."""
    import docker

    try:
        container = client.containers.run(
            **balancer_kwargs(endpoint, workspace, folder, port, image)
        )
    except docker.errors.APIError as exc:
        raise DeploymentError(
            f"Docker could not start the balancer {balancer_name(endpoint)}: {exc.explanation}",
            hint="is the port free? choose another --port, or leave it out",
        ) from exc
    api = RuntimeApi(folder)

    def answers() -> bool:
        if api.answers():
            return True
        container.reload()
        if container.status in ("exited", "dead"):
            raise failed()
        return False

    def failed(_waited: float = 0.0) -> DeploymentError:
        return DeploymentError(
            f"the balancer {container.name} did not start ({container.status})",
            details=container_log(container, 20),
        )

    wait_until(
        answers,
        progress=lambda _line: None,
        waiting=lambda _waited: "",
        timed_out=failed,
        timeout_s=START_TIMEOUT_S,
    )
    return container

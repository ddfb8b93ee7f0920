"""Deployment targets, registered by name; the Docker-based ones are handed an engine
connection (made on first use, closed after each call) rather than making their own."""

from __future__ import annotations

from collections.abc import Callable

from serving.deploy.base import Target
from serving.errors import UserInputError


def _local() -> Target:
    from serving.deploy.local import LocalTarget

    return LocalTarget()


def _docker() -> Target:
    from serving.deploy.containers import Docker
    from serving.deploy.docker import DockerTarget

    return DockerTarget(Docker())


def _cluster() -> Target:
    from serving.deploy.cluster.target import ClusterTarget
    from serving.deploy.containers import Docker

    return ClusterTarget(Docker())


def _kubernetes() -> Target:
    from serving.deploy.containers import Docker
    from serving.deploy.kubernetes.target import KubernetesTarget

    return KubernetesTarget(Docker())


_FACTORIES: dict[str, Callable[[], Target]] = {
    "local": _local,
    "docker": _docker,
    "cluster": _cluster,
    "kubernetes": _kubernetes,
}


def target_names() -> list[str]:
    return sorted(_FACTORIES)


def get_target(name: str) -> Target:
    factory = _FACTORIES.get(name)
    if factory is None:
        raise UserInputError(
            f"unknown deployment target {name!r}: available targets are {', '.join(target_names())}"
        )
    return factory()

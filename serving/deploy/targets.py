"""Deployment targets, registered by name."""

from __future__ import annotations

from collections.abc import Callable

from serving.deploy.base import Target
from serving.errors import UserInputError


def _local() -> Target:
    from serving.deploy.local import LocalTarget

    return LocalTarget()


def _docker() -> Target:
    from serving.deploy.docker import DockerTarget

    return DockerTarget()


def _cluster() -> Target:
    from serving.deploy.cluster import ClusterTarget

    return ClusterTarget()


def _kubernetes() -> Target:
    from serving.deploy.kubernetes import KubernetesTarget

    return KubernetesTarget()


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

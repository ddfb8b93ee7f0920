"""Which image model images start from, and what it offers (Python, glibc, architecture).

Order: ``SERVING_BASE_IMAGE`` when set (``{python}`` in it is replaced by the environment's
major.minor); else a base made here by ``serving images bootstrap``; else the public
``python:<version>-slim``, pulled when missing. A base that cannot be found or pulled fails
in one line that points at ``serving images bootstrap``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from serving.config import PlatformSettings
from serving.environments.interpreter_probe import PROBE_FILE, probe_argv
from serving.images.bootstrap import bootstrap_pythons, describe_available, find_bootstrapped
from serving.images.engine import Progress, find_image, last_json_line, run_once
from serving.images.errors import ImageBuildError

if TYPE_CHECKING:
    from docker import DockerClient

DEFAULT_BASE = "python:{python}-slim"
DEFAULT_GLIBC = "2.28"
"""Assumed when the base cannot be inspected (a context written for another machine)."""

PROBE_IN_CONTAINER = "/serving-interpreter-probe.py"
"""Where the probe program's file is copied in a base image's throw-away container."""


@dataclass(frozen=True)
class BaseFacts:
    """What wheels a base can install: its Python (major.minor), glibc and machine."""

    python: str
    glibc: str
    """E.g. ``2.36``: the newest manylinux tag the base runs (:data:`DEFAULT_GLIBC` when
    it cannot be inspected, or its C library is not glibc)."""
    arch: str


@dataclass(frozen=True)
class ResolvedBase:
    ref: str
    """The name used in ``FROM``."""
    image_id: str | None
    """None when the image is not on this machine (package for elsewhere)."""
    source: str
    """``configured``, ``bootstrap`` or ``default``."""


def configured_base(settings: PlatformSettings, python: str) -> str | None:
    if not settings.base_image:
        return None
    return settings.base_image.replace("{python}", python)


def _bootstrap_hint(python: str) -> str:
    if python in bootstrap_pythons():
        return (
            f"build one with no registry: 'serving images bootstrap --python {python}' "
            "(or set SERVING_BASE_IMAGE to an image you can pull)"
        )
    return (
        f"'serving images bootstrap' provides Python {describe_available()}: pin one of "
        f"those in the environment, or set SERVING_BASE_IMAGE to an image with Python {python}"
    )


def pull(client: DockerClient, ref: str, python: str, progress: Progress) -> str:
    """Pull ``ref``; returns its id. Fails in one line pointing at the bootstrap."""
    import docker

    progress(f"pulling base image {ref}")
    try:
        image = client.images.pull(ref)
    except docker.errors.DockerException as exc:
        reason = " ".join(str(getattr(exc, "explanation", None) or exc).split())[:160]
        raise ImageBuildError(
            f"base image {ref} is not on this machine and cannot be pulled: {reason}",
            hint=_bootstrap_hint(python),
        ) from exc
    return str(image.id)


def resolve_base(
    client: DockerClient | None,
    python: str,
    settings: PlatformSettings,
    progress: Progress,
    *,
    pull_missing: bool = True,
) -> ResolvedBase:
    """The base for an environment with ``python`` (see the module docstring)."""
    configured = configured_base(settings, python)
    if client is None:
        return ResolvedBase(configured or DEFAULT_BASE.format(python=python), None, "default")
    if configured is None:
        tag = find_bootstrapped(client, python)
        if tag is not None:
            image = find_image(client, tag)
            return ResolvedBase(tag, str(image.id) if image else None, "bootstrap")
    ref = configured or DEFAULT_BASE.format(python=python)
    source = "configured" if configured else "default"
    image = find_image(client, ref)
    if image is not None:
        return ResolvedBase(ref, str(image.id), source)
    if not pull_missing:
        return ResolvedBase(ref, None, source)
    return ResolvedBase(ref, pull(client, ref, python, progress), source)


def probe(client: DockerClient, base: ResolvedBase) -> BaseFacts:
    """Run the base's python3 once to learn its version, glibc and machine.

    The program is :mod:`serving.environments.interpreter_probe`; a bare base has no
    ``serving`` to run it with ``-m``, so its file is copied into the container (before
    it starts) and run by path."""
    result = run_once(
        client,
        base.image_id or base.ref,
        probe_argv("python3", PROBE_IN_CONTAINER),
        timeout_s=120,
        files={PROBE_IN_CONTAINER.lstrip("/"): PROBE_FILE.read_bytes()},
    )
    data = last_json_line(result.output) if result.exit_code == 0 else None
    if data is None:
        raise ImageBuildError(
            f"base image {base.ref} has no working python3 "
            f"({result.output.strip().splitlines()[-1:] or ['no output']})",
            hint="use an image with Python 3 and its venv module, or 'serving images bootstrap'",
        )
    return BaseFacts(str(data["python"]), str(data["glibc"] or DEFAULT_GLIBC), str(data["arch"]))


def check_python(base: ResolvedBase, facts: BaseFacts, python: str) -> None:
    """The base must have the environment's Python."""
    if facts.python != python:
        raise ImageBuildError(
            f"base image {base.ref} has Python {facts.python}, but the environment needs "
            f"Python {python}",
            hint=_bootstrap_hint(python),
        )

"""How the lifecycle records what targets do: the record is written first
(Transitioning), each runtime the moment it starts, then Healthy (with the URIs and the
spec to redeploy from) or Failed (with the error). Also the per-endpoint command lock and
the recovery of what a killed command left, which every changing command starts with."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from serving.deploy.base import (
    Deployed,
    DeployRequest,
    Progress,
    Replaceable,
    ReplicatedTarget,
    Started,
    Target,
)
from serving.deploy.folders import tidy
from serving.deploy.locks import endpoint_command
from serving.deploy.targets import get_target
from serving.errors import DeploymentError
from serving.registry import EndpointRecord
from serving.workspace import Workspace


def quiet(_line: str) -> None:
    return None


def recorder(ws: Workspace, name: str, base: dict[str, Any] | None = None) -> Started:
    """Records a target's runtime as soon as it starts something (under ``candidate`` of
    ``base`` when a running version must stay recorded beside it)."""

    def record(runtime: dict[str, Any]) -> None:
        value = runtime if base is None else {**base, "candidate": runtime}
        ws.endpoints.update(name, runtime=value)

    return record


def failure(exc: BaseException) -> str:
    if isinstance(exc, DeploymentError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


def healthy(ws: Workspace, request: DeployRequest, deployed: Deployed) -> EndpointRecord:
    """Record a deployed version: Healthy, its URIs, runtime and spec."""
    return ws.endpoints.update(
        request.name,
        state="Healthy",
        error=None,
        scoring_uri=deployed.scoring_uri,
        swagger_uri=deployed.swagger_uri,
        runtime=deployed.runtime,
        spec=request.to_spec(),
    )


def run(
    ws: Workspace,
    backend: Target,
    request: DeployRequest,
    progress: Progress,
    previous: EndpointRecord | None = None,
) -> EndpointRecord:
    """Deploy (or, with ``previous`` on a replicated target, roll) and record the outcome."""
    try:
        if previous is not None and isinstance(backend, ReplicatedTarget):
            deployed = backend.roll(ws, previous, request, progress)
        else:
            deployed = backend.deploy(ws, request, progress, recorder(ws, request.name))
    except BaseException as exc:
        ws.endpoints.update(request.name, state="Failed", error=failure(exc))
        raise
    return healthy(ws, request, deployed)


def recover(ws: Workspace, backend: Target, record: EndpointRecord) -> EndpointRecord:
    """Holding the lock: stop a new version a killed update left starting, and remove
    staging folders no record names."""
    if record.runtime.get("candidate") and isinstance(backend, Replaceable):
        backend.discard_candidate(ws, record)
        runtime = {k: v for k, v in record.runtime.items() if k != "candidate"}
        record = ws.endpoints.update(record.name, runtime=runtime)
    folder = record.runtime.get("folder")
    tidy(ws, record.name, keep=[folder] if folder else [])
    return record


def command(ws: Workspace, name: str, progress: Progress = quiet) -> AbstractContextManager[None]:
    """The lock of an existing endpoint (an unknown name is an error before any lock)."""
    ws.endpoints.get(name)
    return endpoint_command(ws, name, progress)


def locked_record(ws: Workspace, name: str) -> tuple[EndpointRecord, Target]:
    """Holding the lock: the endpoint's record (recovered) and its target."""
    record = ws.endpoints.get(name)
    backend = get_target(record.target)
    return recover(ws, backend, record), backend


def remove(ws: Workspace, record: EndpointRecord) -> None:
    """Holding the lock: what runs (a leftover candidate too), its folder, its record."""
    backend = get_target(record.target)
    if record.runtime.get("candidate") and isinstance(backend, Replaceable):
        backend.discard_candidate(ws, record)
    backend.remove(ws, record)
    ws.endpoints.delete(record.name)

"""How the lifecycle records what targets do: the record is written first
(Transitioning), each runtime the moment it starts, then Healthy (with the URIs and the
spec to redeploy from) or Failed (with the error). Also the per-endpoint command lock and
the recovery of what a killed command left, which every changing command starts with.

The rule after a killed or failed update, the same on every single-server target: the
previous version serves. The record keeps its runtime, spec and models until the new
version is recorded Healthy; until then a new server is recorded only as the runtime's
``candidate``. :func:`recover` removes the candidate (a new container under the endpoint's
name too), starts the recorded version again where it no longer runs (a parked container
renamed back, a local server from its version folder, recorded as soon as it starts), puts
back the model ids of the recorded spec and resets the state to what the target observes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

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
from serving.registry import EndpointRecord, parse_ref
from serving.workspace import Workspace


@runtime_checkable
class Restorable(Protocol):
    """A :class:`Replaceable` target that starts a recorded version again itself (a new
    process: ``started`` records it)."""

    def restore(self, ws: Workspace, record: EndpointRecord, started: Started) -> None:
        """Start ``record``'s version again if it does not run."""
        ...


def quiet(_line: str) -> None:
    return None


def recorder(ws: Workspace, name: str, base: dict[str, Any] | None = None) -> Started:
    """Records a target's runtime as soon as it starts something (under ``candidate`` of
    ``base`` when a running version must stay recorded beside it; in its place when it is
    base's own version started again: the same version ``folder``)."""

    def record(runtime: dict[str, Any]) -> None:
        value = runtime
        if base is not None and not _same_version(runtime, base):
            value = {**base, "candidate": runtime}
        ws.endpoints.update(name, runtime=value)

    return record


def _same_version(runtime: dict[str, Any], base: dict[str, Any]) -> bool:
    folder = runtime.get("folder")
    return bool(folder) and folder == base.get("folder")


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
    """Holding the lock: undo what a killed update left (see the module's rule) and remove
    the staging folders no record names."""
    if record.runtime.get("candidate") and isinstance(backend, Replaceable):
        record = roll_back(ws, backend, record)
    folder = record.runtime.get("folder")
    tidy(ws, record.name, keep=[folder] if folder else [])
    return record


def roll_back(ws: Workspace, backend: Replaceable, record: EndpointRecord) -> EndpointRecord:
    """Holding the lock, after an update that did not finish: the recorded version serves
    (started again if need be), with its spec's models and the state it is observed in."""
    backend.discard_candidate(ws, record)
    runtime = {k: v for k, v in record.runtime.items() if k != "candidate"}
    models = [ws.models.get(parse_ref(ref)).id for ref in record.spec.get("models", [])]
    record = ws.endpoints.update(record.name, runtime=runtime, model_ids=models)
    if isinstance(backend, Restorable):
        backend.restore(ws, record, recorder(ws, record.name))
        record = ws.endpoints.get(record.name)
    seen = get_target(record.target).observe(ws, record)
    return ws.endpoints.update(record.name, state=seen.state, error=seen.error)


def command(ws: Workspace, name: str, progress: Progress = quiet) -> AbstractContextManager[bool]:
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

"""Endpoint lifecycle across targets: deploy, observe, update, keys, logs, delete.

The registry record is written first (Transitioning), then the target runs the endpoint,
recording what it started (process, container) the moment it starts, then the record is
updated to Healthy or Failed with the error (see :mod:`serving.deploy.recording`).
Commands and the SDK call these functions; targets never touch the registry themselves.
Updates and scaling are in :mod:`serving.deploy.update`.

Every command that changes an endpoint holds its lock (:mod:`serving.deploy.locks`) for its
whole run and, holding it, first clears what a killed command left (a new version that was
still starting, staging folders). Auth is on by default for the cluster and kubernetes
targets (as on AKS) and off for local and docker (as on ACI).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from serving.deploy import keys as keyring
from serving.deploy.base import Autoscaled, Progress, ReplicatedTarget
from serving.deploy.inputs import (
    AUTH_BY_DEFAULT,
    check_script,
    default_auth,
    new_request,
    resolve_models,
)
from serving.deploy.locks import endpoint_command, endpoint_lock_path
from serving.deploy.recording import command, locked_record, quiet, remove, run
from serving.deploy.spec import DeploymentSpec
from serving.deploy.targets import get_target
from serving.deploy.update import scale, update
from serving.environments import EnvSpec
from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.proc import file_lock
from serving.registry import EndpointRecord
from serving.workspace import Workspace

__all__ = [
    "AUTH_BY_DEFAULT",
    "OBSERVE_WAIT_S",
    "autoscaling",
    "check_script",
    "default_auth",
    "delete",
    "deploy",
    "logs",
    "observe",
    "observe_all",
    "regen_key",
    "replicas",
    "resolve_models",
    "scale",
    "update",
    "write_manifests",
]

OBSERVE_WAIT_S = 2.0
"""How long ``show``/``list`` wait for a command on the endpoint before showing the record."""


def deploy(
    ws: Workspace,
    name: str,
    *,
    models: list[str],
    entry_script: Path | None,
    env: str | EnvSpec | None,
    source_dir: Path | None = None,
    target: str = "local",
    auth: bool | None = None,
    port: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    deployment: DeploymentSpec | None = None,
    overwrite: bool = False,
    progress: Progress = quiet,
) -> EndpointRecord:
    """Deploy a new endpoint and wait until it is ready (``auth`` None: the target's
    default, see :data:`AUTH_BY_DEFAULT`)."""
    backend = get_target(target)
    keyed = default_auth(backend.name) if auth is None else auth
    given = {"port": port, "workers": workers, "threads": threads, "deployment": deployment}
    request = new_request(ws, name, keyed, models, entry_script, env, source_dir, **given)
    with endpoint_command(ws, name, progress):
        existing = _existing(ws, name)
        if existing is not None:
            if not overwrite:
                raise ConflictError(
                    f"endpoint {name} already exists",
                    hint="use 'serving endpoints update', --overwrite, or delete it first",
                )
            progress(f"removing the existing endpoint {name}")
            remove(ws, existing)
        elif ws.endpoint_dir(name).exists():
            shutil.rmtree(ws.endpoint_dir(name), ignore_errors=True)  # a killed delete's rest
        model_ids = [m.id for m in request.models]
        ws.endpoints.create(name, backend.name, request.to_spec(), list(request.keys), model_ids)
        return run(ws, backend, request, progress)


def write_manifests(
    ws: Workspace,
    name: str,
    *,
    output: Path,
    auth: bool | None = None,
    progress: Progress = quiet,
    **inputs: Any,
) -> tuple[list[Path], tuple[str, ...]]:
    """Build the image and write Kubernetes manifests to ``output`` without deploying
    anything (no endpoint is recorded); returns the files and the keys in the Secret.
    ``inputs`` are :func:`deploy`'s (models, entry_script, env, source_dir, workers,
    threads, deployment)."""
    from serving.deploy.containers import Docker
    from serving.deploy.kubernetes.target import KubernetesTarget

    keyed = default_auth("kubernetes") if auth is None else auth
    request = new_request(ws, name, keyed, **inputs)
    target = KubernetesTarget(Docker())
    return target.write(ws, request, Path(output), progress), request.keys


def _existing(ws: Workspace, name: str) -> EndpointRecord | None:
    try:
        return ws.endpoints.get(name)
    except NotFoundError:
        return None


def replicas(ws: Workspace, name: str) -> list[dict[str, Any]]:
    """One row per replica of a replicated endpoint (empty for single-server targets)."""
    record = ws.endpoints.get(name)
    backend = get_target(record.target)
    if not isinstance(backend, ReplicatedTarget) or record.state == "Failed":
        return []
    return backend.replicas(ws, record)


def autoscaling(ws: Workspace, name: str) -> dict[str, Any] | None:
    """The autoscaler's policy, size and last decisions (None: the endpoint does not
    autoscale, or its target cannot)."""
    record = ws.endpoints.get(name)
    backend = get_target(record.target)
    if not isinstance(backend, Autoscaled) or record.state == "Failed":
        return None
    return backend.autoscaling(ws, record)


def observe(ws: Workspace, name: str) -> EndpointRecord:
    """The record with its state reconciled with what really runs (as recorded, when a
    command on the endpoint is under way)."""
    return _observe(ws, ws.endpoints.get(name))


def observe_all(ws: Workspace) -> list[EndpointRecord]:
    return [_observe(ws, record) for record in ws.endpoints.list()]


def _observe(ws: Workspace, record: EndpointRecord) -> EndpointRecord:
    name = record.name
    if record.state in ("Transitioning", "Failed"):
        return record
    with file_lock(endpoint_lock_path(ws, name), wait_s=OBSERVE_WAIT_S) as got:
        if not got:
            return record
        record = ws.endpoints.get(name)
        if record.state in ("Transitioning", "Failed"):
            return record
        seen = get_target(record.target).observe(ws, record)
        if seen.state != record.state or seen.error != record.error:
            record = ws.endpoints.update(name, state=seen.state, error=seen.error)
        return record


def regen_key(ws: Workspace, name: str, which: str) -> EndpointRecord:
    with command(ws, name):
        record, backend = locked_record(ws, name)
        new = keyring.regenerate(list(record.keys), which)
        backend.set_keys(ws, record, new)
        return ws.endpoints.update(name, keys=new)


def logs(ws: Workspace, name: str, tail: int = 5000, replica: str | None = None) -> str:
    """The endpoint's log; ``replica`` picks one replica of a replicated endpoint."""
    record = ws.endpoints.get(name)
    backend = get_target(record.target)
    if replica is None:
        return backend.logs(ws, record, tail)
    if not isinstance(backend, ReplicatedTarget):
        raise UserInputError(f"endpoint {name} has no replicas: leave out --replica")
    return backend.replica_logs(ws, record, tail, replica)


def delete(ws: Workspace, name: str, progress: Progress = quiet) -> None:
    """Stop the endpoint, remove what it left on the machine, then its record."""
    with command(ws, name, progress):
        remove(ws, ws.endpoints.get(name))

"""Changing a running endpoint: ``update`` (new models, script or environment; keys and
port kept) and ``scale``. The new version starts before the old one stops: a replicated
target rolls its replicas, a :class:`Replaceable` one tries the new version on a spare
port first; when the new version fails, the record says the old one serves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from serving.deploy import process
from serving.deploy.base import (
    Change,
    DeployRequest,
    Progress,
    Replaceable,
    ReplicatedTarget,
    Target,
)
from serving.deploy.folders import tidy
from serving.deploy.inputs import check_script, env_spec, request_of, resolve_models
from serving.deploy.nocode import builtin_env, is_builtin, nocode_framework
from serving.deploy.recording import (
    command,
    failure,
    healthy,
    locked_record,
    quiet,
    recorder,
    roll_back,
    run,
)
from serving.deploy.spec import DeploymentSpec
from serving.environments import EnvSpec
from serving.errors import DeploymentError, UserInputError
from serving.registry import EndpointRecord, parse_ref
from serving.workspace import Workspace


def update(
    ws: Workspace,
    name: str,
    *,
    models: list[str] | None = None,
    entry_script: Path | None = None,
    source_dir: Path | None = None,
    env: str | EnvSpec | None = None,
    progress: Progress = quiet,
) -> EndpointRecord:
    """Redeploy with new models, script or environment; keys and port are kept. The new
    version starts before the old one stops; if it fails, the old one keeps serving."""
    with command(ws, name, progress):
        record, backend = locked_record(ws, name)
        request = _changed(ws, request_of(ws, record), models, entry_script, source_dir, env)
        runtime_port = record.runtime.get("port")
        if request.port is None and isinstance(runtime_port, int):
            request = replace(request, port=runtime_port)
        ws.endpoints.update(name, state="Transitioning", model_ids=[m.id for m in request.models])
        if isinstance(backend, ReplicatedTarget):
            # a rolling update: the running replicas serve until new ones are ready
            return _run_rolling(ws, backend, request, record, progress)
        if isinstance(backend, Replaceable):
            change = Change(record, request, recorder(ws, name, record.runtime))
            return _run_replace(ws, backend, change, progress)
        progress(f"stopping the running version of {name}")
        backend.remove(ws, record)
        return run(ws, backend, request, progress)


def _changed(
    ws: Workspace,
    request: DeployRequest,
    models: list[str] | None,
    entry_script: Path | None,
    source_dir: Path | None,
    env: str | EnvSpec | None,
) -> DeployRequest:
    changes: dict[str, Any] = {}
    if models:
        changes["models"] = resolve_models(ws, models)
    if entry_script is not None or source_dir is not None:
        script = entry_script or request.entry_script
        if script is None:
            raise UserInputError("--source-dir needs an --entry-script (the endpoint has none)")
        script, source = check_script(script, source_dir or request.source_dir)
        changes.update(entry_script=script, source_dir=source, nocode="")
    if env is not None:
        changes["env"] = env_spec(ws, env, request.name)
    if not changes:
        raise UserInputError("nothing to update: give --model, --entry-script or --env")
    changed = replace(request, **changes)
    if changed.entry_script is None:  # no-code: the (new) model decides the scorer
        framework = nocode_framework(changed.models)
        if env is None and is_builtin(changed.env):
            changed = replace(changed, env=builtin_env(changed.models[0]))
        changed = replace(changed, nocode=framework)
    return changed


def _old_model_ids(ws: Workspace, record: EndpointRecord) -> list[int]:
    return [ws.models.get(parse_ref(ref)).id for ref in record.models]


def _run_replace(
    ws: Workspace, backend: Replaceable, change: Change, progress: Progress
) -> EndpointRecord:
    """The new version of a single-server endpoint. When it fails, or is interrupted, the
    record says the previous version serves (its runtime, spec, models and the state it is
    observed in: see :func:`serving.deploy.recording.roll_back`)."""
    name = change.record.name
    try:
        deployed = backend.replace(ws, change, progress)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        error = "update interrupted" if interrupted else f"update failed: {failure(exc)}"
        with process.no_interrupt():
            try:
                roll_back(ws, backend, ws.endpoints.get(name))
            finally:
                ws.endpoints.update(name, error=error)
        raise
    with process.no_interrupt():
        record = healthy(ws, change.request, deployed)
        # what else runs (a parked previous container) goes, and the old version folder
        backend.discard_candidate(ws, record)
        folder = record.runtime.get("folder")
        tidy(ws, name, keep=[folder] if folder else [])
    return record


def _run_rolling(
    ws: Workspace,
    backend: Target,
    request: DeployRequest,
    record: EndpointRecord,
    progress: Progress,
) -> EndpointRecord:
    """A failed rolling update leaves the previous version serving: the record says so."""
    old_ids = _old_model_ids(ws, record)
    try:
        return run(ws, backend, request, progress, previous=record)
    except DeploymentError as exc:
        ws.endpoints.update(
            record.name,
            state=record.state,
            error=f"update failed: {exc.message}",
            model_ids=old_ids,
        )
        raise


def scale(ws: Workspace, name: str, replicas: int, progress: Progress = quiet) -> EndpointRecord:
    """Change the number of replicas of a replicated endpoint, with no failed request."""
    with command(ws, name, progress):
        record, backend = locked_record(ws, name)
        if not isinstance(backend, ReplicatedTarget):
            raise UserInputError(
                f"endpoint {name} runs on the {record.target} target, which has one server",
                hint="deploy it with --target cluster --replicas N to scale it",
            )
        _refuse_autoscaled(record)
        deployed = backend.scale(ws, record, replicas, progress)
        deployment = DeploymentSpec.from_record(record.spec)
        policy = replace(deployment.replicas, replicas=replicas)
        spec = {k: v for k, v in record.spec.items() if k != "options"}
        spec["deployment"] = replace(deployment, replicas=policy).to_dict()
        return ws.endpoints.update(name, runtime=deployed.runtime, spec=spec, error=None)


def _refuse_autoscaled(record: EndpointRecord) -> None:
    """A fixed count on an autoscaling endpoint would be undone by its autoscaler at the
    next decision: refuse, naming the bounds that do decide (docs/autoscale.md)."""
    policy = DeploymentSpec.from_record(record.spec).autoscale
    if policy.enabled:
        raise UserInputError(
            f"endpoint {record.name} autoscales between {policy.lowest} and {policy.highest} "
            "replicas: change --min-replicas/--max-replicas by redeploying it with "
            "--overwrite (or without --autoscale for a fixed count)"
        )

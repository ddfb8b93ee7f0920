"""Endpoint lifecycle across targets: deploy, observe, update, keys, logs, delete.

The registry record is written first (Transitioning), then the target runs the endpoint,
then the record is updated to Healthy or Failed with the error. Commands and the SDK call
these functions; targets never touch the registry themselves.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from serving.catalog import resolve_env
from serving.deploy import keys as keyring
from serving.deploy.base import DeployRequest, Progress, Target
from serving.deploy.cluster_base import ReplicatedTarget
from serving.deploy.targets import get_target
from serving.environments import EnvSpec
from serving.errors import ConflictError, DeploymentError, NotFoundError, UserInputError
from serving.registry import EndpointRecord, ModelRecord, parse_ref
from serving.registry.names import check_service_name
from serving.workspace import Workspace


def _quiet(_line: str) -> None:
    return None


def resolve_models(ws: Workspace, refs: list[str]) -> tuple[ModelRecord, ...]:
    if not refs:
        raise UserInputError("give at least one --model NAME[:VERSION]")
    records = tuple(ws.models.get(parse_ref(r)) for r in refs)
    names = [r.name for r in records]
    if len(set(names)) != len(names):
        raise UserInputError("each model name may appear once per endpoint")
    return records


def check_script(entry_script: Path, source_dir: Path | None) -> tuple[Path, Path | None]:
    if source_dir is not None:
        source_dir = Path(source_dir)
        if not source_dir.is_dir():
            raise NotFoundError(f"source folder {source_dir} does not exist")
        script = entry_script if entry_script.is_absolute() else source_dir / entry_script
        if not script.is_file() and Path(entry_script).is_file():
            script = Path(entry_script)
        script = script.resolve()
        if not script.is_relative_to(source_dir.resolve()):
            raise UserInputError(f"entry script {entry_script} is not inside {source_dir}")
    else:
        script = Path(entry_script).resolve()
    if not script.is_file():
        raise NotFoundError(f"entry script {entry_script} does not exist")
    return script, source_dir.resolve() if source_dir else None


def deploy(
    ws: Workspace,
    name: str,
    *,
    models: list[str],
    entry_script: Path,
    env: str | EnvSpec,
    source_dir: Path | None = None,
    target: str = "local",
    auth: bool = False,
    port: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    options: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: Progress = _quiet,
) -> EndpointRecord:
    """Deploy a new endpoint and wait until it is ready."""
    check_service_name(name)
    backend = get_target(target)
    model_records = resolve_models(ws, models)
    script, source = check_script(Path(entry_script), source_dir)
    spec = env if isinstance(env, EnvSpec) else _env_spec(ws, env, name)
    existing = _existing(ws, name)
    if existing is not None:
        if not overwrite:
            raise ConflictError(
                f"endpoint {name} already exists",
                hint="use 'serving endpoints update', --overwrite, or delete it first",
            )
        progress(f"removing the existing endpoint {name}")
        delete(ws, name)
    request = DeployRequest(
        name=name,
        models=model_records,
        entry_script=script,
        source_dir=source,
        env=spec,
        keys=tuple(keyring.new_pair()) if auth else (),
        port=port,
        workers=workers,
        threads=threads,
        options=dict(options or {}),
    )
    ws.endpoints.create(
        name, backend.name, request.to_spec(), list(request.keys), [m.id for m in model_records]
    )
    return _run(ws, backend, request, progress)


def write_manifests(
    ws: Workspace,
    name: str,
    *,
    models: list[str],
    entry_script: Path,
    env: str | EnvSpec,
    output: Path,
    source_dir: Path | None = None,
    auth: bool = False,
    workers: int | None = None,
    threads: int | None = None,
    options: dict[str, Any] | None = None,
    progress: Progress = _quiet,
) -> tuple[list[Path], tuple[str, ...]]:
    """Build the image and write Kubernetes manifests to ``output`` without deploying
    anything (no endpoint is recorded); returns the files and the keys in the Secret."""
    from serving.deploy.kubernetes import KubernetesTarget

    check_service_name(name)
    model_records = resolve_models(ws, models)
    script, source = check_script(Path(entry_script), source_dir)
    request = DeployRequest(
        name=name,
        models=model_records,
        entry_script=script,
        source_dir=source,
        env=env if isinstance(env, EnvSpec) else _env_spec(ws, env, name),
        keys=tuple(keyring.new_pair()) if auth else (),
        workers=workers,
        threads=threads,
        options=dict(options or {}),
    )
    return KubernetesTarget().write(ws, request, Path(output), progress), request.keys


def _env_spec(ws: Workspace, value: str, endpoint: str) -> EnvSpec:
    # An env file is registered as "<endpoint>-env", as Azure ML does for inference configs.
    return resolve_env(ws, value, register_as=f"{endpoint}-env").spec


def _existing(ws: Workspace, name: str) -> EndpointRecord | None:
    try:
        return ws.endpoints.get(name)
    except NotFoundError:
        return None


def _run(
    ws: Workspace,
    backend: Target,
    request: DeployRequest,
    progress: Progress,
    previous: EndpointRecord | None = None,
) -> EndpointRecord:
    try:
        if previous is not None and isinstance(backend, ReplicatedTarget):
            deployed = backend.roll(ws, previous, request, progress)
        else:
            deployed = backend.deploy(ws, request, progress)
    except DeploymentError as exc:
        ws.endpoints.update(request.name, state="Failed", error=exc.message)
        raise
    except BaseException as exc:
        ws.endpoints.update(request.name, state="Failed", error=f"{type(exc).__name__}: {exc}")
        raise
    return ws.endpoints.update(
        request.name,
        state="Healthy",
        error=None,
        scoring_uri=deployed.scoring_uri,
        swagger_uri=deployed.swagger_uri,
        runtime=deployed.runtime,
        spec=request.to_spec(),
    )


def request_of(ws: Workspace, record: EndpointRecord) -> DeployRequest:
    """Rebuild the request an endpoint was deployed with."""
    spec = record.spec
    return DeployRequest(
        name=record.name,
        models=resolve_models(ws, list(spec["models"])),
        entry_script=Path(spec["entry_script"]),
        source_dir=Path(spec["source_dir"]) if spec.get("source_dir") else None,
        env=EnvSpec.from_dict(spec["env"]),
        keys=record.keys,
        port=spec.get("port"),
        workers=spec.get("workers"),
        threads=spec.get("threads"),
        options=dict(spec.get("options") or {}),
    )


def update(
    ws: Workspace,
    name: str,
    *,
    models: list[str] | None = None,
    entry_script: Path | None = None,
    source_dir: Path | None = None,
    env: str | EnvSpec | None = None,
    progress: Progress = _quiet,
) -> EndpointRecord:
    """Redeploy with new models, script or environment; keys and port are kept."""
    record = ws.endpoints.get(name)
    backend = get_target(record.target)
    request = request_of(ws, record)
    changes: dict[str, Any] = {}
    if models:
        changes["models"] = resolve_models(ws, models)
    if entry_script is not None or source_dir is not None:
        script, source = check_script(
            entry_script or request.entry_script, source_dir or request.source_dir
        )
        changes.update(entry_script=script, source_dir=source)
    if env is not None:
        changes["env"] = env if isinstance(env, EnvSpec) else _env_spec(ws, env, name)
    if not changes:
        raise UserInputError("nothing to update: give --model, --entry-script or --env")
    request = replace(request, **changes)
    runtime_port = record.runtime.get("port")
    if request.port is None and isinstance(runtime_port, int):
        request = replace(request, port=runtime_port)
    ws.endpoints.update(name, state="Transitioning", model_ids=[m.id for m in request.models])
    if isinstance(backend, ReplicatedTarget):
        # a rolling update: the running replicas serve until new ones are ready
        return _run_rolling(ws, backend, request, record, progress)
    progress(f"stopping the running version of {name}")
    backend.remove(ws, record)
    return _run(ws, backend, request, progress)


def _run_rolling(
    ws: Workspace,
    backend: Target,
    request: DeployRequest,
    record: EndpointRecord,
    progress: Progress,
) -> EndpointRecord:
    """A failed rolling update leaves the previous version serving: the record says so."""
    old_ids = [ws.models.get(parse_ref(ref)).id for ref in record.models]
    try:
        return _run(ws, backend, request, progress, previous=record)
    except DeploymentError as exc:
        ws.endpoints.update(
            record.name,
            state=record.state,
            error=f"update failed: {exc.message}",
            model_ids=old_ids,
        )
        raise


def scale(ws: Workspace, name: str, replicas: int, progress: Progress = _quiet) -> EndpointRecord:
    """Change the number of replicas of a replicated endpoint, with no failed request."""
    record = ws.endpoints.get(name)
    backend = get_target(record.target)
    if not isinstance(backend, ReplicatedTarget):
        raise UserInputError(
            f"endpoint {name} runs on the {record.target} target, which has one server",
            hint="deploy it with --target cluster --replicas N to scale it",
        )
    deployed = backend.scale(ws, record, replicas, progress)
    spec = dict(record.spec)
    spec["options"] = {**(spec.get("options") or {}), "replicas": replicas}
    return ws.endpoints.update(name, runtime=deployed.runtime, spec=spec, error=None)


def replicas(ws: Workspace, name: str) -> list[dict[str, Any]]:
    """One row per replica of a replicated endpoint (empty for single-server targets)."""
    record = ws.endpoints.get(name)
    backend = get_target(record.target)
    if not isinstance(backend, ReplicatedTarget) or record.state == "Failed":
        return []
    return backend.replicas(ws, record)


def observe(ws: Workspace, name: str) -> EndpointRecord:
    """The record with its state reconciled with what really runs."""
    record = ws.endpoints.get(name)
    if record.state in ("Transitioning", "Failed"):
        return record
    seen = get_target(record.target).observe(ws, record)
    if seen.state != record.state or seen.error != record.error:
        record = ws.endpoints.update(name, state=seen.state, error=seen.error)
    return record


def observe_all(ws: Workspace) -> list[EndpointRecord]:
    return [observe(ws, r.name) for r in ws.endpoints.list()]


def regen_key(ws: Workspace, name: str, which: str) -> EndpointRecord:
    record = ws.endpoints.get(name)
    new = keyring.regenerate(list(record.keys), which)
    get_target(record.target).set_keys(ws, record, new)
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


def delete(ws: Workspace, name: str) -> None:
    record = ws.endpoints.get(name)
    get_target(record.target).remove(ws, record)
    ws.endpoints.delete(name)

"""Endpoint lifecycle across targets: deploy, observe, update, keys, logs, delete.

The registry record is written first (Transitioning), then the target runs the endpoint,
recording what it started (process, container) the moment it starts, then the record is
updated to Healthy or Failed with the error. Commands and the SDK call these functions;
targets never touch the registry themselves.

Every command that changes an endpoint holds its lock (:mod:`serving.deploy.locks`) for its
whole run and, holding it, first clears what a killed command left (a new version that was
still starting, staging folders). Auth is on by default for the cluster and kubernetes
targets (as on AKS) and off for local and docker (as on ACI).
"""

from __future__ import annotations

import shutil
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from serving.catalog import resolve_env
from serving.deploy import keys as keyring
from serving.deploy.base import DeployRequest, Progress, Replaceable, Started, Target
from serving.deploy.cluster_base import ReplicatedTarget
from serving.deploy.folders import tidy
from serving.deploy.locks import endpoint_command, endpoint_lock_path, try_lock
from serving.deploy.targets import get_target
from serving.environments import EnvSpec
from serving.errors import ConflictError, DeploymentError, NotFoundError, UserInputError
from serving.registry import EndpointRecord, ModelRecord, parse_ref
from serving.registry.names import check_service_name
from serving.scoring.layout import check_source
from serving.workspace import Workspace

AUTH_BY_DEFAULT = {"local": False, "docker": False, "cluster": True, "kubernetes": True}
"""Key auth when neither --auth nor --no-auth is given: AKS-like targets on, ACI-like off."""
OBSERVE_WAIT_S = 2.0
"""How long ``show``/``list`` wait for a command on the endpoint before showing the record."""


def _quiet(_line: str) -> None:
    return None


def default_auth(target: str) -> bool:
    """Whether endpoints on ``target`` require a key unless told otherwise."""
    return AUTH_BY_DEFAULT.get(target, False)


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
    if source_dir is not None:  # workspaces, ignore files, links: refused before any build
        check_source(script, source_dir)
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
    auth: bool | None = None,
    port: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    options: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: Progress = _quiet,
) -> EndpointRecord:
    """Deploy a new endpoint and wait until it is ready (``auth`` None: the target's
    default, see :data:`AUTH_BY_DEFAULT`)."""
    check_service_name(name)
    backend = get_target(target)
    model_records = resolve_models(ws, models)
    script, source = check_script(Path(entry_script), source_dir)
    spec = env if isinstance(env, EnvSpec) else _env_spec(ws, env, name)
    request = DeployRequest(
        name=name,
        models=model_records,
        entry_script=script,
        source_dir=source,
        env=spec,
        keys=tuple(keyring.new_pair()) if _auth(auth, backend.name) else (),
        port=port,
        workers=workers,
        threads=threads,
        options=dict(options or {}),
    )
    with endpoint_command(ws, name, progress):
        existing = _existing(ws, name)
        if existing is not None:
            if not overwrite:
                raise ConflictError(
                    f"endpoint {name} already exists",
                    hint="use 'serving endpoints update', --overwrite, or delete it first",
                )
            progress(f"removing the existing endpoint {name}")
            _remove(ws, existing)
        elif ws.endpoint_dir(name).exists():
            shutil.rmtree(ws.endpoint_dir(name), ignore_errors=True)  # a killed delete's rest
        ws.endpoints.create(
            name, backend.name, request.to_spec(), list(request.keys), [m.id for m in model_records]
        )
        return _run(ws, backend, request, progress)


def _auth(auth: bool | None, target: str) -> bool:
    return default_auth(target) if auth is None else auth


def write_manifests(
    ws: Workspace,
    name: str,
    *,
    models: list[str],
    entry_script: Path,
    env: str | EnvSpec,
    output: Path,
    source_dir: Path | None = None,
    auth: bool | None = None,
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
        keys=tuple(keyring.new_pair()) if _auth(auth, "kubernetes") else (),
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


def _recorder(ws: Workspace, name: str, base: dict[str, Any] | None = None) -> Started:
    """Records a target's runtime as soon as it starts something (under ``candidate`` of
    ``base`` when a running version must stay recorded beside it)."""

    def record(runtime: dict[str, Any]) -> None:
        value = runtime if base is None else {**base, "candidate": runtime}
        ws.endpoints.update(name, runtime=value)

    return record


def _failure(exc: BaseException) -> str:
    if isinstance(exc, DeploymentError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


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
            deployed = backend.deploy(ws, request, progress, _recorder(ws, request.name))
    except BaseException as exc:
        ws.endpoints.update(request.name, state="Failed", error=_failure(exc))
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


def _recover(ws: Workspace, backend: Target, record: EndpointRecord) -> EndpointRecord:
    """Holding the lock: stop a new version a killed update left starting, and remove
    staging folders no record names."""
    if record.runtime.get("candidate") and isinstance(backend, Replaceable):
        backend.discard_candidate(ws, record)
        runtime = {k: v for k, v in record.runtime.items() if k != "candidate"}
        record = ws.endpoints.update(record.name, runtime=runtime)
    folder = record.runtime.get("folder")
    tidy(ws, record.name, keep=[folder] if folder else [])
    return record


def _command(ws: Workspace, name: str, progress: Progress = _quiet) -> AbstractContextManager[None]:
    """The lock of an existing endpoint (an unknown name is an error before any lock)."""
    ws.endpoints.get(name)
    return endpoint_command(ws, name, progress)


def _locked_record(ws: Workspace, name: str) -> tuple[EndpointRecord, Target]:
    record = ws.endpoints.get(name)
    backend = get_target(record.target)
    return _recover(ws, backend, record), backend


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
    """Redeploy with new models, script or environment; keys and port are kept. The new
    version starts before the old one stops; if it fails, the old one keeps serving."""
    with _command(ws, name, progress):
        record, backend = _locked_record(ws, name)
        request = _changed(ws, request_of(ws, record), models, entry_script, source_dir, env)
        runtime_port = record.runtime.get("port")
        if request.port is None and isinstance(runtime_port, int):
            request = replace(request, port=runtime_port)
        ws.endpoints.update(name, state="Transitioning", model_ids=[m.id for m in request.models])
        if isinstance(backend, ReplicatedTarget):
            # a rolling update: the running replicas serve until new ones are ready
            return _run_rolling(ws, backend, request, record, progress)
        if isinstance(backend, Replaceable):
            return _run_replace(ws, backend, request, record, progress)
        progress(f"stopping the running version of {name}")
        backend.remove(ws, record)
        return _run(ws, backend, request, progress)


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
        script, source = check_script(
            entry_script or request.entry_script, source_dir or request.source_dir
        )
        changes.update(entry_script=script, source_dir=source)
    if env is not None:
        changes["env"] = env if isinstance(env, EnvSpec) else _env_spec(ws, env, request.name)
    if not changes:
        raise UserInputError("nothing to update: give --model, --entry-script or --env")
    return replace(request, **changes)


def _old_model_ids(ws: Workspace, record: EndpointRecord) -> list[int]:
    return [ws.models.get(parse_ref(ref)).id for ref in record.models]


def _run_replace(
    ws: Workspace,
    backend: Replaceable,
    request: DeployRequest,
    record: EndpointRecord,
    progress: Progress,
) -> EndpointRecord:
    """The new version of a single-server endpoint; when it fails the record says the old
    one serves (its spec, models and the state it is observed in)."""
    try:
        deployed = backend.replace(
            ws, record, request, progress, _recorder(ws, record.name, record.runtime)
        )
    except DeploymentError as exc:
        runtime = getattr(exc, "runtime", None) or record.runtime
        back = ws.endpoints.update(
            record.name, runtime=runtime, model_ids=_old_model_ids(ws, record), state=record.state
        )
        seen = get_target(record.target).observe(ws, back)
        ws.endpoints.update(record.name, state=seen.state, error=f"update failed: {exc.message}")
        raise
    except BaseException:
        # interrupted: a new version still starting stays recorded as the candidate
        ws.endpoints.update(
            record.name,
            state=record.state,
            error="update interrupted",
            model_ids=_old_model_ids(ws, record),
        )
        raise
    return ws.endpoints.update(
        record.name,
        state="Healthy",
        error=None,
        scoring_uri=deployed.scoring_uri,
        swagger_uri=deployed.swagger_uri,
        runtime=deployed.runtime,
        spec=request.to_spec(),
    )


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
    with _command(ws, name, progress):
        record, backend = _locked_record(ws, name)
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
    """The record with its state reconciled with what really runs (as recorded, when a
    command on the endpoint is under way)."""
    record = ws.endpoints.get(name)
    if record.state in ("Transitioning", "Failed"):
        return record
    with try_lock(endpoint_lock_path(ws, name), wait_s=OBSERVE_WAIT_S) as got:
        if not got:
            return record
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
    with _command(ws, name):
        record, backend = _locked_record(ws, name)
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


def delete(ws: Workspace, name: str, progress: Progress = _quiet) -> None:
    """Stop the endpoint, remove what it left on the machine, then its record."""
    with _command(ws, name, progress):
        _remove(ws, ws.endpoints.get(name))


def _remove(ws: Workspace, record: EndpointRecord) -> None:
    """Holding the lock: what runs (a leftover candidate too), its folder, its record."""
    backend = get_target(record.target)
    if record.runtime.get("candidate") and isinstance(backend, Replaceable):
        backend.discard_candidate(ws, record)
    backend.remove(ws, record)
    ws.endpoints.delete(record.name)

"""What a deploy is given, checked and resolved into a :class:`DeployRequest`: the models,
the entry script inside its source folder (or none: no-code), the environment and the
keys; and the request an endpoint was deployed with, rebuilt from its record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serving.catalog import resolve_env
from serving.deploy import keys as keyring
from serving.deploy.base import DeployRequest
from serving.deploy.nocode import builtin_env, nocode_framework
from serving.deploy.spec import DeploymentSpec
from serving.environments import EnvSpec
from serving.errors import NotFoundError, UserInputError
from serving.registry import EndpointRecord, ModelRecord, parse_ref
from serving.registry.names import check_service_name
from serving.scoring.layout import check_source
from serving.workspace import Workspace

AUTH_BY_DEFAULT = {"local": False, "docker": False, "cluster": True, "kubernetes": True}
"""Key auth when neither --auth nor --no-auth is given: AKS-like targets on, ACI-like off."""


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


def env_spec(ws: Workspace, value: str | EnvSpec, endpoint: str) -> EnvSpec:
    """A registered environment, or a file registered as ``<endpoint>-env`` (as Azure ML
    does for inference configs)."""
    if isinstance(value, EnvSpec):
        return value
    return resolve_env(ws, value, register_as=f"{endpoint}-env").spec


def new_request(
    ws: Workspace,
    name: str,
    auth: bool,
    models: list[str],
    entry_script: Path | None,
    env: str | EnvSpec | None,
    source_dir: Path | None = None,
    **given: Any,
) -> DeployRequest:
    """The checked request of a new endpoint (keys: a new pair with ``auth``); ``given``
    are its other fields (``port``, ``workers``, ``threads``, ``deployment``), None for
    the default. Without ``entry_script`` it is a no-code deployment of its one model
    (:mod:`serving.deploy.nocode`), in the built-in environment unless ``env`` is given."""
    check_service_name(name)
    deployment = given.get("deployment")
    if deployment is not None and deployment.collect_model_data and not deployment.model_data_dir:
        raise UserInputError(
            "collect_model_data needs the folder to collect into (model_data_dir)",
            hint="the CLI and SDK set it to the default datastore's folder",
        )
    model_records = resolve_models(ws, models)
    if entry_script is None:
        if source_dir is not None:
            raise UserInputError("--source-dir needs an --entry-script")
        framework = nocode_framework(model_records)
        script, source = None, None
    else:
        framework = ""
        script, source = check_script(Path(entry_script), source_dir)
    if env is None:
        if entry_script is not None:
            raise UserInputError("give --env (an environment name or file) for the entry script")
        resolved = builtin_env(model_records[0])
    else:
        resolved = env_spec(ws, env, name)
    return DeployRequest(
        name=name,
        models=model_records,
        entry_script=script,
        source_dir=source,
        env=resolved,
        keys=tuple(keyring.new_pair()) if auth else (),
        nocode=framework,
        **{key: value for key, value in given.items() if value is not None},
    )


def request_of(ws: Workspace, record: EndpointRecord) -> DeployRequest:
    """Rebuild the request an endpoint was deployed with."""
    spec = record.spec
    return DeployRequest(
        name=record.name,
        models=resolve_models(ws, list(spec["models"])),
        entry_script=Path(spec["entry_script"]) if spec.get("entry_script") else None,
        source_dir=Path(spec["source_dir"]) if spec.get("source_dir") else None,
        env=EnvSpec.from_dict(spec["env"]),
        keys=record.keys,
        port=spec.get("port"),
        workers=spec.get("workers"),
        threads=spec.get("threads"),
        deployment=DeploymentSpec.from_record(spec),
        nocode=str(spec.get("nocode") or ""),
    )

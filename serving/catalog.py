"""Bridges the parsing layers (environments) and the registry: turn files the user
names into registered records, and registered records back into specs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from serving.environments import EnvSpec, parse_conda_file, parse_pip_requirements_file
from serving.errors import NotFoundError, UserInputError
from serving.registry import EnvironmentRecord, parse_ref
from serving.workspace import Workspace

PIP_SUFFIXES = (".txt", ".in")


class _Environments(Protocol):
    def register(
        self,
        name: str,
        *,
        spec: dict[str, Any],
        content_hash: str,
        python: str,
        source_text: str,
        source_name: str,
    ) -> tuple[EnvironmentRecord, bool]: ...


class HasEnvironments(Protocol):
    """A workspace folder, or a server's (:mod:`serving.hub.remote`): what registering
    an environment file needs."""

    @property
    def environments(self) -> _Environments: ...


@dataclass(frozen=True)
class ResolvedEnv:
    spec: EnvSpec
    record: EnvironmentRecord | None
    created: bool = False


def parse_env_file(path: Path, name: str | None = None) -> EnvSpec:
    """A conda env.yml, or a pip requirements file (``.txt``)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"environment file {path} does not exist")
    if path.suffix.lower() in PIP_SUFFIXES:
        return parse_pip_requirements_file(path, name or path.stem)
    return parse_conda_file(path, name=name)


def register_env_file(ws: HasEnvironments, path: Path, name: str | None = None) -> ResolvedEnv:
    """Parse ``path`` and record it (a new version only when its content changed)."""
    spec = parse_env_file(path, name)
    record, created = ws.environments.register(
        name or spec.name,
        spec=spec.to_dict(),
        content_hash=spec.content_hash(),
        python=spec.python,
        source_text=Path(path).read_text(encoding="utf-8"),
        source_name=Path(path).name,
    )
    return ResolvedEnv(spec, record, created)


def spec_of(record: EnvironmentRecord) -> EnvSpec:
    return EnvSpec.from_dict(record.spec)


def resolve_env(ws: Workspace, value: str, *, register_as: str | None = None) -> ResolvedEnv:
    """``--env`` values: an existing file path, else a registered ``NAME[:VERSION]``."""
    path = Path(value)
    if path.is_file():
        if register_as is None:
            return ResolvedEnv(parse_env_file(path), None)
        return register_env_file(ws, path, register_as)
    if "/" in value or value.endswith((".yml", ".yaml", ".txt")):
        raise NotFoundError(f"environment file {value} does not exist")
    try:
        ref = parse_ref(value, "environment")
    except UserInputError as exc:
        raise UserInputError(
            f"--env {value!r} is neither a file nor a registered NAME[:VERSION]"
        ) from exc
    record = ws.environments.get(ref)
    return ResolvedEnv(spec_of(record), record)

"""``Environment``: Azure ML v1's environment class over the local registry."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.catalog import parse_env_file, spec_of
from serving.environments import EnvSpec, parse_conda_file, parse_pip_requirements_file
from serving.registry import EnvironmentRecord, Ref
from serving.workspace import Workspace


@dataclass
class PythonSection:
    """``env.python``: v1's user-managed switch and interpreter."""

    user_managed_dependencies: bool = False
    interpreter_path: str | None = None
    conda_dependencies: Any = None


@dataclass
class DockerSection:
    """``env.docker``: accepted; runs on Docker compute use the environment's own image."""

    enabled: bool = False
    base_image: str | None = None
    base_dockerfile: str | None = None
    shm_size: str | None = None


class Environment:
    """A resolved environment; ``version`` is None until it is registered.

    ``Environment("name")`` with no file is the current Python version with no extra
    packages (the serving runtime only), or, with ``python.user_managed_dependencies``,
    the interpreter that submits the run.
    """

    def __init__(
        self, name: str, *, spec: EnvSpec | None = None, source: Path | None = None
    ) -> None:
        self.name = name
        self.version: int | None = None
        self._spec = spec
        self._source = source
        self._record: EnvironmentRecord | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self._variables: dict[str, str] | None = None

    @classmethod
    def from_conda_specification(cls, name: str, file_path: str | Path) -> Environment:
        return cls(name, spec=parse_conda_file(Path(file_path), name=name), source=Path(file_path))

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str | Path) -> Environment:
        return cls(
            name, spec=parse_pip_requirements_file(Path(file_path), name), source=Path(file_path)
        )

    @classmethod
    def from_file(cls, name: str, file_path: str | Path) -> Environment:
        return cls(name, spec=parse_env_file(Path(file_path), name), source=Path(file_path))

    @classmethod
    def get(
        cls, workspace: Workspace, name: str, version: int | str | None = None, **_azure_kwargs: Any
    ) -> Environment:
        record = workspace.environments.get(Ref(name, int(version) if version else None))
        return cls._from_record(record)

    @classmethod
    def list(cls, workspace: Workspace) -> dict[str, Environment]:
        return {r.name: cls._from_record(r) for r in workspace.environments.list(latest=True)}

    @classmethod
    def _from_record(cls, record: EnvironmentRecord) -> Environment:
        env = cls(record.name, spec=spec_of(record))
        env.version = record.version
        env._record = record
        return env

    @property
    def spec(self) -> EnvSpec:
        spec = self._spec or EnvSpec(self.name, f"{sys.version_info[0]}.{sys.version_info[1]}")
        if self._variables is not None:
            variables = tuple(sorted(self._variables.items()))
            spec = EnvSpec.from_dict(
                {**spec.to_dict(), "variables": dict(variables)}, trusted=False
            )
        return spec

    @property
    def python_version(self) -> str:
        return self.spec.python

    @property
    def environment_variables(self) -> dict[str, str]:
        if self._variables is not None:
            return dict(self._variables)
        return dict(self._spec.variables) if self._spec else {}

    @environment_variables.setter
    def environment_variables(self, value: dict[str, str]) -> None:
        self._variables = {str(k): str(v) for k, v in value.items()}

    @property
    def content_hash(self) -> str:
        return self.spec.content_hash()

    def register(self, workspace: Workspace) -> Environment:
        """Record this environment; unchanged content keeps the latest version."""
        spec = self.spec
        source_text = self._source.read_text(encoding="utf-8") if self._source else ""
        record, _created = workspace.environments.register(
            self.name,
            spec=spec.to_dict(),
            content_hash=spec.content_hash(),
            python=spec.python,
            source_text=source_text,
            source_name=self._source.name if self._source else "",
        )
        return Environment._from_record(record)

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version})"

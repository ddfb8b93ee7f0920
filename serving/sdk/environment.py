"""``Environment``: Azure ML v1's environment class over the local registry.

Built up in code as in v1::

    env = Environment("digits-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["scikit-learn"])
    env.environment_variables = {"MODE": "fast"}
    env.register(ws)
    Environment.get(ws, "digits-env", version="1")

``env.docker.*`` settings do not map onto this platform (deployments and runs use its own
base image): setting one warns, naming it. Curated ``AzureML-*`` names resolve to local
approximations (:mod:`serving.sdk.curated`).
"""

from __future__ import annotations

import builtins
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.catalog import parse_env_file, spec_of
from serving.environments import EnvSpec, parse_conda_file, parse_pip_requirements_file
from serving.errors import NotFoundError, UserInputError
from serving.registry import EnvironmentRecord, Ref
from serving.sdk.conda_dependencies import CondaDependencies
from serving.sdk.curated import CURATED, curated_spec, is_curated

if TYPE_CHECKING:  # the SDK stays import-light: the remote client loads when used
    from serving.hub.remote.workspace import AnyWorkspace


@dataclass
class PythonSection:
    """``env.python``: the conda dependencies, v1's user-managed switch and interpreter."""

    user_managed_dependencies: bool = False
    interpreter_path: str | None = None
    conda_dependencies: CondaDependencies | None = None
    conda_dependencies_file: str | None = None


_DOCKER_IGNORED = ("base_image_registry", "shm_size", "arguments")
_STEP_INSTRUCTIONS = ("RUN", "ENV", "ARG", "LABEL", "WORKDIR", "SHELL")


def docker_steps(text: str, where: str) -> tuple[str, ...]:
    """Dockerfile steps (``RUN``, ``ENV``, ...; continuation lines joined, comments left
    out) to run on top of an environment's image; ``COPY``/``ADD`` (no build context here)
    and ``FROM`` are refused, naming the line."""
    steps: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending} {line.strip()}" if pending else line.strip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word = pending.split(maxsplit=1)[0].upper()
        if word not in _STEP_INSTRUCTIONS:
            raise UserInputError(
                f"{where}: {pending!r} cannot be an extra build step here "
                f"(use {', '.join(_STEP_INSTRUCTIONS)}; COPY/ADD have no build context)"
            )
        steps.append(pending)
        pending = ""
    return tuple(steps)


def split_base_dockerfile(text: str) -> tuple[str, tuple[str, ...]]:
    """v1's ``env.docker.base_dockerfile``: its ``FROM`` image becomes the base image and
    the lines after it the extra build steps."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().upper().startswith("FROM "):
            base = line.split()[1]
            return base, docker_steps("\n".join(lines[i + 1 :]), "env.docker.base_dockerfile")
    raise UserInputError("env.docker.base_dockerfile has no FROM line")


class DockerSection:
    """``env.docker``: ``enabled`` is kept (runs on Docker compute use the environment's own
    image); ``base_image`` is honoured (the environment's images are built on it: it must
    be on this machine or pullable, and hold the environment's Python), and so is
    ``base_dockerfile`` (its ``FROM`` is the base image, its other lines extra build
    steps); the other image settings have no effect here and warn when set."""

    def __init__(self) -> None:
        self.enabled = False
        self.gpu_support = False
        self.base_image: str | None = None
        self.base_dockerfile: str | None = None
        for name in _DOCKER_IGNORED:
            object.__setattr__(self, name, None)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in (*_DOCKER_IGNORED, "gpu_support") and value:
            warnings.warn(
                f"env.docker.{name} is not used here: deployments and docker runs are built "
                "on this platform's own base image (add packages with python.conda_dependencies)",
                UserWarning,
                stacklevel=2,
            )
        object.__setattr__(self, name, value)


def _version_number(version: int | str | None) -> int | None:
    """v1's string versions (``"1"``), ints, or None / ``"latest"`` for the latest."""
    if version is None or str(version).lower() == "latest":
        return None
    try:
        return int(version)
    except ValueError:
        raise UserInputError(f"environment version {version!r} is not a number") from None


class Environment:
    """A resolved environment; ``version`` is None until it is registered.

    ``Environment("name")`` with nothing added is v1's default (``azureml-defaults`` on this
    Python), which is the serving runtime only; with ``python.user_managed_dependencies``
    a run uses the interpreter that submits it.
    """

    def __init__(
        self, name: str, *, spec: EnvSpec | None = None, source: Path | None = None
    ) -> None:
        self.name = name
        self.version: str | None = None
        self._spec = spec
        self._source = source
        self._record: EnvironmentRecord | None = None
        self.python = PythonSection()
        self.python.conda_dependencies = (
            CondaDependencies() if spec is None else CondaDependencies.of_spec(spec)
        )
        self._baseline = self.python.conda_dependencies.serialize_to_string()
        self.docker = DockerSection()
        self._variables: dict[str, str] | None = None
        self.inferencing_stack_version: str | None = None

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
        cls,
        workspace: AnyWorkspace,
        name: str,
        version: int | str | None = None,
        label: str | None = None,
    ) -> Environment:
        """A registered environment (``version`` as v1's string or an int; latest when
        None), or a curated ``AzureML-*`` name's local approximation."""
        if label is not None:
            warnings.warn(
                f"Environment.get(label={label!r}): labels do not exist here; "
                "the latest version is used",
                UserWarning,
                stacklevel=2,
            )
        number = _version_number(version)
        try:
            record = workspace.environments.get(Ref(name, number))
        except NotFoundError:
            spec = curated_spec(name) if is_curated(name) and number is None else None
            if spec is None:
                raise
            env = cls(name, spec=spec)
            env.version = "1"
            return env
        return cls._from_record(record)

    @classmethod
    def list(cls, workspace: AnyWorkspace) -> dict[str, Environment]:
        """Registered environments (latest versions) and the curated names, by name."""
        out: dict[str, Environment] = {}
        for name in CURATED:
            spec = curated_spec(name, notify=False)
            assert spec is not None
            out[name] = cls(name, spec=spec)
            out[name].version = "1"
        for record in workspace.environments.list(latest=True):
            out[record.name] = cls._from_record(record)
        return out

    @classmethod
    def _from_record(cls, record: EnvironmentRecord) -> Environment:
        env = cls(record.name, spec=spec_of(record))
        env.version = str(record.version)
        env._record = record
        return env

    def _base_spec(self) -> EnvSpec:
        deps = self.python.conda_dependencies
        changed = deps is not None and deps.serialize_to_string() != self._baseline
        if self._spec is not None and not changed:
            return self._spec
        if deps is None:
            return EnvSpec(self.name, f"{sys.version_info[0]}.{sys.version_info[1]}")
        return deps.to_spec(self.name)

    @property
    def spec(self) -> EnvSpec:
        spec = self._base_spec()
        changes: dict[str, Any] = {}
        if self._variables is not None:
            changes["variables"] = dict(sorted(self._variables.items()))
        if self.docker.base_image:
            changes["base_image"] = str(self.docker.base_image)
        if self.docker.base_dockerfile:
            text = str(self.docker.base_dockerfile)
            if "\n" not in text and Path(text).is_file():  # v1 also took a file's path
                text = Path(text).read_text(encoding="utf-8")
            base, steps = split_base_dockerfile(text)
            changes.update(base_image=base, docker_steps=[*spec.docker_steps, *steps])
        if changes:
            spec = EnvSpec.from_dict({**spec.to_dict(), **changes}, trusted=False)
        return spec

    @property
    def python_version(self) -> str:
        return self.spec.python

    @property
    def environment_variables(self) -> dict[str, str]:
        if self._variables is None:
            self._variables = dict(self._base_spec().variables)
        return self._variables

    @environment_variables.setter
    def environment_variables(self, value: dict[str, str]) -> None:
        self._variables = {str(k): str(v) for k, v in value.items()}

    @property
    def content_hash(self) -> str:
        return self.spec.content_hash()

    def register(self, workspace: AnyWorkspace) -> Environment:
        """Record this environment as built; unchanged content keeps the latest version."""
        spec = self.spec
        deps = self.python.conda_dependencies
        if self._source is not None and spec is self._spec:
            source_text, source_name = self._source.read_text(encoding="utf-8"), self._source.name
        elif deps is not None:
            source_text, source_name = deps.serialize_to_string(), "conda_dependencies.yml"
        else:
            source_text, source_name = "", ""
        record, _created = workspace.environments.register(
            self.name,
            spec=spec.to_dict(),
            content_hash=spec.content_hash(),
            python=spec.python,
            source_text=source_text,
            source_name=source_name,
        )
        return Environment._from_record(record)

    def get_image_details(self, workspace: AnyWorkspace) -> dict[str, Any]:
        """What an image of this environment holds here (no registry is involved)."""
        spec = self.spec
        return {"python": spec.python, "requirements": builtins.list(spec.requirements)}

    def save_to_directory(self, path: str | Path, overwrite: bool = False) -> None:
        """Write ``conda_dependencies.yml`` (the environment as a conda file) to ``path``."""
        folder = Path(path)
        target = folder / "conda_dependencies.yml"
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists (pass overwrite=True)")
        CondaDependencies.of_spec(self.spec).save(target)

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version})"


__all__ = ["CondaDependencies", "DockerSection", "Environment", "PythonSection"]

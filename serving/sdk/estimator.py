"""Azure ML v1's deprecated estimators (``Estimator``, ``SKLearn``, ``TensorFlow``) as thin
builders of a :class:`~serving.sdk.script_run.ScriptRunConfig`.

Old notebooks still submit them::

    est = SKLearn(".", script_params={"--data-folder": ds.as_mount(), "--kmax": 5},
                  compute_target="local", entry_script="train.py")
    run = Experiment(ws, "digits").submit(est)

``script_params`` is flattened as v1 did (insertion order, iterables expand, ``None`` and
``""`` dropped, ``str()`` at launch); a data reference (``ds.as_mount()``) becomes its
``$AZUREML_DATAREFERENCE_<name>`` text and is registered with the run. The package
arguments (``conda_packages``, ``pip_packages``, ``conda_dependencies_file``,
``pip_requirements_file``) become one conda environment; the framework estimators add
their framework (scikit-learn and joblib, tensorflow-cpu) unless it is listed already.
There is no GPU here and no image of v1's ancient framework versions: both are said in a
warning, never faked.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from serving.environments import EnvSpec, parse_conda_file, parse_conda_text
from serving.environments.spec import requirement_names
from serving.runs.compute import gpu_warning
from serving.runs.errors import UserErrorException
from serving.sdk.environment import Environment
from serving.sdk.script_run import (
    DEFAULT_MAX_RUN_DURATION_S,
    RunConfiguration,
    ScriptRunConfig,
    merge_variables,
)

if TYPE_CHECKING:
    from serving.sdk.experiment import Experiment
    from serving.sdk.run import Run


class FrameworkVersionWarning(UserWarning):
    """A framework version that v1 defaulted to, or that may not install on this Python."""


class IgnoredEstimatorArgumentWarning(UserWarning):
    """An estimator argument that has no effect here (Docker images, distribution)."""


def _warn(message: str, category: type[Warning]) -> None:
    """Warn at the first caller outside this module (the notebook's line)."""
    level, frame = 2, sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def deprecation_message(name: str) -> str:
    return (
        f"'{name}' is deprecated. Please use 'ScriptRunConfig' from "
        "'azureml.core.script_run_config' with your own defined environment"
    )


# -- script_params ---------------------------------------------------------------------------
def _is_reference(value: Any) -> bool:
    return callable(getattr(value, "to_config", None)) and isinstance(
        getattr(value, "data_reference_name", None), str
    )


def _as_reference(value: Any) -> Any:
    """A datastore given as a value is its root, mounted (``ds`` means ``ds.as_mount()``)."""
    if not _is_reference(value) and callable(getattr(value, "as_mount", None)):
        return value.as_mount()
    return value


def flatten_script_params(script_params: Mapping[Any, Any] | None) -> list[Any]:
    """v1's ``_get_arguments``: ``[k1, v1, k2, v2, ...]`` in insertion order; a value that
    is an iterable (not a string) expands to its items; ``None`` and ``""`` items are
    dropped, so ``{"--flag": ""}`` is the bare ``--flag``. Items stay as they are (they are
    ``str()``-ed when the run starts)."""
    flat: list[Any] = []
    for key, value in (script_params or {}).items():
        flat.append(key)
        value = _as_reference(value)
        if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
            flat.extend(_as_reference(item) for item in value)
        else:
            flat.append(value)
    return [item for item in flat if item is not None and not (isinstance(item, str) and not item)]


def references_in(values: Iterable[Any]) -> dict[str, Any]:
    """The data references among ``values``, by name."""
    return {v.data_reference_name: v for v in values if _is_reference(v)}


# -- the environment -------------------------------------------------------------------------
def _conda_document(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {"dependencies": []}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        parse_conda_file(path)  # raises its precise error (missing file, no dependencies:)
        raise UserErrorException(f"{path}: not a conda environment file")
    return data


def _pip_section(dependencies: list[Any]) -> list[Any]:
    for item in dependencies:
        if isinstance(item, dict) and set(item) == {"pip"}:
            if item["pip"] is None:
                item["pip"] = []
            if isinstance(item["pip"], list):
                section: list[Any] = item["pip"]
                return section
    section = []
    dependencies.append({"pip": section})
    return section


FrameworkRequirement = tuple[str, frozenset[str]]
"""A requirement line and the package names that already satisfy it."""


class EnvironmentRequest:
    """The estimator's package arguments, turned into one conda environment."""

    def __init__(
        self,
        name: str,
        source_directory: Path,
        conda_packages: Sequence[str] | None = None,
        pip_packages: Sequence[str] | None = None,
        conda_dependencies_file: str | Path | None = None,
        pip_requirements_file: str | Path | None = None,
    ) -> None:
        self.name = name
        self.conda_packages = [str(p) for p in conda_packages or ()]
        self.pip_packages = [str(p) for p in pip_packages or ()]
        # v1 read both files relative to the source directory (an absolute path wins)
        self.conda_file = (
            source_directory / conda_dependencies_file if conda_dependencies_file else None
        )
        self.pip_file = source_directory / pip_requirements_file if pip_requirements_file else None
        self.base_dir = (self.conda_file.parent if self.conda_file else source_directory).resolve()

    @property
    def empty(self) -> bool:
        return not (self.conda_packages or self.pip_packages or self.conda_file or self.pip_file)

    def spec(self, framework: Sequence[FrameworkRequirement] = ()) -> tuple[EnvSpec, list[str]]:
        """The environment, and the framework requirements added to its pip section (each
        unless one of its aliases is installed already)."""
        document = _conda_document(self.conda_file)
        dependencies: list[Any] = document["dependencies"]
        dependencies.extend(self.conda_packages)
        pip = _pip_section(dependencies)
        pip.extend(self.pip_packages)
        if self.pip_file is not None:
            pip.append(f"-r {self.pip_file.resolve()}")
        spec = self._parse(document)
        have = requirement_names(spec)
        missing = [line for line, aliases in framework if not (have & aliases)]
        if not missing:
            return spec, []
        pip.extend(missing)
        return self._parse(document), missing

    def _parse(self, document: dict[str, Any]) -> EnvSpec:
        source = self.conda_file.name if self.conda_file else "estimator packages"
        text = yaml.safe_dump(document, sort_keys=False)
        return parse_conda_text(text, source=source, name=self.name, base_dir=self.base_dir)


# -- framework versions ----------------------------------------------------------------------
def pinned(package: str, version: str) -> str:
    """``1.13`` means any 1.13.x (as v1's images did); ``0.20.3`` is exact."""
    version = version.strip()
    return f"{package}=={version}.*" if version.count(".") < 2 else f"{package}=={version}"


def _older(version: str, floor: str) -> bool:
    try:
        return Version(version) < Version(floor)
    except InvalidVersion:
        return False


class Framework:
    """What a framework estimator adds to the environment, and its version notes."""

    def __init__(
        self, label: str, package: str, aliases: Iterable[str], v1_default: str, floor: str
    ) -> None:
        self.label = label
        self.package = package
        self.aliases = frozenset(str(canonicalize_name(a)) for a in aliases)
        self.v1_default = v1_default
        self.floor = floor

    def requirement(self, version: str | None) -> tuple[str, str]:
        """(the requirement line, the warning to show)."""
        if version is None:
            return self.package, (
                f"{self.label}: framework_version not given: the current {self.package} "
                f"release is installed (Azure ML v1 defaulted to {self.v1_default}, which "
                "does not install on current Python)"
            )
        if _older(version, self.floor):
            return pinned(self.package, version), (
                f"{self.label}: framework_version {version} is older than {self.floor} and "
                "may not install on current Python; pass a newer one or None"
            )
        return pinned(self.package, version), ""


SKLEARN = Framework(
    "SKLearn", "scikit-learn", ("scikit-learn", "sklearn"), v1_default="0.20.3", floor="1.3"
)
TENSORFLOW = Framework(
    "TensorFlow",
    "tensorflow-cpu",
    ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly", "tf-nightly-cpu"),
    v1_default="1.13 (TF1 scripts need tf.compat.v1 under TensorFlow 2)",
    floor="2.15",
)


# -- the estimators --------------------------------------------------------------------------
_IGNORED = {
    "custom_docker_image": "the environment's image is built from its packages",
    "image_registry_details": "the environment's image is built from its packages",
    "source_directory_data_store": "the source folder is snapshotted into the workspace",
    "shm_size": "Docker's default shared memory is used",
}


class Estimator:
    """v1's generic estimator: an entry script, its arguments and packages, on a target.

    Deprecated in v1 (1.19) and here: build a :class:`ScriptRunConfig` instead. Every
    argument after ``source_directory`` is keyword-only, as in v1.
    """

    _frameworks: ClassVar[tuple[Framework, ...]] = ()

    def __init__(
        self,
        source_directory: str | Path,
        *,
        compute_target: Any = None,
        vm_size: str | None = None,
        vm_priority: str | None = None,
        entry_script: str | None = None,
        script_params: Mapping[Any, Any] | None = None,
        node_count: int = 1,
        process_count_per_node: int = 1,
        distributed_training: Any = None,
        use_gpu: bool = False,
        use_docker: bool = True,
        custom_docker_image: str | None = None,
        image_registry_details: Any = None,
        user_managed: bool = False,
        conda_packages: Sequence[str] | None = None,
        pip_packages: Sequence[str] | None = None,
        conda_dependencies_file: str | Path | None = None,
        pip_requirements_file: str | Path | None = None,
        environment_variables: Mapping[str, Any] | None = None,
        environment_definition: Environment | None = None,
        inputs: Sequence[Any] | None = None,
        source_directory_data_store: Any = None,
        shm_size: str | None = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = None,
        framework_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        _warn(deprecation_message(type(self).__name__), FutureWarning)
        self.source_directory = str(source_directory)
        self.entry_script = entry_script
        self.script_params = dict(script_params or {})
        self.compute_target = compute_target
        self.inputs = list(inputs or [])
        self.resume_from = resume_from
        self.max_run_duration_seconds = max_run_duration_seconds
        self.environment_variables = merge_variables(environment_variables)
        self.framework_version = framework_version
        self._warn_unsupported(
            vm_size=vm_size,
            use_gpu=use_gpu,
            node_count=node_count,
            process_count_per_node=process_count_per_node,
            distributed_training=distributed_training,
            ignored={
                "custom_docker_image": custom_docker_image,
                "image_registry_details": image_registry_details,
                "source_directory_data_store": source_directory_data_store,
                "shm_size": shm_size,
            },
        )
        request = EnvironmentRequest(
            f"{type(self).__name__.lower()}-environment",
            Path(source_directory),
            conda_packages,
            pip_packages,
            conda_dependencies_file,
            pip_requirements_file,
        )
        self.environment = self._environment(request, environment_definition, user_managed)

    # -- construction helpers --------------------------------------------------------------
    def _warn_unsupported(
        self,
        *,
        vm_size: str | None,
        use_gpu: bool,
        node_count: int,
        process_count_per_node: int,
        distributed_training: Any,
        ignored: Mapping[str, Any],
    ) -> None:
        from serving.sdk.compute import GpuUnavailableWarning

        note = gpu_warning(vm_size, use_gpu)
        if note:
            cpu_build = " (the CPU build of the framework)" if self._frameworks else ""
            _warn(f"{type(self).__name__}: {note}{cpu_build}", GpuUnavailableWarning)
        if node_count != 1 or process_count_per_node != 1 or distributed_training is not None:
            _warn(
                f"{type(self).__name__}: distributed training is not available here: the "
                "script runs as one process on one node",
                IgnoredEstimatorArgumentWarning,
            )
        for name, value in ignored.items():
            if value is not None:
                _warn(
                    f"{type(self).__name__}: {name} is ignored: {_IGNORED[name]}",
                    IgnoredEstimatorArgumentWarning,
                )

    def _framework_requirements(self) -> dict[str, tuple[FrameworkRequirement, str]]:
        """By requirement line: (the requirement, the note to show if it is added)."""
        out: dict[str, tuple[FrameworkRequirement, str]] = {}
        for framework in self._frameworks:
            line, note = framework.requirement(self.framework_version)
            out[line] = ((line, framework.aliases), note)
        return out

    def _environment(
        self, request: EnvironmentRequest, definition: Environment | None, user_managed: bool
    ) -> Environment:
        if definition is not None:
            if not request.empty or user_managed:
                raise UserErrorException(
                    "environment_definition cannot be combined with conda_packages, "
                    "pip_packages, conda_dependencies_file, pip_requirements_file or "
                    "user_managed: put them in the Environment"
                )
            return definition
        if user_managed:
            if not request.empty:
                _warn(
                    f"{type(self).__name__}: user_managed=True runs in this interpreter: "
                    "conda_packages, pip_packages and dependency files are not installed",
                    IgnoredEstimatorArgumentWarning,
                )
            env = Environment(request.name)
            env.python.user_managed_dependencies = True
            return env
        framework = self._framework_requirements()
        spec, added = request.spec([requirement for requirement, _note in framework.values()])
        for line in added:
            if framework[line][1]:
                _warn(framework[line][1], FrameworkVersionWarning)
        return Environment(request.name, spec=spec)

    # -- v1's members ----------------------------------------------------------------------
    @property
    def conda_dependencies(self) -> EnvSpec | None:
        """The environment's resolved packages (None when user-managed)."""
        return None if self.environment.python.user_managed_dependencies else self.environment.spec

    @property
    def run_config(self) -> RunConfiguration:
        return self.to_script_run_config().run_config

    def to_script_run_config(self) -> ScriptRunConfig:
        """The ScriptRunConfig this estimator submits (the v1 migration target)."""
        if not self.entry_script:
            raise UserErrorException(f"{type(self).__name__} needs an entry_script")
        arguments = flatten_script_params(self.script_params)
        config = ScriptRunConfig(
            self.source_directory,
            script=self.entry_script,
            arguments=arguments,
            compute_target=self.compute_target,
            environment=self.environment,
            resume_from=self.resume_from,
            max_run_duration_seconds=self.max_run_duration_seconds or DEFAULT_MAX_RUN_DURATION_S,
        )
        config.run_config.data_references.update(references_in(arguments))
        config.run_config.data_references.update(references_in(self.inputs))
        config.run_config.environment_variables.update(self.environment_variables)
        return config

    def _submit(self, experiment: Experiment, **kwargs: Any) -> Run:
        return self.to_script_run_config()._submit(experiment, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(entry_script={self.entry_script!r})"


class SKLearn(Estimator):
    """v1's scikit-learn estimator: the Estimator plus scikit-learn and joblib.

    ``framework_version=None`` installs the current release (v1: 0.20.3).
    """

    _frameworks = (SKLEARN,)

    def _framework_requirements(self) -> dict[str, tuple[FrameworkRequirement, str]]:
        joblib: FrameworkRequirement = ("joblib", frozenset({"joblib"}))
        return {**super()._framework_requirements(), "joblib": (joblib, "")}


class TensorFlow(Estimator):
    """v1's TensorFlow estimator: the Estimator plus tensorflow-cpu (no GPU here).

    ``framework_version=None`` installs the current release (v1: 1.13). ``worker_count``
    and ``parameter_server_count`` are accepted; distributed training is not available.
    """

    _frameworks = (TENSORFLOW,)

    def __init__(
        self,
        source_directory: str | Path,
        *,
        worker_count: int = 1,
        parameter_server_count: int = 1,
        **kwargs: Any,
    ) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count
        super().__init__(source_directory, **kwargs)

"""``ScriptRunConfig`` and ``RunConfiguration``: what a submitted script run executes.

Where an environment comes from: ``environment=`` (an :class:`Environment` from a conda
or pip file, run in a cached virtual environment keyed by its content hash, shared with
the local deployment target), or a user-managed one
(``env.python.user_managed_dependencies = True``: the submitter's interpreter, or
``env.python.interpreter_path``). With no environment at all a local run uses the
submitter's interpreter too (Azure built its default image here; that has no local
equivalent). Data references in ``arguments`` (``ds.as_mount()``, ``ds.path(...)``) are
found and registered automatically, for ScriptRunConfig as for the estimators.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from serving.runs.errors import UserErrorException
from serving.runs.submit import ScriptJob, stringify, submit

if TYPE_CHECKING:
    from serving.sdk.environment import Environment
    from serving.sdk.experiment import Experiment
    from serving.sdk.run import Run

DEFAULT_MAX_RUN_DURATION_S = 2592000


def target_name(target: Any) -> str:
    """A compute target given as a name, a ComputeTarget, or None (local)."""
    if target is None:
        return "local"
    if isinstance(target, str):
        return target or "local"
    name = getattr(target, "name", None)
    if not isinstance(name, str):
        raise UserErrorException(
            f"compute_target must be a name or a ComputeTarget, not {type(target).__name__}"
        )
    return name


def _reference_config(value: Any) -> tuple[str, dict[str, Any]] | None:
    """(name, config dict) when ``value`` is a data reference."""
    to_config = getattr(value, "to_config", None)
    name = getattr(value, "data_reference_name", None)
    if to_config is None or not isinstance(name, str):
        return None
    config = to_config()
    as_dict = getattr(config, "to_dict", None)
    return name, dict(as_dict() if as_dict is not None else config)


def collect_references(arguments: Sequence[Any]) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """Arguments with data references as their ``$AZUREML_DATAREFERENCE_<name>`` text, and
    the references found."""
    refs: dict[str, dict[str, Any]] = {}
    out: list[Any] = []
    for item in arguments:
        found = _reference_config(item)
        if found is not None:
            refs[found[0]] = found[1]
            out.append(str(item))
        else:
            out.append(item)
    return out, refs


def environment_payload(env: Environment | None) -> tuple[dict[str, Any] | None, str | None]:
    """(``{"name", "version", "spec"}`` or None for user-managed, interpreter)."""
    if env is None:
        return None, sys.executable
    if env.python.user_managed_dependencies:
        return None, env.python.interpreter_path or sys.executable
    spec = env.spec
    return {"name": env.name, "version": env.version, "spec": spec.to_dict()}, None


class RunConfiguration:
    """The fields of v1's run configuration that scripts and notebooks set."""

    def __init__(
        self,
        script: str | None = None,
        arguments: Sequence[Any] | None = None,
        framework: str | None = None,
        communicator: str | None = None,
        conda_dependencies: Any = None,
        _history_enabled: bool | None = None,
        _path: str | None = None,
        _name: str | None = None,
        command: Any = None,
    ) -> None:
        self.script = script
        self.arguments: list[Any] = list(arguments or [])
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.target: Any = "local"
        self.environment: Environment | None = None
        self.environment_variables: dict[str, str] = {}
        self.data_references: dict[str, Any] = {}
        self.max_run_duration_seconds: int | None = None
        self.max_retries = 0
        """Not in v1: times a run on a Ray compute is submitted again when its node is
        lost (a script that fails is not retried)."""
        self.node_count = 1
        self.command = command

    def __repr__(self) -> str:
        return f"RunConfiguration(script={self.script!r}, target={target_name(self.target)!r})"


class ScriptRunConfig:
    """A script, its source folder, arguments, compute target and environment."""

    def __init__(
        self,
        source_directory: str | Path,
        script: str | None = None,
        arguments: Sequence[Any] | None = None,
        run_config: RunConfiguration | None = None,
        _telemetry_values: Any = None,
        compute_target: Any = None,
        environment: Environment | None = None,
        distributed_job_config: Any = None,
        resume_from: Any = None,
        max_run_duration_seconds: int = DEFAULT_MAX_RUN_DURATION_S,
        command: Any = None,
        docker_runtime_config: Any = None,
    ) -> None:
        self.source_directory = str(source_directory)
        self.run_config = run_config or RunConfiguration()
        if script is not None:
            self.run_config.script = script
        if arguments is not None:
            self.run_config.arguments = list(arguments)
        if resume_from is not None:
            self.run_config.arguments += ["--resume-from", str(resume_from)]
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        self.run_config.max_run_duration_seconds = max_run_duration_seconds

    @property
    def script(self) -> str | None:
        return self.run_config.script

    @property
    def arguments(self) -> list[Any]:
        return self.run_config.arguments

    @arguments.setter
    def arguments(self, value: Sequence[Any]) -> None:
        self.run_config.arguments = list(value)

    @property
    def compute_target(self) -> Any:
        return self.run_config.target

    @property
    def environment(self) -> Environment | None:
        return self.run_config.environment

    def to_job(self) -> ScriptJob:
        config = self.run_config
        if not config.script:
            raise UserErrorException("ScriptRunConfig needs a script")
        arguments, refs = collect_references(config.arguments)
        for name, value in config.data_references.items():
            found = _reference_config(value)
            as_dict = getattr(value, "to_dict", None)  # v1: {name: dref.to_config()}
            refs[name] = found[1] if found else (as_dict() if as_dict else dict(value))
        environment, interpreter = environment_payload(config.environment)
        return ScriptJob(
            source_directory=Path(self.source_directory).resolve(),
            script=config.script,
            arguments=stringify(arguments),
            environment=environment,
            interpreter=interpreter,
            compute=target_name(config.target),
            data_references=refs,
            environment_variables=dict(config.environment_variables),
            max_run_duration_seconds=config.max_run_duration_seconds,
            max_retries=getattr(config, "max_retries", 0) or 0,
        )

    def _submit(self, experiment: Experiment, show_output: bool = False, **kwargs: Any) -> Run:
        """The submitted run: a Run, or in a workspace server a RemoteRun (the same
        methods over the API)."""
        from serving.sdk.run import Run

        run: Run
        if experiment._remote is not None:  # a workspace server: the run executes there
            from serving.sdk.run_remote import RemoteRun

            found = experiment._remote.submit(
                experiment.name, self.to_job(), tags=kwargs.get("tags")
            )
            run = cast("Run", RemoteRun(experiment, found.id))
        else:
            record = submit(
                experiment._store, experiment.name, self.to_job(), tags=kwargs.get("tags")
            )
            run = Run(experiment, record.id)
        if show_output:
            run.wait_for_completion(show_output=True)
        return run


def merge_variables(*sources: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for source in sources:
        out.update({str(k): str(v) for k, v in (source or {}).items()})
    return out

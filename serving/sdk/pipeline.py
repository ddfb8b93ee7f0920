"""Azure ML v1's pipeline classes: ``Pipeline``, ``PythonScriptStep``, ``PipelineData``,
``PipelineParameter`` (``azureml.pipeline.core`` / ``azureml.pipeline.steps``).

A pipeline is turned into a :class:`~serving.runs.pipelines.spec.PipelineSpec` and run by
a detached driver (:mod:`serving.runs.pipelines.driver`): ``experiment.submit(pipeline,
pipeline_parameters=..., regenerate_outputs=..., continue_on_step_failure=...)`` returns a
:class:`~serving.sdk.pipeline_run.PipelineRun` at once. ``pipeline.explain()`` (beyond v1)
says before running which steps would be reused, and why not.

In a workspace server the pipeline executes on the server's machine: its definition and
its steps' source folders are sent through the submit route, and the run is a
:class:`serving.sdk.pipeline_remote.RemotePipelineRun` (``explain`` needs the folder's
records and is refused there in one line).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from serving.runs.datarefs import PLACEHOLDER
from serving.runs.datastores import check_name
from serving.runs.errors import UserErrorException
from serving.runs.pipelines import spec as s
from serving.runs.pipelines.graph import validate
from serving.runs.pipelines.reuse import decide
from serving.runs.store import RunStore
from serving.sdk.run_remote import not_on_a_server, remote_runs
from serving.sdk.script_run import RunConfiguration, environment_payload, target_name

if TYPE_CHECKING:
    from serving.sdk.experiment import Experiment
    from serving.sdk.pipeline_run import PipelineRun
    from serving.workspace import Workspace


class PipelineParameter:
    """A value set per pipeline run (``pipeline_parameters={name: value}``), used in a
    step's ``arguments`` or ``params``."""

    def __init__(self, name: str, default_value: Any) -> None:
        if not isinstance(name, str) or not name:
            raise UserErrorException("a PipelineParameter needs a name")
        self.name = name
        self.default_value = default_value

    def __str__(self) -> str:
        return s.PARAMETER.format(name=self.name)

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"


class PipelineData:
    """Data one step writes (``outputs=[pd]``) and others read (``inputs=[pd]``); in
    arguments ``str(pd)`` is ``$AZUREML_DATAREFERENCE_<name>``, a folder at run time (the
    producer may ``os.makedirs(path, exist_ok=True)``; it exists already)."""

    def __init__(
        self,
        name: str,
        datastore: Any = None,
        output_name: str | None = None,
        output_mode: str = "mount",
        output_path_on_compute: str | None = None,
        output_overwrite: bool | None = None,
        data_type: str | None = None,
        is_directory: bool | None = None,
        pipeline_output_name: str | None = None,
        training_output: Any = None,
    ) -> None:
        check_name(name, "PipelineData name")
        self._name = name
        self.datastore = datastore
        self._output_name = output_name or name
        self._output_mode = output_mode
        self._producer: PythonScriptStep | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def datastore_name(self) -> str | None:
        return _datastore_name(self.datastore)

    def __str__(self) -> str:
        return PLACEHOLDER.format(name=self._name)

    def __repr__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self._name}"


def _datastore_name(datastore: Any) -> str | None:
    if datastore is None or isinstance(datastore, str):
        return datastore
    return str(datastore.name)


def _port(item: Any) -> s.PortSpec:
    if isinstance(item, PipelineData):
        return s.PortSpec(item.name, s.PIPELINE_DATA, item.datastore_name)
    name = getattr(item, "data_reference_name", None)
    if isinstance(name, str) and hasattr(item, "to_config"):
        mode = "download" if item.mode == "download" else "mount"
        return s.PortSpec(name, s.DATA_REFERENCE, item.datastore.name, item.path_on_datastore, mode)
    raise UserErrorException(
        f"a step input or output must be a PipelineData or a DataReference, not "
        f"{type(item).__name__}"
    )


class PythonScriptStep:
    """A step that runs a Python script as a step run of the pipeline run."""

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: Sequence[Any] | None = None,
        compute_target: Any = None,
        runconfig: RunConfiguration | None = None,
        runconfig_pipeline_params: Any = None,
        inputs: Sequence[Any] | None = None,
        outputs: Sequence[PipelineData] | None = None,
        params: Mapping[str, Any] | None = None,
        source_directory: str | Path | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: Any = None,
    ) -> None:
        self.name = name or script_name
        self.script_name = script_name
        self.arguments = list(arguments or [])
        self.compute_target = compute_target
        self.runconfig = runconfig or RunConfiguration()
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.params = dict(params or {})
        self.source_directory = source_directory
        self.allow_reuse = allow_reuse
        self.version = version
        for output in self.outputs:
            if not isinstance(output, PipelineData):
                raise UserErrorException(
                    f"step {self.name!r}: outputs must be PipelineData, not {type(output).__name__}"
                )
            output._producer = self

    def __repr__(self) -> str:
        return f"PythonScriptStep(name={self.name!r}, script_name={self.script_name!r})"

    def _to_spec(self, default_source: str | Path | None, parameters: dict[str, Any]) -> s.StepSpec:
        inputs = [_port(i) for i in self.inputs]
        arguments: list[str] = []
        for item in self.arguments:
            arguments.append(_argument(item, parameters))
            if hasattr(item, "to_config") and not isinstance(item, PipelineData):
                port = _port(item)
                if port.name not in {p.name for p in inputs}:
                    inputs.append(port)  # v1 registered data references in arguments too
        config = self.runconfig
        environment, interpreter = environment_payload(config.environment)
        variables = {str(k): str(v) for k, v in config.environment_variables.items()}
        for key, value in self.params.items():
            variables[f"AML_PARAMETER_{key}"] = _argument(value, parameters)
        source = Path(self.source_directory or default_source or ".").resolve()
        return s.StepSpec(
            name=self.name,
            script=self.script_name,
            source_directory=str(source),
            arguments=arguments,
            inputs=inputs,
            outputs=[_port(o) for o in self.outputs],
            compute=target_name(self.compute_target or config.target),
            environment=environment,
            interpreter=interpreter,
            environment_variables=variables,
            allow_reuse=self.allow_reuse,
            version=None if self.version is None else str(self.version),
        )


def _argument(item: Any, parameters: dict[str, Any]) -> str:
    if isinstance(item, PipelineParameter):
        known = parameters.setdefault(item.name, item.default_value)
        if known != item.default_value:
            raise UserErrorException(
                f"pipeline parameter {item.name!r} is declared twice with different defaults"
            )
    return str(item)


def _flatten(steps: Iterable[Any]) -> list[PythonScriptStep]:
    out: list[PythonScriptStep] = []
    for step in steps:
        if isinstance(step, list | tuple):
            out.extend(_flatten(step))
        elif isinstance(step, PythonScriptStep):
            out.append(step)
        else:
            raise UserErrorException(
                f"a pipeline step must be a PythonScriptStep, not {type(step).__name__}"
            )
    return out


class Pipeline:
    """Steps run as one pipeline run; with ``resolve_closure`` the steps that produce a
    listed step's inputs are added too."""

    _server_submits = True
    """A workspace server runs it too (:class:`serving.sdk.experiment.Experiment`)."""

    def __init__(
        self,
        workspace: Workspace,
        steps: Sequence[Any],
        description: str | None = None,
        default_datastore: Any = None,
        default_source_directory: str | Path | None = None,
        resolve_closure: bool = True,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
        **kwargs: Any,
    ) -> None:
        self._workspace = workspace
        self._steps = _flatten(steps)
        self.description = description
        self._default_datastore = _datastore_name(default_datastore)
        self._default_source = default_source_directory
        if resolve_closure:
            self._steps = _closure(self._steps)

    @property
    def steps(self) -> list[PythonScriptStep]:
        return list(self._steps)

    def _to_spec(self) -> s.PipelineSpec:
        parameters: dict[str, Any] = {}
        steps = [step._to_spec(self._default_source, parameters) for step in self._steps]
        return s.PipelineSpec(steps, parameters, self.description, self._default_datastore)

    def validate(self) -> list[str]:
        """The pipeline's problems (unconnected inputs, cycles, parameters without a value,
        missing scripts); an empty list when it can run."""
        try:
            return validate(self._to_spec())
        except UserErrorException as exc:
            return [str(exc)]

    def explain(
        self,
        pipeline_parameters: Mapping[str, Any] | None = None,
        regenerate_outputs: bool = False,
        hash_input_data: bool = False,
    ) -> list[dict[str, Any]]:
        """Before running: per step, ``decision`` (``reuse`` or ``run``), the run it would
        reuse, and the reason (which part of its reuse key changed)."""
        options = s.RunOptions(
            dict(pipeline_parameters or {}), regenerate_outputs, False, hash_input_data
        )
        spec = self._to_spec()
        errors = validate(spec, options.parameters)
        if errors:
            raise UserErrorException("the pipeline is not valid: " + "; ".join(errors))
        if remote_runs(self._workspace) is not None:
            raise not_on_a_server("explaining a pipeline's reuse")
        store = RunStore(self._workspace.path, self._workspace.db)
        return [d.to_dict() for d in decide(store, spec, options)]

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: Mapping[str, Any] | None = None,
        continue_on_step_failure: bool = False,
        regenerate_outputs: bool = False,
        parent_run_id: str | None = None,
        credential_passthrough: Any = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """The same as ``Experiment(ws, experiment_name).submit(pipeline, ...)``."""
        from serving.sdk.experiment import Experiment

        run: PipelineRun = Experiment(self._workspace, experiment_name).submit(
            self,
            pipeline_parameters=pipeline_parameters,
            continue_on_step_failure=continue_on_step_failure,
            regenerate_outputs=regenerate_outputs,
            **kwargs,
        )
        return run

    def _submit(
        self,
        experiment: Experiment,
        pipeline_parameters: Mapping[str, Any] | None = None,
        continue_on_step_failure: bool = False,
        regenerate_outputs: bool = False,
        hash_input_data: bool = False,
        show_output: bool = False,
        **kwargs: Any,
    ) -> PipelineRun:
        from serving.runs.pipelines.driver import submit_pipeline
        from serving.sdk.pipeline_run import PipelineRun

        options = s.RunOptions(
            dict(pipeline_parameters or {}),
            regenerate_outputs,
            continue_on_step_failure,
            hash_input_data,
        )
        run: PipelineRun
        if experiment._remote is not None:  # a workspace server: it executes there
            from serving.hub.remote.run_kinds import submit_pipeline as send_pipeline
            from serving.sdk.pipeline_remote import RemotePipelineRun

            found = send_pipeline(experiment._remote, experiment.name, self._to_spec(), options)
            run = cast("PipelineRun", RemotePipelineRun(experiment, found.id))
        else:
            record = submit_pipeline(experiment._store, experiment.name, self._to_spec(), options)
            run = PipelineRun(experiment, record.id)
        if show_output:
            run.wait_for_completion(show_output=True)
        return run


def _closure(steps: list[PythonScriptStep]) -> list[PythonScriptStep]:
    """``steps`` plus, before them, every step that produces one of their inputs."""
    found: list[PythonScriptStep] = []
    seen: set[int] = set()

    def add(step: PythonScriptStep) -> None:
        if id(step) in seen:  # done, or being added (a cycle, which validate() reports)
            return
        seen.add(id(step))
        for item in step.inputs:
            producer = item._producer if isinstance(item, PipelineData) else None
            if producer is not None:
                add(producer)
        found.append(step)

    for step in steps:
        add(step)
    return found

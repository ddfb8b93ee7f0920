"""A pipeline as data: its steps, their input and output ports, its parameters.

The SDK (:mod:`serving.sdk.pipeline`) and the YAML form (:mod:`.yaml_form`) both build a
:class:`PipelineSpec`; the pipeline run records it (``definition["pipeline"]``) and its
driver runs it. In a step's arguments, ``$AZUREML_DATAREFERENCE_<name>`` names a port (a
``PipelineData`` or a data reference) and ``${{parameters.<name>}}`` a pipeline parameter;
the driver replaces parameters by their values, the run's supervisor ports by paths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.runs.errors import UserErrorException

PIPELINE_KIND = "azureml.PipelineRun"
STEP_KIND = "azureml.StepRun"
PIPELINE_DATA = "pipeline_data"
DATA_REFERENCE = "data_reference"
PARAMETER = "${{{{parameters.{name}}}}}"
PARAMETER_RE = re.compile(r"\$\{\{\s*parameters\.([A-Za-z_][\w-]*)\s*\}\}")
DATA_RE = re.compile(r"\$\{?AZUREML_DATAREFERENCE_(\w+)\}?")

# step run properties (v1's names where v1 has one)
REUSED_RUN = "azureml.reusedrunid"
REUSED_PIPELINE = "azureml.reusedpipelinerunid"
STEP_NAME = "azureml.nodename"
STEP_TYPE = "StepType"
FINGERPRINT = "serving.pipeline.fingerprint"
KEY = "serving.pipeline.key"
OUTPUTS = "serving.pipeline.outputs"
REASON = "serving.pipeline.reason"


def parameter_names(text: str) -> list[str]:
    return PARAMETER_RE.findall(text)


def fill_parameters(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with each ``${{parameters.<name>}}`` replaced by the value's ``str()``."""
    return PARAMETER_RE.sub(lambda m: str(values[m.group(1)]), text)


@dataclass(frozen=True)
class PortSpec:
    """One input or output of a step. ``name`` is its data reference name (the one in
    ``$AZUREML_DATAREFERENCE_<name>``); a pipeline data port's datastore path is chosen per
    step run, a data reference's is ``path``."""

    name: str
    kind: str = PIPELINE_DATA
    datastore: str | None = None
    path: str | None = None
    mode: str = "mount"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "datastore": self.datastore,
            "path": self.path,
            "mode": self.mode,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PortSpec:
        return cls(
            name=str(data["name"]),
            kind=str(data.get("kind") or PIPELINE_DATA),
            datastore=data.get("datastore"),
            path=data.get("path"),
            mode=str(data.get("mode") or "mount"),
        )


@dataclass(frozen=True)
class StepSpec:
    """A ``PythonScriptStep``: what its step run executes, and its ports."""

    name: str
    script: str
    source_directory: str
    arguments: list[str] = field(default_factory=list)
    inputs: list[PortSpec] = field(default_factory=list)
    outputs: list[PortSpec] = field(default_factory=list)
    compute: str = "local"
    environment: dict[str, Any] | None = None
    interpreter: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    allow_reuse: bool = True
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "script": self.script,
            "source_directory": self.source_directory,
            "arguments": list(self.arguments),
            "inputs": [p.to_dict() for p in self.inputs],
            "outputs": [p.to_dict() for p in self.outputs],
            "compute": self.compute,
            "environment": self.environment,
            "interpreter": self.interpreter,
            "environment_variables": dict(self.environment_variables),
            "allow_reuse": self.allow_reuse,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepSpec:
        return cls(
            name=str(data["name"]),
            script=str(data["script"]),
            source_directory=str(data["source_directory"]),
            arguments=[str(a) for a in data.get("arguments") or []],
            inputs=[PortSpec.from_dict(p) for p in data.get("inputs") or []],
            outputs=[PortSpec.from_dict(p) for p in data.get("outputs") or []],
            compute=str(data.get("compute") or "local"),
            environment=data.get("environment"),
            interpreter=data.get("interpreter"),
            environment_variables=dict(data.get("environment_variables") or {}),
            allow_reuse=bool(data.get("allow_reuse", True)),
            version=data.get("version"),
        )

    def used_parameters(self) -> list[str]:
        texts = [*self.arguments, *self.environment_variables.values()]
        return sorted({name for text in texts for name in parameter_names(text)})


@dataclass(frozen=True)
class PipelineSpec:
    """Steps (in the order given), parameter defaults, the default datastore."""

    steps: list[StepSpec]
    parameters: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    default_datastore: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [s.to_dict() for s in self.steps],
            "parameters": dict(self.parameters),
            "description": self.description,
            "default_datastore": self.default_datastore,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineSpec:
        return cls(
            steps=[StepSpec.from_dict(s) for s in data.get("steps") or []],
            parameters=dict(data.get("parameters") or {}),
            description=data.get("description"),
            default_datastore=data.get("default_datastore"),
        )

    def step(self, name: str) -> StepSpec:
        for step in self.steps:
            if step.name == name:
                return step
        raise UserErrorException(f"the pipeline has no step {name!r}")

    def resolve_parameters(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The defaults with ``given`` over them; a name the pipeline does not declare is
        an error (v1 refused unknown pipeline parameters too)."""
        unknown = sorted(set(given or {}) - set(self.parameters))
        if unknown:
            known = ", ".join(sorted(self.parameters)) or "none"
            raise UserErrorException(
                f"unknown pipeline parameter {', '.join(repr(u) for u in unknown)} "
                f"(the pipeline's parameters: {known})"
            )
        return {**self.parameters, **dict(given or {})}


@dataclass(frozen=True)
class RunOptions:
    """How one pipeline run goes (``experiment.submit(pipeline, ...)``'s keywords)."""

    parameters: dict[str, Any] = field(default_factory=dict)
    regenerate_outputs: bool = False
    continue_on_step_failure: bool = False
    hash_input_data: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": dict(self.parameters),
            "regenerate_outputs": self.regenerate_outputs,
            "continue_on_step_failure": self.continue_on_step_failure,
            "hash_input_data": self.hash_input_data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunOptions:
        return cls(
            parameters=dict(data.get("parameters") or {}),
            regenerate_outputs=bool(data.get("regenerate_outputs")),
            continue_on_step_failure=bool(data.get("continue_on_step_failure")),
            hash_input_data=bool(data.get("hash_input_data")),
        )

"""The YAML form of a pipeline, for ``serving pipelines run|explain pipeline.yml``::

    description: digits, prepared, trained, evaluated    # optional
    experiment: digits-pipeline        # default experiment (else the file's stem)
    default_source_directory: src      # relative to this file (default: its folder)
    default_datastore: workspaceblobstore   # where PipelineData go (default: the default)
    default_compute: local             # a compute target name (default: local)
    environment: env.yml               # conda/pip file or NAME[:VERSION]; none: this
                                       # interpreter (user-managed)
    hash_input_data: false             # reuse also checks the bytes of `data` inputs
    parameters:                        # pipeline parameters and their defaults
      kmax: 5
    data:                              # data references (datastore paths) steps read
      raw: {datastore: workspaceblobstore, path: digits, mode: mount}   # or download
    steps:                             # in order; each key is the step's name
      prepare:
        script: prepare.py             # required, inside the source directory
        arguments: [--output, "${{outputs.prepared}}"]
        outputs: [prepared]            # PipelineData names this step writes
      train:
        script: train.py
        arguments: [--data, "${{inputs.prepared}}", --kmax, "${{parameters.kmax}}"]
        inputs: [prepared]             # another step's output, or a `data` entry
        outputs: [model]
        # optional: source_directory, compute, environment, environment_variables,
        #           allow_reuse (default true), version

In arguments, ``${{inputs.X}}``, ``${{outputs.X}}`` and ``${{data.X}}`` are the path of
port X (v1's ``$AZUREML_DATAREFERENCE_X`` works too) and ``${{parameters.X}}`` a pipeline
parameter's value. Unknown keys are errors, so a typo does not go unnoticed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from serving.catalog import resolve_env
from serving.errors import UserInputError
from serving.runs.pipelines import spec as s
from serving.workspace import Workspace

TOP_KEYS = frozenset(
    {
        "description",
        "experiment",
        "default_source_directory",
        "default_datastore",
        "default_compute",
        "environment",
        "hash_input_data",
        "parameters",
        "data",
        "steps",
    }
)
STEP_KEYS = frozenset(
    {
        "script",
        "source_directory",
        "arguments",
        "inputs",
        "outputs",
        "compute",
        "environment",
        "environment_variables",
        "allow_reuse",
        "version",
    }
)
_PORT = re.compile(r"\$\{\{\s*(?:inputs|outputs|data)\.(\w+)\s*\}\}")


@dataclass(frozen=True)
class PipelineFile:
    """A loaded pipeline file: the pipeline and the run settings it carries."""

    spec: s.PipelineSpec
    experiment: str
    hash_input_data: bool


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UserInputError(f"{what} must be a mapping, not {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UserInputError(
            f"{where}: unknown key {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


class _Environments:
    """``environment:`` values resolved once each (files relative to the pipeline file)."""

    def __init__(self, ws: Workspace, base: Path) -> None:
        self.ws = ws
        self.base = base
        self.cache: dict[str, dict[str, Any]] = {}

    def payload(self, value: Any) -> tuple[dict[str, Any] | None, str | None]:
        if value in (None, ""):
            return None, sys.executable
        text = str(value)
        if text not in self.cache:
            local = self.base / text
            resolved = resolve_env(self.ws, str(local) if local.is_file() else text)
            name = resolved.record.name if resolved.record else resolved.spec.name
            version = resolved.record.version if resolved.record else None
            self.cache[text] = {"name": name, "version": version, "spec": resolved.spec.to_dict()}
        return self.cache[text], None


def load_pipeline(path: Path, ws: Workspace) -> PipelineFile:
    """Read and check a pipeline file (see the module's docstring for its keys)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"pipeline file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise UserInputError(f"pipeline file {path} is not valid YAML: {exc}") from None
    top = _mapping(raw, f"pipeline file {path}")
    _keys(top, TOP_KEYS, str(path))
    base = Path(path).resolve().parent
    source = base / str(top.get("default_source_directory") or ".")
    data = {name: _data_port(name, d) for name, d in _mapping(top.get("data"), "data").items()}
    envs = _Environments(ws, base)
    steps_raw = _mapping(top.get("steps"), "steps")
    steps = [
        _step(name, _mapping(body, f"step {name!r}"), top, source, base, data, envs)
        for name, body in steps_raw.items()
    ]
    spec = s.PipelineSpec(
        steps=steps,
        parameters=_mapping(top.get("parameters"), "parameters"),
        description=top.get("description"),
        default_datastore=top.get("default_datastore"),
    )
    experiment = str(top.get("experiment") or Path(path).stem)
    return PipelineFile(spec, experiment, bool(top.get("hash_input_data", False)))


def _data_port(name: str, body: Any) -> s.PortSpec:
    fields = _mapping(body, f"data {name!r}")
    _keys(fields, frozenset({"datastore", "path", "mode"}), f"data {name!r}")
    mode = str(fields.get("mode") or "mount")
    if mode not in ("mount", "download"):
        raise UserInputError(f"data {name!r}: mode must be mount or download, not {mode!r}")
    return s.PortSpec(name, s.DATA_REFERENCE, fields.get("datastore"), fields.get("path"), mode)


def _names(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserInputError(f"{where} must be a list of names")
    return list(value)


def _step(
    name: str,
    body: dict[str, Any],
    top: Mapping[str, Any],
    default_source: Path,
    base: Path,
    data: Mapping[str, s.PortSpec],
    envs: _Environments,
) -> s.StepSpec:
    where = f"step {name!r}"
    _keys(body, STEP_KEYS, where)
    if not body.get("script"):
        raise UserInputError(f"{where}: script is required")
    inputs = [
        data.get(n) or s.PortSpec(n, s.PIPELINE_DATA) for n in _names(body.get("inputs"), where)
    ]
    outputs = [s.PortSpec(n, s.PIPELINE_DATA) for n in _names(body.get("outputs"), where)]
    arguments = body.get("arguments") or []
    if not isinstance(arguments, list):
        raise UserInputError(f"{where}: arguments must be a list")
    folder = body.get("source_directory")
    source = (base / str(folder)) if folder else default_source
    environment, interpreter = envs.payload(body.get("environment", top.get("environment")))
    variables = _mapping(body.get("environment_variables"), f"{where} environment_variables")
    version = body.get("version")
    return s.StepSpec(
        name=name,
        script=str(body["script"]),
        source_directory=str(source.resolve()),
        arguments=[_PORT.sub(r"$AZUREML_DATAREFERENCE_\1", str(a)) for a in arguments],
        inputs=inputs,
        outputs=outputs,
        compute=str(body.get("compute") or top.get("default_compute") or "local"),
        environment=environment,
        interpreter=interpreter,
        environment_variables={k: str(v) for k, v in variables.items()},
        allow_reuse=bool(body.get("allow_reuse", True)),
        version=None if version is None else str(version),
    )

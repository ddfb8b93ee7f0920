"""Sweeps and pipelines as a client sends them to a workspace server (``job.json`` with a
``kind`` beside the source folders), and back: the same checked specs
(:class:`~serving.runs.sweeps.spec.SweepSpec`,
:class:`~serving.runs.pipelines.spec.PipelineSpec`) and their own ``to_dict`` forms, so
there is one serialization. The server reads a client's JSON strictly: an unknown field
or a value of the wrong type is refused with a sentence naming it.

A sweep carries its base script job as a script run's wire form
(:func:`serving.runs.submit.job_to_wire`) with its source under ``source/``. A pipeline's
steps name their source folders by number (``"0"``, ``"1"`` ...: ``source/<n>/`` in the
archive), one per distinct folder, so a folder shared by steps travels once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving.runs.errors import UserErrorException
from serving.runs.pipelines import spec as ps
from serving.runs.submit import (
    is_inside_name,
    is_program,
    job_from_wire,
    job_to_wire,
    wire_check,
    wire_object,
)
from serving.runs.sweeps.spec import SweepSpec

SCRIPT = "script"
HYPERDRIVE = "hyperdrive"
PIPELINE = "pipeline"

SWEEP_FIELDS = frozenset(SweepSpec.__dataclass_fields__) - {"job"}
STEP_FIELDS = frozenset(ps.StepSpec.__dataclass_fields__)
PORT_FIELDS = frozenset(ps.PortSpec.__dataclass_fields__)
PIPELINE_FIELDS = frozenset(ps.PipelineSpec.__dataclass_fields__)
OPTION_FIELDS = frozenset(ps.RunOptions.__dataclass_fields__)


def kind_of(data: Any) -> str:
    """The job's kind: ``script`` when it names none (a script run names no kind)."""
    if not isinstance(data, dict) or "kind" not in data:
        return SCRIPT
    kind = data["kind"]
    wire_check(
        kind in (HYPERDRIVE, PIPELINE),
        f"kind must be {HYPERDRIVE} or {PIPELINE} (none for a script run), not {kind!r}",
    )
    return str(kind)


# -- sweeps --------------------------------------------------------------------------------
def sweep_to_wire(
    spec: SweepSpec, *, run_id: str | None = None, tags: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    sweep = spec.to_dict()
    sweep.pop("job")
    return {
        "kind": HYPERDRIVE,
        "job": job_to_wire(spec.job, tags=tags),
        "sweep": sweep,
        "run_id": run_id,
    }


def sweep_from_wire(data: Any, source: Path) -> tuple[SweepSpec, dict[str, Any]]:
    """(the checked spec, ``{"run_id", "tags"}``) from a client's ``job.json``."""
    body = wire_object(data, frozenset({"kind", "job", "sweep", "run_id"}), "description")
    job, options = job_from_wire(body.get("job"), source)
    sweep = wire_object(body.get("sweep"), SWEEP_FIELDS, "sweep")
    missing = {"sampling", "space", "primary_metric_name", "primary_metric_goal"} - set(sweep)
    wire_check(not missing, f"sweep lacks {', '.join(sorted(missing))}")
    wire_check(isinstance(sweep["space"], dict), "sweep space must be an object")
    wire_check(isinstance(sweep.get("policy") or {}, dict), "sweep policy must be an object")
    for key in ("resume_from", "resume_child_runs"):
        value = sweep.get(key) or []
        wire_check(
            isinstance(value, list) and all(isinstance(v, str) for v in value),
            f"sweep {key} must be a list of run ids",
        )
    run_id = body.get("run_id")
    wire_check(run_id is None or (isinstance(run_id, str) and bool(run_id)), "run_id is a string")
    try:
        spec = SweepSpec(job=job, **sweep)
    except (TypeError, ValueError) as exc:
        raise UserErrorException(f"the submitted sweep is not valid: {exc}") from None
    return spec, {"run_id": run_id, "tags": options["tags"]}


# -- pipelines -----------------------------------------------------------------------------
def pipeline_to_wire(
    spec: ps.PipelineSpec, options: ps.RunOptions, *, display_name: str | None = None
) -> tuple[dict[str, Any], list[Path]]:
    """The pipeline with its steps' folders as numbers, and the folders in that order."""
    folders: list[Path] = []
    steps = []
    for step in spec.steps:
        folder = Path(step.source_directory)
        if folder not in folders:
            folders.append(folder)
        data = step.to_dict()
        data["source_directory"] = str(folders.index(folder))
        if data["interpreter"] is not None and data["interpreter"] == sys.executable:
            data["interpreter"] = None  # the client's interpreter is not the server's
        steps.append(data)
    wire = {
        "kind": PIPELINE,
        "pipeline": spec.to_dict() | {"steps": steps},
        "options": options.to_dict(),
        "display_name": display_name,
    }
    return wire, folders


def pipeline_from_wire(
    data: Any, sources: Path
) -> tuple[ps.PipelineSpec, ps.RunOptions, dict[str, Any]]:
    """(the spec with each step's folder under ``sources/<n>``, the options,
    ``{"display_name"}``) from a client's ``job.json``."""
    body = wire_object(
        data, frozenset({"kind", "pipeline", "options", "display_name"}), "description"
    )
    pipeline = wire_object(body.get("pipeline"), PIPELINE_FIELDS, "pipeline")
    steps = pipeline.get("steps")
    if not isinstance(steps, list) or not steps:
        raise UserErrorException("the submitted job's pipeline needs a list of steps")
    wire_check(isinstance(pipeline.get("parameters") or {}, dict), "parameters must be an object")
    for key in ("description", "default_datastore"):
        wire_check(pipeline.get(key) is None or isinstance(pipeline[key], str), f"{key} is text")
    pipeline["steps"] = [_step(step, sources) for step in steps]
    options = wire_object(body.get("options") or {}, OPTION_FIELDS, "options")
    wire_check(isinstance(options.get("parameters") or {}, dict), "options parameters is an object")
    for key in OPTION_FIELDS - {"parameters"}:
        wire_check(isinstance(options.get(key, False), bool), f"options {key} is true or false")
    name = body.get("display_name")
    wire_check(name is None or isinstance(name, str), "display_name is text")
    spec = ps.PipelineSpec.from_dict(pipeline)
    return spec, ps.RunOptions.from_dict(options), {"display_name": name}


def _step(data: Any, sources: Path) -> dict[str, Any]:
    step = wire_object(data, STEP_FIELDS, "step")
    where = f"step {step.get('name')!r}"
    for key in ("name", "script", "source_directory"):
        wire_check(isinstance(step.get(key), str) and bool(step[key]), f"{where}: {key} is text")
    wire_check(
        is_inside_name(step["script"]),
        f"{where}: script must be a file name inside its source folder",
    )
    folder = step["source_directory"]
    wire_check(folder.isdigit() and (sources / folder).is_dir(), f"{where}: unknown source folder")
    step["source_directory"] = str(sources / folder)
    for key in ("arguments",):
        wire_check(isinstance(step.get(key) or [], list), f"{where}: {key} must be a list")
    for key in ("inputs", "outputs"):
        ports = step.get(key) or []
        wire_check(isinstance(ports, list), f"{where}: {key} must be a list")
        for port in ports:
            wire_object(port, PORT_FIELDS, f"{where}: a port")
            wire_check(isinstance(port.get("name"), str), f"{where}: a port needs a name")
    variables = step.get("environment_variables") or {}
    wire_check(
        isinstance(variables, dict) and all(isinstance(v, str) for v in variables.values()),
        f"{where}: environment_variables must map names to strings",
    )
    environment = step.get("environment")
    wire_check(environment is None or isinstance(environment, dict), f"{where}: bad environment")
    wire_check(isinstance(step.get("allow_reuse", True), bool), f"{where}: allow_reuse is a bool")
    interpreter = step.get("interpreter")
    if interpreter is not None and not is_program(interpreter):
        raise UserErrorException(
            f"{where}: interpreter {interpreter!r} is not a program on the workspace "
            "server's machine, where the steps execute",
            hint="register an Environment, or leave the interpreter unset",
        )
    return step

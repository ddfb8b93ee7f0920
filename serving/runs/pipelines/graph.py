"""The step graph: who produces each pipeline data, what each step waits for, the order
steps can run in, and :func:`validate` (v1's ``pipeline.validate()``: a list of errors)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving.runs.errors import UserErrorException
from serving.runs.pipelines.spec import DATA_RE, PIPELINE_DATA, PipelineSpec, StepSpec


def producers(spec: PipelineSpec) -> dict[str, str]:
    """Pipeline data name -> the step that outputs it (the first, if several do)."""
    found: dict[str, str] = {}
    for step in spec.steps:
        for port in step.outputs:
            found.setdefault(port.name, step.name)
    return found


def upstream(spec: PipelineSpec, step: StepSpec) -> dict[str, str]:
    """The step's pipeline data inputs -> their producer steps (unconnected ones left out)."""
    made = producers(spec)
    return {p.name: made[p.name] for p in step.inputs if p.kind == PIPELINE_DATA and p.name in made}


def order(spec: PipelineSpec) -> list[StepSpec]:
    """Steps in an order where each comes after its producers (the given order otherwise);
    raises when the graph has a cycle."""
    done: list[StepSpec] = []
    names: set[str] = set()
    waiting = list(spec.steps)
    while waiting:
        ready = [s for s in waiting if set(upstream(spec, s).values()) <= names]
        if not ready:
            raise UserErrorException(f"the pipeline has a cycle: {_cycle_text(spec)}")
        for step in ready:
            done.append(step)
            names.add(step.name)
        waiting = [s for s in waiting if s.name not in names]
    return done


def _cycle_text(spec: PipelineSpec) -> str:
    """One cycle of the graph, as ``a -> b -> a``."""
    deps = {s.name: sorted(set(upstream(spec, s).values())) for s in spec.steps}
    for start in deps:
        path, node = [start], start
        while deps.get(node):
            node = deps[node][0]
            if node in path:
                loop = [*path[path.index(node) :], node]
                return " -> ".join(reversed(loop))
            path.append(node)
    return "(steps waiting on each other)"


def validate(spec: PipelineSpec, parameters: Mapping[str, Any] | None = None) -> list[str]:
    """Every problem found, as sentences (an empty list: the pipeline can run)."""
    errors: list[str] = []
    if not spec.steps:
        errors.append("the pipeline has no steps")
    seen: set[str] = set()
    made: dict[str, str] = {}
    for step in spec.steps:
        if step.name in seen:
            errors.append(f"two steps are named {step.name!r}: step names must be unique")
        seen.add(step.name)
        for port in step.outputs:
            if port.name in made:
                errors.append(
                    f"pipeline data {port.name!r} is an output of both step "
                    f"{made[port.name]!r} and step {step.name!r}"
                )
            made.setdefault(port.name, step.name)
    values = {**spec.parameters, **dict(parameters or {})}
    for step in spec.steps:
        errors.extend(_step_errors(step, made, values))
    try:
        order(spec)
    except UserErrorException as exc:
        errors.append(str(exc))
    return errors


def _step_errors(step: StepSpec, made: Mapping[str, str], values: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    where = f"step {step.name!r}"
    source = Path(step.source_directory)
    if not source.is_dir():
        errors.append(f"{where}: source directory {source} is not a folder")
    elif not (source / step.script).is_file():
        errors.append(f"{where}: script {step.script} not found in {source}")
    for port in step.inputs:
        if port.kind == PIPELINE_DATA and port.name not in made:
            errors.append(
                f"{where}: input {port.name!r} is not connected: no step of the pipeline "
                "has it among its outputs"
            )
    ports = {p.name for p in [*step.inputs, *step.outputs]}
    for text in step.arguments:
        for name in DATA_RE.findall(text):
            if name not in ports:
                errors.append(
                    f"{where}: argument {text!r} names data {name!r}, which is neither an "
                    "input nor an output of the step"
                )
    for name in step.used_parameters():
        if name not in values:
            errors.append(f"{where}: pipeline parameter {name!r} has no value")
    return errors

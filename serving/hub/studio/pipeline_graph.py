"""A pipeline run's steps as a graph: boxes in columns by depth (a step one column right of
its deepest producer), edges for pipeline data, each box coloured by its step run's status
and marked when the step was reused. Drawn as SVG data for a template (no script needed).

Written by hand because a pipeline is a small layered DAG: columns from the order the
driver already computes (:func:`serving.runs.pipelines.graph.order`) place it well, and a
graph-layout library (graphviz) would be a system dependency for a few boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.runs.pipelines import spec as s
from serving.runs.pipelines.graph import order, upstream
from serving.runs.records import RunRecord

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 180, 56, 70, 24, 16
COLOURS = {
    "Completed": "#2e7d32",
    "Failed": "#c62828",
    "Canceled": "#757575",
    "Running": "#1565c0",
    "NotStarted": "#9e9e9e",
}


@dataclass(frozen=True)
class Node:
    name: str
    x: int
    y: int
    status: str
    colour: str
    run_id: str | None
    reused_from: str | None


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    label: str


@dataclass(frozen=True)
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    box_w: int = BOX_W
    box_h: int = BOX_H


def layout(spec: s.PipelineSpec, steps: dict[str, RunRecord]) -> Graph:
    """The graph of ``spec`` with ``steps`` (step name -> its step run in this pipeline)."""
    ordered = order(spec)
    inputs = {step.name: upstream(spec, step) for step in ordered}
    depth: dict[str, int] = {}
    for step in ordered:
        depth[step.name] = 1 + max((depth[p] for p in inputs[step.name].values()), default=-1)
    rows: dict[int, int] = {}
    nodes: dict[str, Node] = {}
    for step in ordered:
        column = depth[step.name]
        row = rows.get(column, 0)
        rows[column] = row + 1
        record = steps.get(step.name)
        status = record.status if record is not None else "NotStarted"
        reused = record.properties.get(s.REUSED_RUN) if record is not None else None
        nodes[step.name] = Node(
            step.name,
            PAD + column * (BOX_W + GAP_X),
            PAD + row * (BOX_H + GAP_Y),
            status,
            COLOURS.get(status, "#f9a825"),
            record.id if record is not None else None,
            str(reused) if reused else None,
        )
    edges = [
        Edge(
            nodes[src].x + BOX_W,
            nodes[src].y + BOX_H // 2,
            nodes[step.name].x,
            nodes[step.name].y + BOX_H // 2,
            data,
        )
        for step in spec.steps
        for data, src in inputs[step.name].items()
    ]
    columns = max(depth.values(), default=0) + 1
    height = max(rows.values(), default=1)
    return Graph(
        list(nodes.values()),
        edges,
        2 * PAD + columns * BOX_W + (columns - 1) * GAP_X,
        2 * PAD + height * BOX_H + (height - 1) * GAP_Y,
    )

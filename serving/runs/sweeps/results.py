"""A sweep's children as results: their parameters, primary-metric histories and bests, the
best child (v1's semantics), and the rows of the children table that ``serving runs show``
and ``wait_for_completion(show_output=True)`` print.

v1's best run: the parent's metric table ``best_child_by_primary_metric`` (``run_id``,
``metric_value``, ``final``) when it has one, otherwise each child's *best* logged value of
the primary metric (max or min per the goal, not its last); failed and canceled children
count unless excluded; ``None`` when no child logged the metric.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.records import RunRecord
from serving.runs.store import RunStore
from serving.runs.sweeps.policies import best_of, worse
from serving.runs.sweeps.spec import DEFINITION_KEY

BEST_TABLE = "best_child_by_primary_metric"


@dataclass(frozen=True)
class ChildResult:
    """One child of a sweep as the tables and best-run queries see it."""

    record: RunRecord
    index: int
    hyperparameters: str
    """The parameters as v1's parent tag holds them: a JSON object as text."""
    history: list[float]
    best: float | None

    @property
    def id(self) -> str:
        return self.record.id

    def parameters(self) -> dict[str, Any]:
        try:
            found = json.loads(self.hyperparameters)
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}


def primary_history(store: RunStore, run_id: str, metric: str) -> list[float]:
    """The values a run logged for ``metric``, in order (one per interval)."""
    points = m.history(store.metrics_file(run_id)).get(metric, [])
    return [float(value) for _step, value, _t in points]


def sweep_definition(parent: RunRecord) -> dict[str, Any]:
    found = parent.definition.get(DEFINITION_KEY)
    return dict(found) if isinstance(found, dict) else {}


def child_index(record: RunRecord) -> int:
    found = (record.definition.get(DEFINITION_KEY) or {}).get("index")
    if isinstance(found, int):
        return found
    tail = record.id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else -1


class RunLister(Protocol):
    """What :func:`children` needs of a run store (a folder's, or a server's client)."""

    def list(self, *, parent_id: str | None = None) -> list[RunRecord]: ...


History = Callable[[str, str], list[float]]
"""``(run id, metric name) -> the values it logged``."""


def children(
    store: RunLister, parent: RunRecord, history_of: History | None = None
) -> list[ChildResult]:
    """The sweep's children in index order (``history_of``: where a child's values of the
    primary metric come from; by default the folder's metrics files)."""
    spec = sweep_definition(parent)
    metric = str(spec.get("primary_metric_name", ""))
    goal = str(spec.get("primary_metric_goal", "MAXIMIZE"))
    if history_of is None:
        assert isinstance(store, RunStore)
        folder = store
        history_of = lambda run_id, name: primary_history(folder, run_id, name)  # noqa: E731
    out = []
    for record in store.list(parent_id=parent.id):
        history = history_of(record.id, metric)
        out.append(
            ChildResult(
                record=record,
                index=child_index(record),
                hyperparameters=str(parent.tags.get(record.id, "{}")),
                history=history,
                best=best_of(history, goal) if history else None,
            )
        )
    return sorted(out, key=lambda c: (c.index, c.id))


def ranked(results: list[ChildResult], goal: str) -> list[ChildResult]:
    """Best first; children without the metric last (in index order)."""
    with_metric = [c for c in results if c.best is not None]
    without = [c for c in results if c.best is None]
    with_metric.sort(key=lambda c: c.best or 0.0, reverse=goal == "MAXIMIZE")
    return with_metric + without


def best_child(
    results: list[ChildResult],
    goal: str,
    *,
    include_failed: bool = True,
    include_canceled: bool = True,
) -> ChildResult | None:
    """The child with the best logged value; None when none logged the metric."""
    best: ChildResult | None = None
    for child in results:
        status = child.record.status
        if child.best is None or (status == rec.FAILED and not include_failed):
            continue
        if status == rec.CANCELED and not include_canceled:
            continue
        if best is None or worse(best.best or 0.0, child.best, goal):
            best = child
    return best


def best_from_table(store: RunStore, parent_id: str) -> str | None:
    """The last ``run_id`` of the parent's ``best_child_by_primary_metric`` table."""
    return best_in_table(m.read_metrics(store.metrics_file(parent_id), BEST_TABLE).get(BEST_TABLE))


def best_in_table(table: Any) -> str | None:
    """The last ``run_id`` of a ``best_child_by_primary_metric`` table as read back (a
    single row's column is a value, several rows' a list); None when there is none."""
    if not isinstance(table, dict):
        return None
    ids = table.get("run_id")
    if isinstance(ids, list):
        return str(ids[-1]) if ids else None
    return None if ids is None else str(ids)


def table_rows(results: list[ChildResult]) -> list[dict[str, Any]]:
    """One row per child: id, status, parameters, best primary metric, intervals, and why
    it was stopped when a policy stopped it."""
    return [
        {
            "run_id": c.id,
            "status": c.record.status,
            "parameters": c.parameters(),
            "best_primary_metric": c.best,
            "intervals": len(c.history),
            "stopped_by": (c.record.error or {}).get("policy"),
        }
        for c in results
    ]


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def title(parent: RunRecord, count: int) -> str:
    spec = sweep_definition(parent)
    total = parent.definition.get("total_runs", spec.get("max_total_runs", "?"))
    return f"{parent.id}: {parent.status}, {count} of {total} child runs"


def table_text(rows: list[dict[str, Any]], parent: RunRecord) -> str:
    """The children table (``table_rows``) as aligned text under the sweep's progress."""
    spec = sweep_definition(parent)
    names = list(spec.get("space") or {})
    header = ["RUN", "STATUS", *names, f"BEST {spec.get('primary_metric_name', '')}", "STOPPED BY"]
    cells = [
        [
            str(row["run_id"]),
            str(row["status"]),
            *(_cell(row["parameters"].get(n, "")) for n in names),
            "" if row["best_primary_metric"] is None else _cell(row["best_primary_metric"]),
            str(row["stopped_by"] or ""),
        ]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *cells]
    ]
    return "\n".join([title(parent, len(rows)), *lines])

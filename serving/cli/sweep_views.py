"""What `serving runs show` and `serving runs chart` add for a sweep (a HyperDrive parent
run): its settings and best child, the children table (status, parameters, best primary
metric, the policy that stopped a child), and the data of the sweep chart. The store is a
folder's or a workspace server's (children's histories from the metrics route)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from serving.hub.remote.runs import RemoteRunStore
from serving.runs.errors import ExperimentExecutionException
from serving.runs.records import RunRecord
from serving.runs.store import RunStore
from serving.runs.sweeps import results as sweeps

WATCH_POLL_S = 0.5
Store = RunStore | RemoteRunStore


def _children(store: Store, record: RunRecord) -> list[sweeps.ChildResult]:
    if isinstance(store, RemoteRunStore):
        from serving.hub.remote.sweep_results import remote_children

        return remote_children(store, record)
    return sweeps.children(store, record)


def sweep_details(store: Store, record: RunRecord) -> dict[str, Any]:
    """A sweep parent's settings, its best child (v1's semantics) and one row per child."""
    spec = sweeps.sweep_definition(record)
    goal = str(spec.get("primary_metric_goal", "MAXIMIZE"))
    children = _children(store, record)
    best = sweeps.best_child(children, goal)
    return {
        "sampling": spec.get("sampling"),
        "policy": (spec.get("policy") or {}).get("name") or "NoTerminationPolicy",
        "primary_metric_name": spec.get("primary_metric_name"),
        "primary_metric_goal": goal,
        "best_run": None if best is None else best.id,
        "best_primary_metric": None if best is None else best.best,
        "children": sweeps.table_rows(children),
    }


def sweep_text(store: Store, record: RunRecord) -> str:
    """The children table as `runs show` and `runs show --watch` print it."""
    return sweeps.table_text(sweeps.table_rows(_children(store, record)), record)


def sweep_chart_data(store: Store, record: RunRecord) -> dict[str, Any]:
    """What the sweep chart draws: parameters, best and history of the primary metric."""
    spec = sweeps.sweep_definition(record)
    return {
        "metric": str(spec.get("primary_metric_name", "")),
        "goal": str(spec.get("primary_metric_goal", "MAXIMIZE")),
        "parameters": list(spec.get("space") or {}),
        "children": [
            {
                "run_id": c.id,
                "label": f"{c.index}",
                "status": c.record.status,
                "parameters": c.parameters(),
                "best": c.best,
                "history": c.history,
            }
            for c in _children(store, record)
        ],
    }


def print_sweep(
    store: Store, record: RunRecord, *, watch: bool, stream: TextIO | None = None
) -> RunRecord:
    """Print the children table; with ``watch`` again whenever it changes, until the sweep
    ends (Ctrl-C stops watching only: the sweep belongs to its driver)."""
    out = stream or sys.stdout
    shown = ""
    try:
        while True:
            text = sweep_text(store, record)
            if text != shown:
                out.write("\n" + text + "\n")
                out.flush()
                shown = text
            if not watch or record.terminal:
                return record
            time.sleep(WATCH_POLL_S)
            record = store.find(record.id)
    except KeyboardInterrupt:
        raise ExperimentExecutionException(
            f"stopped watching sweep {record.id}; it goes on running",
            hint=f"watch it again with 'serving runs show {record.id} --watch'",
        ) from None

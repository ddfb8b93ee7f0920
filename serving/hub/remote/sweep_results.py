"""A sweep of a workspace server as results (:mod:`serving.runs.sweeps.results`): the
children from the run routes, each child's primary-metric history from the metrics route,
the parent's ``best_child_by_primary_metric`` table from its metrics. The SDK's
``RemoteHyperDriveRun`` and the CLI's sweep table and chart share it.

Each child's history is one metrics-route call, so a table refresh costs a call per child
(a sweep's children are tens, not thousands).
"""

from __future__ import annotations

from serving.hub.remote.runs import RemoteRunStore
from serving.runs.records import RunRecord
from serving.runs.sweeps import results as res


def remote_history(runs: RemoteRunStore) -> res.History:
    """A run's values of a metric, from the metrics route."""

    def history(run_id: str, metric: str) -> list[float]:
        found = runs.metrics(run_id, metric)["series"].get(metric)
        return [float(point[1]) for point in (found or {}).get("points", [])]

    return history


def remote_children(runs: RemoteRunStore, parent: RunRecord) -> list[res.ChildResult]:
    """The sweep's children in index order, with their primary-metric histories."""
    return res.children(runs, parent, remote_history(runs))


def best_from_table(runs: RemoteRunStore, parent_id: str) -> str | None:
    """The last ``run_id`` of the parent's ``best_child_by_primary_metric`` table."""
    return res.best_in_table(runs.get_metrics(parent_id, res.BEST_TABLE).get(res.BEST_TABLE))

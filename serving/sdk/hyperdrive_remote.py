"""``HyperDriveRun`` of a workspace server: the sweep executes on the server's machine (its
driver and children there, :mod:`serving.runs.sweeps`); this client reads the parent and
its children through the run routes (children, status, metrics, cancel), with the same
results as a folder's :class:`serving.sdk.hyperdrive.HyperDriveRun`
(:mod:`serving.runs.sweeps.results` builds the children table and the best run from
records and primary-metric histories either way; a server's through
:mod:`serving.hub.remote.sweep_results`).
"""

from __future__ import annotations

from typing import Any

from serving.hub.remote.sweep_results import best_from_table, remote_children
from serving.runs.records import RunRecord
from serving.runs.sweeps import results as res
from serving.sdk.run_remote import RemoteRun
from serving.sdk.sweep_run import SweepResults


class RemoteHyperDriveRun(SweepResults, RemoteRun):
    """The parent run of a sweep in a workspace server."""

    def __init__(self, experiment: Any, run_id: str, hyperdrive_config: Any = None, **kw: Any):
        super().__init__(experiment, run_id, **kw)
        self.hyperdrive_config = hyperdrive_config

    def _record_of(self, run_id: str) -> RunRecord:
        return self._runs.get(run_id)

    def _children_of(self, parent: RunRecord) -> list[res.ChildResult]:
        return remote_children(self._runs, parent)

    def _best_id_from_table(self) -> str | None:
        return best_from_table(self._runs, self._run_id)

    def _child(self, run_id: str) -> RemoteRun:
        return RemoteRun(self._experiment, run_id)

"""``HyperDriveRun`` of a workspace server: the sweep executes on the server's machine (its
driver and children there, :mod:`serving.runs.sweeps`); this client reads the parent and
its children through the run routes (children, status, metrics, cancel), with the same
results as a folder's :class:`serving.sdk.hyperdrive.HyperDriveRun`
(:mod:`serving.runs.sweeps.results` builds the children table and the best run from
records and primary-metric histories either way; a server's through
:mod:`serving.hub.remote.sweep_results`).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from serving.hub.remote.sweep_results import best_from_table, remote_children
from serving.runs import records as rec
from serving.runs.errors import ActivityFailedException
from serving.runs.records import RunRecord
from serving.runs.sweeps import results as res
from serving.sdk.run_remote import RemoteRun

POLL_S = 0.5


class RemoteHyperDriveRun(RemoteRun):
    """The parent run of a sweep in a workspace server."""

    def __init__(self, experiment: Any, run_id: str, hyperdrive_config: Any = None, **kw: Any):
        super().__init__(experiment, run_id, **kw)
        self.hyperdrive_config = hyperdrive_config

    def _sweep(self) -> dict[str, Any]:
        return res.sweep_definition(self.record)

    def _goal(self) -> str:
        return str(self._sweep().get("primary_metric_goal", "MAXIMIZE"))

    def _results(self, include_resume_from_runs: bool = False) -> list[res.ChildResult]:
        found = remote_children(self._runs, self.record)
        if include_resume_from_runs:
            for earlier in self._sweep().get("resume_from") or []:
                found += remote_children(self._runs, self._runs.get(earlier))
        return found

    def _child(self, run_id: str) -> RemoteRun:
        return RemoteRun(self._experiment, run_id)

    def get_best_run_by_primary_metric(
        self,
        include_failed: bool = True,
        include_canceled: bool = True,
        include_resume_from_runs: bool = True,
    ) -> RemoteRun | None:
        """The child with the best logged value of the primary metric (v1's semantics, as
        :meth:`serving.sdk.hyperdrive.HyperDriveRun.get_best_run_by_primary_metric`)."""
        if include_failed and include_canceled and not self._sweep().get("resume_from"):
            best_id = best_from_table(self._runs, self._run_id)
            if best_id is not None:
                return self._child(best_id)
        best = res.best_child(
            self._results(include_resume_from_runs),
            self._goal(),
            include_failed=include_failed,
            include_canceled=include_canceled,
        )
        return None if best is None else self._child(best.id)

    def get_children_sorted_by_primary_metric(
        self, top: int = 0, reverse: bool = False, discard_no_metric: bool = False
    ) -> list[dict[str, Any]]:
        ranked = res.ranked(self._results(), self._goal())
        with_metric = [c for c in ranked if c.best is not None]
        without = [] if discard_no_metric else [c for c in ranked if c.best is None]
        ordered = (list(reversed(with_metric)) if reverse else with_metric) + without
        rows = [
            {
                "run_id": c.id,
                "hyperparameters": c.hyperparameters,
                "best_primary_metric": c.best,
                "status": c.record.status,
            }
            for c in ordered
        ]
        return rows[:top] if top else rows

    def get_hyperparameters(self) -> dict[str, str]:
        return {c.id: c.hyperparameters for c in self._results()}

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """``{child run id: that child's get_metrics()}``."""
        return {
            record.id: self._runs.get_metrics(record.id, name)
            for record in reversed(self._runs.list(parent_id=self._run_id))
        }

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
    ) -> dict[str, Any]:
        """Wait for the sweep; with ``show_output`` the children table whenever it changes."""
        out = sys.stdout if show_output else None
        if out is not None:
            out.write(f"RunId: {self._run_id}\nWeb View: {self.get_portal_url()}\n\n")
        shown = ""
        record = self.record
        while True:
            if out is not None:
                shown = self._show(out, shown, record)
            if record.terminal:
                break
            time.sleep(POLL_S)
            record = self.record
        if out is not None:
            out.write(f"\nExecution Summary\n=================\nRunId: {self._run_id}\n")
            out.write(f"Status: {record.status}\n\n")
        if raise_on_error and record.status == rec.FAILED:
            raise ActivityFailedException(error_details={"error": record.error or {}})
        return self.get_details()

    def _show(self, out: TextIO, shown: str, parent: RunRecord) -> str:
        text = res.table_text(res.table_rows(remote_children(self._runs, parent)), parent)
        if text != shown:
            out.write(text + "\n")
            out.flush()
        return text

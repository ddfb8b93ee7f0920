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
from serving.sdk.sweep_run import SweepResults

POLL_S = 0.5


class RemoteHyperDriveRun(SweepResults, RemoteRun):
    """The parent run of a sweep in a workspace server."""

    def __init__(self, experiment: Any, run_id: str, hyperdrive_config: Any = None, **kw: Any):
        super().__init__(experiment, run_id, **kw)
        self.hyperdrive_config = hyperdrive_config

    def _record_of(self, run_id: str) -> RunRecord:
        return self.record if run_id == self._run_id else self._runs.get(run_id)

    def _children_of(self, parent: RunRecord) -> list[res.ChildResult]:
        return remote_children(self._runs, parent)

    def _best_id_from_table(self) -> str | None:
        return best_from_table(self._runs, self._run_id)

    def _child(self, run_id: str) -> RemoteRun:
        return RemoteRun(self._experiment, run_id)

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

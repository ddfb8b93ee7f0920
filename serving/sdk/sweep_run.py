"""What a sweep's parent run answers, whichever workspace holds it: the best child, the
children ranked by the primary metric and their hyperparameters (v1's ``HyperDriveRun``
methods), ``get_metrics`` per child, and ``wait_for_completion``'s table of the children
whenever it changes. :class:`serving.sdk.hyperdrive.HyperDriveRun` (a folder) and
:class:`serving.sdk.hyperdrive_remote.RemoteHyperDriveRun` (a server) mix it in and say
only where the records come from."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from serving.runs.records import RunRecord
from serving.runs.sweeps import results as res

POLL_S = 0.5


class SweepResults:
    """Mixed into a sweep's parent run class (before its run class: ``get_metrics`` and
    ``_wait`` replace the run's), which provides the four hooks below."""

    _run_id: str

    if TYPE_CHECKING:  # the run class's

        @property
        def record(self) -> RunRecord: ...

        def get_portal_url(self) -> str: ...

        def get_children(self, *args: Any, **kwargs: Any) -> Iterator[Any]: ...

    # -- where the records come from ---------------------------------------------------------
    def _record_of(self, run_id: str) -> RunRecord:
        raise NotImplementedError

    def _children_of(self, parent: RunRecord) -> list[res.ChildResult]:
        raise NotImplementedError

    def _best_id_from_table(self) -> str | None:
        raise NotImplementedError

    def _child(self, run_id: str) -> Any:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def _sweep(self) -> dict[str, Any]:
        return res.sweep_definition(self._record_of(self._run_id))

    def _goal(self) -> str:
        return str(self._sweep().get("primary_metric_goal", "MAXIMIZE"))

    def _results(self, include_resume_from_runs: bool = False) -> list[res.ChildResult]:
        found = self._children_of(self._record_of(self._run_id))
        if include_resume_from_runs:
            for earlier in self._sweep().get("resume_from") or []:
                found += self._children_of(self._record_of(earlier))
        return found

    def get_best_run_by_primary_metric(
        self,
        include_failed: bool = True,
        include_canceled: bool = True,
        include_resume_from_runs: bool = True,
    ) -> Any:
        """The child with the best logged value of the primary metric (each child's best
        value, not its last); None when no child logged it."""
        if include_failed and include_canceled and not self._sweep().get("resume_from"):
            best_id = self._best_id_from_table()
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
        """``[{run_id, hyperparameters, best_primary_metric, status}]``, best first;
        children without the metric last."""
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
        """``{child run id: the parameters as JSON text}`` (v1: the parent's tags)."""
        return {c.id: c.hyperparameters for c in self._results()}

    # -- the run's calls, as a sweep ---------------------------------------------------------
    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """``{child run id: that child's get_metrics()}``."""
        return {child.id: child.get_metrics(name) for child in self.get_children()}

    def _wait(self, out: TextIO | None) -> RunRecord:
        """Wait for the sweep; to ``out`` a table of the children (status, parameters, best
        primary metric) whenever it changes, and a summary."""
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
        return record

    def _show(self, out: TextIO, shown: str, parent: RunRecord) -> str:
        text = res.table_text(res.table_rows(self._children_of(parent)), parent)
        if text != shown:
            out.write(text + "\n")
            out.flush()
        return text

"""What a pipeline's run answers, whichever workspace holds it: its step runs, the step
named so, the driver's reuse decisions and ``wait_for_completion`` (v1's ``PipelineRun``
methods). :class:`serving.sdk.pipeline_run.PipelineRun` (a folder) and
:class:`serving.sdk.pipeline_remote.RemotePipelineRun` (a server) mix it in and say only
where the records come from and how the run is followed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from serving.runs import records as rec
from serving.runs.errors import ActivityFailedException
from serving.runs.follow import default_out
from serving.runs.pipelines import spec as s
from serving.runs.pipelines.driver import DECISIONS
from serving.runs.records import RunRecord


class PipelineSteps:
    """Mixed into a pipeline run class (before its run class: ``wait_for_completion``
    replaces the run's), which provides the three hooks below."""

    if TYPE_CHECKING:  # the run class's

        @property
        def record(self) -> RunRecord: ...

        def _child_records(self) -> list[RunRecord]: ...

    # -- where the records come from ---------------------------------------------------------
    def _step(self, record: RunRecord) -> Any:
        """The step run of ``record``."""
        raise NotImplementedError

    def _wait_pipeline(self, out: TextIO | None, timeout_s: float | None) -> RunRecord:
        """Block until the run ends (or ``timeout_s`` passes), streaming it to ``out``."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def get_steps(self) -> Iterator[Any]:
        """The step runs, in the order they were recorded."""
        for record in reversed(self._child_records()):
            if record.kind == s.STEP_KIND:
                yield self._step(record)

    def find_step_run(self, name: str) -> list[Any]:
        """The step runs of the step ``name`` (a list, as in v1)."""
        return [step for step in self.get_steps() if step._record.display_name == name]

    def get_step_decisions(self) -> list[dict[str, Any]]:
        """What the driver decided per step before running (reuse or run, and why)."""
        return list(self.record.properties.get(DECISIONS) or [])

    def wait_for_completion(
        self,
        show_output: bool = True,
        timeout_seconds: float = sys.maxsize,
        raise_on_error: bool = True,
    ) -> str:
        """Wait for the pipeline run to end, streaming it unless ``show_output=False``;
        returns the final status. Failed raises :class:`ActivityFailedException` naming the
        failed steps (unless ``raise_on_error=False``)."""
        timeout = None if timeout_seconds >= sys.maxsize else float(timeout_seconds)
        record = self._wait_pipeline(default_out() if show_output else None, timeout)
        if raise_on_error and record.status == rec.FAILED:
            raise ActivityFailedException(error_details={"error": record.error or {}})
        return record.status

"""``PipelineRun`` and ``StepRun`` of a workspace server: the pipeline's driver and step
runs execute on the server's machine (:mod:`serving.runs.pipelines`); this client reads
them through the run routes. ``wait_for_completion`` streams as a folder's does
(:mod:`serving.hub.remote.pipeline_watch`).

A step's outputs live on the server's datastores: ``get_output_data`` is refused in one
line (download the step run's files instead).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from serving.hub.remote.pipeline_watch import LogTail, wait_pipeline
from serving.runs import records as rec
from serving.runs.errors import ActivityFailedException
from serving.runs.follow import default_out
from serving.runs.pipelines import spec as s
from serving.runs.pipelines.driver import DECISIONS
from serving.sdk.run_remote import RemoteRun, not_on_a_server


class RemoteStepRun(RemoteRun):
    """The run of one step of a pipeline run in a workspace server."""

    @property
    def reused_run_id(self) -> str | None:
        value = self.record.properties.get(s.REUSED_RUN)
        return None if value is None else str(value)

    def _read(self, which: str) -> str:
        return LogTail(self._runs, self.reused_run_id or self._run_id, which).read()

    def get_stdout_log(self) -> str:
        return self._read("user")

    def get_stderr_log(self) -> str:
        return self._read("user")

    def get_job_log(self) -> str:
        return self._read("system")

    def get_output_data(self, name: str) -> Any:
        raise not_on_a_server("a step's output on the server's datastore")

    def get_outputs(self) -> dict[str, Any]:
        raise not_on_a_server("a step's outputs on the server's datastores")


class RemotePipelineRun(RemoteRun):
    """A run of a pipeline in a workspace server: its children are the step runs."""

    def get_steps(self) -> Iterator[RemoteStepRun]:
        for record in reversed(self._runs.list(parent_id=self._run_id)):
            if record.kind == s.STEP_KIND:
                yield RemoteStepRun(self._experiment, record.id)

    def find_step_run(self, name: str) -> list[RemoteStepRun]:
        return [step for step in self.get_steps() if step.record.display_name == name]

    def get_step_decisions(self) -> list[dict[str, Any]]:
        return list(self.record.properties.get(DECISIONS) or [])

    def wait_for_completion(  # type: ignore[override]
        self,
        show_output: bool = True,
        timeout_seconds: float = sys.maxsize,
        raise_on_error: bool = True,
    ) -> str:
        """As :meth:`serving.sdk.pipeline_run.PipelineRun.wait_for_completion`: the final
        status; Failed raises naming the failed steps."""
        timeout = None if timeout_seconds >= sys.maxsize else float(timeout_seconds)
        out = default_out() if show_output else None
        record = wait_pipeline(self._runs, self._run_id, out=out, timeout_s=timeout)
        if raise_on_error and record.status == rec.FAILED:
            raise ActivityFailedException(error_details={"error": record.error or {}})
        return record.status

"""``PipelineRun`` and ``StepRun`` of a workspace server: the pipeline's driver and step
runs execute on the server's machine (:mod:`serving.runs.pipelines`); this client reads
them through the run routes. ``wait_for_completion`` streams as a folder's does
(:mod:`serving.hub.remote.pipeline_watch`).

A step's outputs live on the server's datastores: ``get_output_data`` is refused in one
line (download the step run's files instead).
"""

from __future__ import annotations

from typing import Any, TextIO

from serving.hub.remote.pipeline_watch import LogTail, wait_pipeline
from serving.runs.pipelines import spec as s
from serving.runs.records import RunRecord
from serving.sdk.pipeline_view import PipelineSteps
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


class RemotePipelineRun(PipelineSteps, RemoteRun):  # type: ignore[misc]  # as PipelineRun
    """A run of a pipeline in a workspace server: its children are the step runs (the
    rest: PipelineSteps)."""

    def _step(self, record: RunRecord) -> RemoteStepRun:
        return RemoteStepRun(self._experiment, record.id, _record=record)

    def _wait_pipeline(self, out: TextIO | None, timeout_s: float | None) -> RunRecord:
        return wait_pipeline(self._runs, self._run_id, out=out, timeout_s=timeout_s)

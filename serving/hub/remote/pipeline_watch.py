"""Following a pipeline run of a workspace server, as a folder's is followed
(:mod:`serving.runs.pipelines.watch`): the driver's log (the system log route), each step
run's log prefixed by ``[step]``, then one summary line per step. The SDK's
``RemotePipelineRun`` and ``serving pipelines run``/``show`` against a server share it.
"""

from __future__ import annotations

import time
from typing import TextIO

from serving.hub.remote.runs import RemoteRunStore
from serving.runs.errors import ExperimentExecutionException
from serving.runs.pipelines import spec as s
from serving.runs.pipelines import watch
from serving.runs.records import RunRecord

POLL_S = 0.25


def step_rows(runs: RemoteRunStore, run_id: str) -> list[dict[str, str | None]]:
    """One row per step run, in the order they were recorded (the folder's rows)."""
    return watch.rows_of(runs.list(parent_id=run_id))


class LogTail:
    """A run's log read on from where it was last read (the log route's offsets)."""

    def __init__(self, runs: RemoteRunStore, run_id: str, which: str) -> None:
        self.runs, self.run_id, self.which, self.offset = runs, run_id, which, 0

    def read(self) -> str:
        text, self.offset = self.runs.read_log(self.run_id, self.offset, self.which)
        return text


def _emit(out: TextIO, prefix: str, text: str) -> None:
    if text:
        out.write("".join(f"{prefix}{line}\n" for line in text.splitlines()))
        out.flush()


def wait_pipeline(
    runs: RemoteRunStore, run_id: str, *, out: TextIO | None, timeout_s: float | None = None
) -> RunRecord:
    """Block until the pipeline run ends (or ``timeout_s`` passes); stream it to ``out``."""
    record = runs.get(run_id)
    driver = LogTail(runs, run_id, "system")
    steps: dict[str, LogTail] = {}

    def pump() -> None:
        if out is None:
            return
        _emit(out, "", driver.read())
        for child in reversed(runs.list(parent_id=run_id)):
            if child.kind == s.STEP_KIND and not child.properties.get(s.REUSED_RUN):
                tail = steps.setdefault(child.id, LogTail(runs, child.id, "user"))
                _emit(out, f"[{child.display_name}] ", tail.read())

    if out is not None:
        out.write(f"PipelineRunId: {run_id}\nLink to the run: {runs.client.base_url}\n\n")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not record.terminal:
            pump()
            if deadline is not None and time.monotonic() > deadline:
                return record
            time.sleep(POLL_S)
            record = runs.get(run_id)
    except KeyboardInterrupt:
        raise ExperimentExecutionException(
            f"stopped waiting for pipeline run {run_id}; it goes on running",
            hint=f"look at it again with 'serving pipelines show {run_id}'",
        ) from None
    if out is not None:
        pump()
        out.write(summary(runs, record))
        out.flush()
    return record


def summary(runs: RemoteRunStore, record: RunRecord) -> str:
    return watch.summary_of(record, step_rows(runs, record.id))

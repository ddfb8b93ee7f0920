"""Waiting for a pipeline run, optionally streaming it: ``PipelineRun.wait_for_completion``
(which shows output by default, as in v1) and ``serving pipelines run`` share it.

The stream is the driver's log (each step reused, submitted or ended, and why) with every
step run's own log interleaved, each line prefixed by ``[step]``; then a summary with one
line per step. Interrupting the wait (Ctrl-C) raises
:class:`~serving.runs.errors.ExperimentExecutionException`; the pipeline goes on (it
belongs to its driver).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TextIO

from serving.runs.errors import ExperimentExecutionException
from serving.runs.follow import LogTail
from serving.runs.pipelines import spec as s
from serving.runs.records import RunRecord
from serving.runs.store import STD_LOG, SYSTEM_LOG, RunStore

POLL_S = 0.1


def step_rows(store: RunStore, run_id: str) -> list[dict[str, str | None]]:
    """One row per step run of the pipeline run, in the order they were recorded."""
    return rows_of(store.list(parent_id=run_id))


def rows_of(children: Iterable[RunRecord]) -> list[dict[str, str | None]]:
    """The step rows of a pipeline run's children as listed (newest first), oldest first:
    a folder's and a workspace server's pipelines show the same rows."""
    return [
        {
            "step": child.display_name,
            "run": child.id,
            "status": child.status,
            "reused_from": child.properties.get(s.REUSED_RUN),
            "reason": (child.error or {}).get("message") or child.properties.get(s.REASON),
        }
        for child in reversed(list(children))
    ]


class _Stream:
    def __init__(self, store: RunStore, run_id: str, out: TextIO) -> None:
        self.store = store
        self.out = out
        self.driver = LogTail(store.run_dir(run_id) / SYSTEM_LOG)
        self.steps: dict[str, LogTail] = {}
        self.run_id = run_id

    def pump(self, final: bool = False) -> None:
        self._emit("", self.driver.rest() if final else self.driver.read())
        for child in reversed(self.store.list(parent_id=self.run_id)):
            if child.properties.get(s.REUSED_RUN) or child.kind != s.STEP_KIND:
                continue
            tail = self.steps.setdefault(child.id, LogTail(self.store.run_dir(child.id) / STD_LOG))
            text = tail.rest() if final or child.terminal else tail.read()
            self._emit(f"[{child.display_name}] ", text)

    def _emit(self, prefix: str, text: str) -> None:
        if text:
            lines = text.splitlines()
            self.out.write("".join(f"{prefix}{line}\n" for line in lines))
            self.out.flush()


def summary(store: RunStore, record: RunRecord) -> str:
    return summary_of(record, step_rows(store, record.id))


def summary_of(record: RunRecord, rows: Iterable[dict[str, str | None]]) -> str:
    """v1's execution summary: the pipeline run's status, then a line per step."""
    lines = ["", "PipelineRun Execution Summary", "==============================="]
    lines += [f"PipelineRun Status: {record.status}", f"RunId: {record.id}"]
    for row in rows:
        reused = f" (reused run {row['reused_from']})" if row["reused_from"] else ""
        lines.append(f"  {row['step']}: {row['status']}{reused}")
    if record.error:
        lines.append(f"Error: {record.error.get('message', record.error)}")
    return "\n".join(lines) + "\n\n"


def wait_pipeline(
    store: RunStore, run_id: str, *, out: TextIO | None = None, timeout_s: float | None = None
) -> RunRecord:
    """Block until the pipeline run ends (or ``timeout_s`` passes); stream it to ``out``."""
    record = store.find(run_id)
    stream = _Stream(store, run_id, out) if out is not None else None
    if out is not None:
        out.write(f"PipelineRunId: {run_id}\n")
        out.write(f"Link to the run's folder: {store.run_dir(run_id).as_uri()}\n\n")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not record.terminal:
            if stream is not None:
                stream.pump()
            if deadline is not None and time.monotonic() > deadline:
                return record
            time.sleep(POLL_S)
            record = store.find(run_id)
    except KeyboardInterrupt:
        raise ExperimentExecutionException(
            f"stopped waiting for pipeline run {run_id}; it goes on running",
            hint=f"look at it again with 'serving pipelines show {run_id}'",
        ) from None
    if stream is not None and out is not None:
        stream.pump(final=True)
        out.write(summary(store, record))
        out.flush()
    return record

"""Waiting for a run, optionally streaming its log: ``wait_for_completion(show_output=True)``
and ``serving runs logs --follow`` / ``runs submit`` share it.

The output follows v1's shape: ``RunId:`` and ``Web View:`` lines, a ``Streaming`` header,
the log as it grows, then an ``Execution Summary``. Interrupting the wait (Ctrl-C) raises
:class:`ExperimentExecutionException`; the run itself goes on (it belongs to its supervisor).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from serving.runs import records as rec
from serving.runs.errors import ExperimentExecutionException
from serving.runs.records import RunRecord
from serving.runs.store import STD_LOG, SYSTEM_LOG, RunStore

POLL_S = 0.2
_BEFORE_SCRIPT = frozenset({rec.NOT_STARTED, rec.QUEUED, rec.PREPARING})


class LogTail:
    """Reads what was appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> str:
        """Whole lines appended since the last call (a partial last line waits)."""
        return self._take(whole_lines=True)

    def rest(self) -> str:
        """Everything appended since the last call."""
        return self._take(whole_lines=False)

    def _take(self, *, whole_lines: bool) -> str:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return ""
        cut = data.rfind(b"\n") + 1 if whole_lines else len(data)
        self.offset += cut
        return data[:cut].decode("utf-8", errors="replace")


def wait(
    store: RunStore,
    run_id: str,
    *,
    out: TextIO | None = None,
    on_poll: Callable[[RunRecord], None] | None = None,
    timeout_s: float | None = None,
) -> RunRecord:
    """Block until the run ends; with ``out``, stream its log there in v1's format."""
    record = store.find(run_id)
    tail = LogTail(store.run_dir(run_id) / STD_LOG)
    preparing = LogTail(store.run_dir(run_id) / SYSTEM_LOG)
    if out is not None:
        out.write(f"RunId: {run_id}\nWeb View: {store.run_dir(run_id).as_uri()}\n\n")
        out.write(f"Streaming {STD_LOG}\n{'=' * (10 + len(STD_LOG))}\n\n")
        out.flush()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not record.terminal:
            if out is not None:
                if record.status in _BEFORE_SCRIPT:  # environment builds show their progress
                    _emit(out, preparing.read())
                _emit(out, tail.read())
            if on_poll is not None:
                on_poll(record)
            if deadline is not None and time.monotonic() > deadline:
                return record
            time.sleep(POLL_S)
            record = store.find(run_id)
    except KeyboardInterrupt:
        raise ExperimentExecutionException(
            f"stopped waiting for run {run_id}; it goes on running",
            hint=f"follow it again with 'serving runs logs {run_id} --follow'",
        ) from None
    if out is not None:
        _emit(out, tail.rest())
        out.write(summary(record))
        out.flush()
    return record


def _emit(out: TextIO, text: str) -> None:
    if text:
        out.write(text)
        out.flush()


def summary(record: RunRecord) -> str:
    lines = [
        "",
        "Execution Summary",
        "=================",
        f"RunId: {record.id}",
        f"Status: {record.status}",
    ]
    if record.error:
        lines.append(f"Error: {record.error.get('message', record.error)}")
    return "\n".join(lines) + "\n\n"


def default_out() -> TextIO:
    return sys.stdout

"""Cancelling a run: ask its supervisor (SIGTERM), which ends the script's whole process
tree or container and records Canceled; if the supervisor is gone, end what it recorded
and record Canceled here."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from serving.proc import ProcessRef, is_running, stop
from serving.runs import records as rec
from serving.runs.store import RunStore

CANCEL_WAIT_S = 40.0


def cancel(
    store: RunStore,
    run_id: str,
    *,
    wait_s: float = CANCEL_WAIT_S,
    reason: Mapping[str, Any] | None = None,
) -> str:
    """Cancel the run (and its children); returns its final status. ``reason`` is merged
    into the error of a run this call canceled (an early-termination policy names itself)."""
    status = _cancel(store, run_id, wait_s)
    if reason and status == rec.CANCELED:
        store.amend_error(run_id, reason)
    return status


def _cancel(store: RunStore, run_id: str, wait_s: float) -> str:
    record = store.get(run_id)
    if not record.terminal:  # first, so an owner of children (a sweep) starts no more
        store.set_status(run_id, rec.CANCEL_REQUESTED)
    for child in store.list(parent_id=run_id):
        if not child.terminal:
            cancel(store, child.id, wait_s=wait_s)
    if record.terminal:
        return record.status
    supervisor = ProcessRef.from_dict(record.supervisor.get("process") or {})
    if supervisor is not None and is_running(supervisor):
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor.pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            record = store.get(run_id)
            if record.terminal:
                return record.status
            if not is_running(supervisor):
                break  # it ended without recording (SIGTERM came before its handler was set)
            time.sleep(0.1)
        stop(supervisor, grace_s=1.0)
    _end_recorded(record.supervisor)
    store.set_status(
        run_id, rec.CANCELED, error={"code": "Canceled", "message": "the run was canceled"}
    )
    return store.get(run_id).status


def _end_recorded(supervisor: dict[str, object]) -> None:
    """End the script process group or container a lost supervisor left behind."""
    script = ProcessRef.from_dict(supervisor.get("script") or {})  # type: ignore[arg-type]
    if script is not None:
        stop(script, grace_s=5.0)
    container = supervisor.get("container")
    if isinstance(container, str):
        try:
            from serving.images.engine import docker_session

            with docker_session() as client:
                client.containers.get(container).remove(force=True)
        except Exception:
            pass

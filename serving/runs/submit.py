"""Submitting a script run: record it, snapshot its source folder, hand it to a detached
supervisor (``python -m serving.runs.supervisor``), return at once.

The supervisor is started in its own session: the CLI or notebook that submitted the run
can exit, crash or be interrupted, and the run still finishes and is recorded.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.proc import ProcessRef, no_interrupt, reap_in_background, start_ticks
from serving.runs import records as rec
from serving.runs.errors import UserErrorException
from serving.runs.records import RunRecord
from serving.runs.snapshot import take_snapshot
from serving.runs.store import SYSTEM_LOG, RunStore


@dataclass(frozen=True)
class ScriptJob:
    """What a script run executes, as the SDK and CLI describe it."""

    source_directory: Path
    script: str
    arguments: list[str] = field(default_factory=list)
    environment: dict[str, Any] | None = None
    """``{"name", "version", "spec": EnvSpec.to_dict()}``; None: user-managed."""
    interpreter: str | None = None
    compute: str = "local"
    data_references: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment_variables: dict[str, str] = field(default_factory=dict)
    max_run_duration_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        return {
            "script": self.script,
            "arguments": list(self.arguments),
            "source_directory": str(self.source_directory),
            "environment": self.environment,
            "user_managed": self.environment is None,
            "interpreter": self.interpreter,
            "target": self.compute,
            "data_references": self.data_references,
            "environment_variables": self.environment_variables,
            "max_run_duration_seconds": self.max_run_duration_seconds,
            "submitted_by": _user(),
            **self.extra,
        }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def check_job(job: ScriptJob) -> None:
    source = Path(job.source_directory)
    if not source.is_dir():
        raise UserErrorException(f"source directory {source} is not a folder")
    script = source / job.script
    if not script.is_file():
        raise UserErrorException(f"script {job.script} not found in the source directory {source}")


def submit(
    store: RunStore,
    experiment: str,
    job: ScriptJob,
    *,
    run_id: str | None = None,
    parent_id: str | None = None,
    display_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    kind: str = rec.SCRIPT,
) -> RunRecord:
    """Record the run (NotStarted), snapshot the source, start its supervisor (``kind``:
    v1's run type, e.g. a pipeline's ``azureml.StepRun``)."""
    check_job(job)
    rec.check_experiment_name(experiment)
    record = store.create_run(
        experiment,
        kind=kind,
        target=job.compute,
        definition=job.definition(),
        run_id=run_id,
        parent_id=parent_id,
        display_name=display_name,
    )
    try:
        snap = take_snapshot(job.source_directory, store.run_dir(record.id) / "snapshot")
    except BaseException as exc:
        store.set_status(
            record.id, rec.FAILED, error={"code": "SnapshotFailed", "message": str(exc)}
        )
        raise
    store.set_snapshot(record.id, snap.snapshot_id)
    if snap.warnings:
        store.set_status(record.id, rec.NOT_STARTED, warnings=snap.warnings)
        for note in snap.warnings:
            print(f"warning: {note}", file=sys.stderr)
    if tags:
        store.update_json(
            record.id, "tags", {k: None if v is None else str(v) for k, v in tags.items()}
        )
    start_supervisor(store, record.id)
    return store.get(record.id)


def supervisor_argv(store: RunStore, run_id: str) -> list[str]:
    return [sys.executable, "-m", "serving.runs.supervisor", str(store.root), run_id]


def start_supervisor(store: RunStore, run_id: str, argv: Sequence[str] | None = None) -> ProcessRef:
    """Start the run's supervisor (``argv``: another owner program, such as a sweep's
    driver) in its own session and record it (Ctrl-C held back in between, so a recorded
    run always has its supervisor recorded)."""
    log = store.run_dir(run_id) / SYSTEM_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    with no_interrupt(), log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv) if argv is not None else supervisor_argv(store, run_id),
            cwd=store.run_dir(run_id),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        ref = ProcessRef(proc.pid, start_ticks(proc.pid))
        store.update_json(run_id, "supervisor", {"process": ref.to_dict()})
    reap_in_background(proc)
    return ref


def stringify(arguments: Sequence[Any]) -> list[str]:
    """Arguments as the script sees them: every item ``str()``-ed at launch (v1)."""
    return [str(a) for a in arguments]

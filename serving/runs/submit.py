"""Submitting a script run: record it, snapshot its source folder, hand it to a detached
supervisor (``python -m serving.runs.supervisor``), return at once.

The supervisor is started in its own session: the CLI or notebook that submitted the run
can exit, crash or be interrupted, and the run still finishes and is recorded.
"""

from __future__ import annotations

import getpass
import os
import re
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
    max_retries: int = 0
    """Times a run on a cluster is submitted again when its node was lost (not when the
    script failed); 0 elsewhere, where there is no node to lose."""
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
            "max_retries": self.max_retries,
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
    if not retries_ok(job.max_retries):
        raise UserErrorException(
            f"max_retries must be a whole number from 0 to {MAX_RETRIES}, not {job.max_retries!r}"
        )


def retries_ok(value: object) -> bool:
    """Whether ``value`` is a run's ``max_retries`` (a whole number, 0 to MAX_RETRIES)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_RETRIES


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


# -- a job sent to a workspace server -----------------------------------------------------
MAX_RETRIES = 10
"""The most times one run may be submitted again."""

WIRE_FIELDS = frozenset(
    {
        "script",
        "arguments",
        "environment",
        "interpreter",
        "compute",
        "data_references",
        "environment_variables",
        "max_run_duration_seconds",
        "max_retries",
        "source_directory",
        "submitted_by",
        "display_name",
        "tags",
        "environment_name",
    }
)
"""What a client may say about a run it submits to a server (``job.json`` beside the
source); anything else is refused, so a field the server would ignore is not silent."""


def job_to_wire(
    job: ScriptJob, *, display_name: str | None = None, tags: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The job as JSON for a server: the source folder travels as the tar beside it, the
    interpreter only when one was named (the client's own interpreter is not the server's)."""
    unknown = set(job.extra) - WIRE_FIELDS
    if unknown:
        raise UserErrorException(
            "this run configuration cannot be submitted to a workspace server yet: "
            f"it carries {', '.join(sorted(unknown))}"
        )
    interpreter = job.interpreter if job.interpreter not in (None, sys.executable) else None
    return {
        "script": job.script,
        "arguments": list(job.arguments),
        "environment": job.environment,
        "interpreter": interpreter,
        "compute": job.compute,
        "data_references": job.data_references,
        "environment_variables": job.environment_variables,
        "max_run_duration_seconds": job.max_run_duration_seconds,
        **({"max_retries": job.max_retries} if job.max_retries else {}),  # older servers
        "source_directory": str(job.source_directory),
        "submitted_by": _user(),
        "display_name": display_name,
        "tags": {k: None if v is None else str(v) for k, v in (tags or {}).items()},
        **job.extra,
    }


BACKSLASH = "\\"


def wire_check(ok: bool, what: str) -> None:
    """Refuse a client's job description: ``what`` is wrong with it."""
    if not ok:
        raise UserErrorException(f"the submitted job's {what}")


def wire_object(data: Any, allowed: frozenset[str], where: str) -> dict[str, Any]:
    """``data`` as a dict, refused unless it is a JSON object of ``allowed`` fields only."""
    wire_check(isinstance(data, dict), f"{where} must be a JSON object")
    unknown = set(data) - allowed
    wire_check(not unknown, f"{where} has unknown fields {', '.join(sorted(map(str, unknown)))}")
    return dict(data)


def is_inside_name(script: Any) -> bool:
    """Whether ``script`` names a file inside its source folder (relative, no ``..``)."""
    clean = script.replace(BACKSLASH, "/") if isinstance(script, str) else ""
    return bool(clean) and not clean.startswith("/") and ".." not in clean.split("/")


def is_program(interpreter: Any) -> bool:
    """Whether ``interpreter`` is an executable file on this machine."""
    return (
        isinstance(interpreter, str)
        and os.path.isfile(interpreter)
        and os.access(interpreter, os.X_OK)
    )


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEXT_FIELDS = ("compute", "source_directory", "submitted_by", "display_name", "environment_name")


def _check_wire_values(data: dict[str, Any]) -> None:
    """Refuse values of the wrong type or shape before any is used. What is accepted
    runs on this machine as whoever runs the server (that is what submitting means, so
    it takes a read-write token): variables such as ``PATH`` or ``LD_PRELOAD`` reach only
    the run's own processes, and are refused only when they could not be set at all."""
    for key in _TEXT_FIELDS:
        wire_check(data.get(key) is None or isinstance(data[key], str), f"{key} must be text")
    wire_check(
        is_inside_name(data.get("script")),
        "script must be a file name inside the source directory",
    )
    args = data.get("arguments") or []
    wire_check(
        isinstance(args, list) and all(isinstance(a, str | int | float) for a in args),
        "arguments must be a list of strings and numbers",
    )
    env_vars = data.get("environment_variables") or {}
    wire_check(
        isinstance(env_vars, dict)
        and all(_ENV_NAME.match(str(k)) for k in env_vars)
        and all(isinstance(v, str) and "\0" not in v for v in env_vars.values()),
        "environment_variables must map names (letters, digits, '_') to strings",
    )
    duration = data.get("max_run_duration_seconds")
    wire_check(
        duration is None
        or (isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0),
        "max_run_duration_seconds must be a positive number",
    )
    wire_check(
        retries_ok(data.get("max_retries", 0)),
        f"max_retries must be a whole number from 0 to {MAX_RETRIES}",
    )
    refs, tags = data.get("data_references") or {}, data.get("tags") or {}
    wire_check(
        isinstance(refs, dict) and all(isinstance(r, dict) for r in refs.values()),
        "data_references must be an object of objects",
    )
    wire_check(
        isinstance(tags, dict) and all(isinstance(v, str | int | float) for v in tags.values()),
        "tags must be an object of strings",
    )


def job_from_wire(data: Any, source: Path) -> tuple[ScriptJob, dict[str, Any]]:
    """(the job, ``{"display_name", "tags"}``) from a client's ``job.json``, its source
    unpacked at ``source``; refuses fields of the wrong type (:func:`_check_wire_values`),
    unknown fields, and an interpreter that is not a program on this machine."""
    data = wire_object(data, WIRE_FIELDS, "description")
    _check_wire_values(data)
    script, args = data["script"], data.get("arguments") or []
    env_vars = data.get("environment_variables") or {}
    environment = data.get("environment")
    wire_check(environment is None or isinstance(environment, dict), "environment is not one")
    refs = data.get("data_references") or {}
    interpreter = data.get("interpreter")
    if interpreter is not None and not is_program(interpreter):
        raise UserErrorException(
            f"interpreter_path {interpreter!r} is not a program on the workspace server's "
            "machine, where runs of this workspace execute",
            hint="register an Environment (its packages are installed there), or leave "
            "interpreter_path unset to use the server's interpreter",
        )
    job = ScriptJob(
        source_directory=source,
        script=script,
        arguments=[str(a) for a in args],
        environment=environment,
        interpreter=interpreter,
        compute=str(data.get("compute") or "local"),
        data_references=refs,
        environment_variables={str(k): v for k, v in env_vars.items()},
        max_run_duration_seconds=data.get("max_run_duration_seconds"),
        max_retries=int(data.get("max_retries") or 0),
        extra={
            "source_directory": str(data.get("source_directory") or ""),
            "submitted_by": str(data.get("submitted_by") or ""),
            **(
                {"environment_name": str(data["environment_name"])}
                if data.get("environment_name")
                else {}
            ),
        },
    )
    tags = data.get("tags") or {}
    return job, {"display_name": data.get("display_name"), "tags": tags}

"""The seam between a run's supervisor and the compute that executes the script.

The supervisor builds one :class:`Plan` (what to run, where, with which variables) and
hands it to an :class:`Executor` for the run's compute target: ``local`` (a process in a
cached virtual environment, or in the submitter's interpreter when the environment is
user-managed) or ``docker`` (a container from the environment's image). The executor
prepares what the plan needs (``prepare``: venv or image, may take minutes and reports
progress), starts it (``start``) and the supervisor waits on the :class:`Execution`.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from serving.runs.reporting import Report

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Mount:
    """A host folder the script reads (data references): same path inside containers."""

    host: Path
    read_only: bool = True


@dataclass(frozen=True)
class Plan:
    """Everything needed to start one run's script."""

    run_id: str
    workspace: Path
    """The workspace folder (mounted read-write at the same path in containers)."""
    run_dir: Path
    work_dir: Path
    """The copy of the snapshot the script runs in (its cwd)."""
    script_argv: list[str]
    """The script and its arguments, data references already substituted."""
    env: dict[str, str]
    """Variables the run adds (AZUREML_*, the environment's variables, PYTHONPATH shims)."""
    std_log: Path
    environment: dict[str, Any] | None
    """The environment's resolved spec (``EnvSpec.to_dict``); None for user-managed."""
    interpreter: str | None = None
    """The interpreter of a user-managed environment (the submitter's by default)."""
    compute: dict[str, Any] = field(default_factory=dict)
    """The compute target's record (``{"name", "kind", "spec"}``); ``{}`` is local."""
    mounts: list[Mount] = field(default_factory=list)
    max_run_duration_s: float | None = None
    max_retries: int = 0
    """Times the run may be submitted again when its node is lost (a cluster's runs)."""
    data: dict[str, Path] = field(default_factory=dict)
    """Where each data reference was materialised (upload-mode ones are copied back)."""
    report: Report | None = None
    """Set when the run reports to its workspace server (Docker compute of a server's
    workspace): the container gets the working copy and this, never the workspace."""


@dataclass(frozen=True)
class Exit:
    """How the script ended: ``code`` (negative: killed by that signal)."""

    code: int
    oom_killed: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        if self.oom_killed:
            return f"killed because it ran out of memory (exit status {self.code})"
        if self.code < 0:
            try:
                name = signal.Signals(-self.code).name
            except ValueError:
                name = f"signal {-self.code}"
            hint = " (out of memory, or killed)" if -self.code == signal.SIGKILL else ""
            return f"killed by {name}{hint}"
        if self.code > 128 and self.code - 128 in {s.value for s in signal.Signals}:
            return (
                f"exited with status {self.code} (killed by {signal.Signals(self.code - 128).name})"
            )
        return f"exited with status {self.code}"


class Execution(Protocol):
    started_status: str
    """The run's status once started: ``Running``, or ``Queued`` where the compute may hold
    the script back (a Ray job waits for resources: it shows Running when Ray runs it)."""

    def wait(self, timeout_s: float | None) -> Exit | None:
        """The exit, or None when ``timeout_s`` passed first."""

    def terminate(self, grace_s: float) -> Exit:
        """Stop the whole process tree (SIGTERM, then SIGKILL after ``grace_s``)."""

    def describe(self) -> dict[str, Any]:
        """What to record to find it again (pid and start time, or container id)."""


class Executor(Protocol):
    def prepare(self, plan: Plan, progress: Progress) -> None:
        """Build or reuse what the plan needs (venv, image); raises ServingError."""

    def start(self, plan: Plan) -> Execution:
        """Start the script; its stdout and stderr go to ``plan.std_log``."""

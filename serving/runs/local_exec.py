"""The ``local`` compute: the script as a process on this machine.

Its interpreter is the cached virtual environment of the run's environment (the same
cache, keyed by environment hash, as the local deployment target), or the submitter's
interpreter when the environment is user-managed. The script leads its own process group,
so cancelling ends every process it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from serving.config import PlatformSettings
from serving.environments import EnvSpec
from serving.environments.venv import ensure_venv, venv_python
from serving.proc import ProcessRef, start_ticks
from serving.runs import records as rec
from serving.runs.execution import Exit, Plan, Progress

_BLOCKED = ("PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


class LocalExecution:
    started_status = rec.RUNNING

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.ref = ProcessRef(proc.pid, start_ticks(proc.pid))

    def wait(self, timeout_s: float | None) -> Exit | None:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        return Exit(code)

    def terminate(self, grace_s: float) -> Exit:
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.05)
            if self.proc.poll() is not None:
                break
        _kill_group(self.proc.pid)  # children that outlived the leader
        return Exit(self.proc.wait())

    def describe(self) -> dict[str, Any]:
        return {"script": self.ref.to_dict()}


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class LocalExecutor:
    """Runs scripts as local processes."""

    def __init__(self, settings: PlatformSettings | None = None) -> None:
        self.settings = settings or PlatformSettings.from_env()
        self.python: str = sys.executable

    def prepare(self, plan: Plan, progress: Progress) -> None:
        if plan.environment is None:
            self.python = plan.interpreter or sys.executable
            progress(f"user-managed environment: {self.python}")
            return
        spec = EnvSpec.from_dict(plan.environment)
        progress(f"environment {spec.name} ({spec.short_hash}): preparing (python {spec.python})")
        venv = ensure_venv(
            spec,
            self.settings.envs_dir or plan.workspace / "envs",
            python=self.settings.python,
            progress=progress,
            index_url=self.settings.pip_index_url,
        )
        self.python = str(venv_python(venv))

    def start(self, plan: Plan) -> LocalExecution:
        env = {k: v for k, v in os.environ.items() if k not in _BLOCKED}
        env.update(plan.env)
        plan.std_log.parent.mkdir(parents=True, exist_ok=True)
        with plan.std_log.open("ab") as log:
            proc = subprocess.Popen(
                [self.python, *plan.script_argv],
                cwd=plan.work_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        return LocalExecution(proc)


def interpreter_exists(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)

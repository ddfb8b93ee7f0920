"""Background server processes of the local target: start detached, identify, stop.

A process is identified by its pid *and* its start time (from /proc), so a recycled pid
is never mistaken for our server. Each one runs under :mod:`serving.deploy.logpipe`, which
leads its process group and keeps its log size-bounded (rotated files).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from serving.config import PlatformSettings
from serving.deploy import logpipe
from serving.proc import (
    ProcessRef,
    is_running,
    no_interrupt,
    reap_in_background,
    start_ticks,
    stop,
    tail,
)

__all__ = [
    "ProcessRef",
    "is_running",
    "no_interrupt",
    "reap_in_background",
    "start_ticks",
    "stop",
    "tail",
]


def logged_argv(argv: Sequence[str], log_file: Path, settings: PlatformSettings) -> list[str]:
    """``argv`` run under the rotating log writer (``logpipe.py LOG MAX BACKUPS -- argv``)."""
    return [
        sys.executable,
        str(Path(logpipe.__file__).resolve()),
        str(log_file),
        str(settings.log_max_bytes),
        str(settings.log_backups),
        "--",
        *argv,
    ]


def start_detached(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_file: Path,
    settings: PlatformSettings | None = None,
) -> tuple[ProcessRef, subprocess.Popen[bytes]]:
    """Start ``argv`` in its own session (it outlives the CLI), its output in ``log_file``
    (rotated at ``SERVING_LOG_MAX_BYTES``, ``SERVING_LOG_BACKUPS`` files kept)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.touch()  # there at once, as the log of a process that has not written yet
    proc = subprocess.Popen(
        logged_argv(argv, log_file, settings or PlatformSettings.from_env()),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return ProcessRef(proc.pid, start_ticks(proc.pid)), proc


def failure_excerpt(
    path: Path, *, marker: str = "Traceback (most recent call last)", limit: int = 60
) -> str:
    """The end of a log from the start of its last failure report (a traceback and what
    the server printed after it), else its last 25 lines."""
    lines = tail(path, 400).splitlines()
    starts = [i for i, line in enumerate(lines) if marker in line]
    if not starts:
        return "\n".join(lines[-25:])
    first = starts[-1]
    # a chained exception ("direct cause") prints several tracebacks: keep the whole chain
    while first > 0 and any(marker in line for line in lines[max(0, first - 12) : first]):
        first = max(i for i in starts if i < first)
    start = max(0, first - 1)
    return "\n".join(lines[start : start + limit])

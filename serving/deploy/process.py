"""Background server processes of the local target: start detached, identify, stop.

A process is identified by its pid *and* its start time (from /proc), so a recycled pid
is never mistaken for our server. Each one runs under :mod:`serving.deploy.logpipe`, which
leads its process group and keeps its log size-bounded (rotated files).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from serving.config import PlatformSettings
from serving.deploy import logpipe


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    start_ticks: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {"pid": self.pid, "start_ticks": self.start_ticks}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ProcessRef | None:
        pid = data.get("pid")
        if not isinstance(pid, int):
            return None
        ticks = data.get("start_ticks")
        return cls(pid, ticks if isinstance(ticks, int) else None)


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces or ')': fields after the last ')' are fixed
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def is_running(ref: ProcessRef) -> bool:
    try:
        os.kill(ref.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if ref.start_ticks is not None and _start_ticks(ref.pid) != ref.start_ticks:
        return False
    state = Path(f"/proc/{ref.pid}/stat")
    try:
        return state.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


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
    return ProcessRef(proc.pid, _start_ticks(proc.pid)), proc


@contextmanager
def no_interrupt() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) in this thread while a process starts and is recorded:
    an interrupt then arrives after the record exists, never between the two."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def reap_in_background(proc: subprocess.Popen[bytes]) -> None:
    """Wait for a detached child on a daemon thread: no zombie when it exits while this
    process lives on (the SDK in a notebook), and no 'still running' warning at exit."""
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


def stop(ref: ProcessRef, *, grace_s: float = 30.0) -> None:
    """SIGTERM the process group (gunicorn finishes in-flight requests), then SIGKILL."""
    if not is_running(ref):
        return
    try:
        os.killpg(ref.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_running(ref):
            return
        time.sleep(0.05)
    try:
        os.killpg(ref.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5.0  # gone, and its ports free, before returning
    while is_running(ref) and time.monotonic() < deadline:
        time.sleep(0.05)


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    if not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        block = min(size, max(4096, lines * 400))
        fh.seek(size - block)
        data = fh.read().decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-lines:])


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

"""Run locust headless in a child process, bounded in time, reporting progress as it goes.

locust runs as a subprocess, never imported here: importing locust monkey-patches the whole
process for gevent, which would break the CLI and the SDK around it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from serving.httpclient import is_loopback
from serving.loadtest.errors import LoadTestError
from serving.loadtest.options import LoadShape
from serving.loadtest.report import ReportFiles
from serving.loadtest.target import Target
from serving.loadtest.timeline import TimelineTail, TimePoint

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
START_GRACE_S = 30.0
"""Seconds locust may take beyond the duration (start, write reports) before it is stopped."""
STOP_GRACE_S = 10.0
"""Seconds locust gets to write its reports after SIGINT before it is killed."""
POLL_S = 0.25

Progress = Callable[[TimePoint], None]


def locust_argv(
    target: Target, shape: LoadShape, files: ReportFiles, *, python: str | None = None
) -> list[str]:
    """The locust command line of a run (the key travels in the environment, not here)."""
    return [
        python or sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--users",
        str(shape.users),
        "--spawn-rate",
        str(shape.spawn_rate),
        "--run-time",
        f"{shape.duration_s}s",
        "--stop-timeout",
        "0",
        "--host",
        target.host,
        "--scoring-path",
        target.path,
        "--payload",
        str(files.payload),
        "--csv",
        str(files.csv_prefix),
        "--csv-full-history",
        "--html",
        str(files.html),
        "--summary-file",
        str(files.totals),
        "--timeline-file",
        str(files.timeline),
        "--exit-code-on-error",
        "0",
    ]


LOOPBACK_NO_PROXY = ("127.0.0.1", "localhost", "::1")


def locust_env(target: Target, base: dict[str, str]) -> dict[str, str]:
    """The child's environment: ``base`` plus the key (kept off the command line).

    For a loopback target, its host and the usual loopback names are added to
    ``NO_PROXY``/``no_proxy``, so a proxy configured for the user's other traffic
    (``HTTP_PROXY`` & co.) is not used for load meant for this machine.
    """
    env = {k: v for k, v in base.items() if not k.startswith(("LOCUST_", "SERVING_LOADTEST_"))}
    env["PYTHONUNBUFFERED"] = "1"
    if target.key:
        env["SERVING_LOADTEST_KEY"] = target.key
    if is_loopback(target.host):
        host = urlsplit(target.host).hostname or ""
        present = [
            item.strip()
            for key in ("NO_PROXY", "no_proxy")
            for item in env.get(key, "").split(",")
            if item.strip()
        ]
        merged = ",".join(dict.fromkeys([*present, *LOOPBACK_NO_PROXY, host]))
        env["NO_PROXY"] = env["no_proxy"] = merged
    return env


def run_locust(
    target: Target, shape: LoadShape, files: ReportFiles, progress: Progress | None = None
) -> None:
    """Run locust until it stops by itself (or is stopped after the grace time).

    Raises :class:`LoadTestError` with the tail of locust's log when it fails.
    """
    argv = locust_argv(target, shape, files)
    tail = TimelineTail(files.timeline)
    deadline = time.monotonic() + shape.duration_s + START_GRACE_S
    with files.log.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=locust_env(target, dict(os.environ)),
            cwd=files.folder,
            start_new_session=True,
        )
        try:
            overrun = _follow(proc, tail, deadline, progress)
        except BaseException:
            stop_locust(proc)
            raise
    for point in tail.new_points():
        if progress is not None:
            progress(point)
    if overrun:
        raise LoadTestError(
            f"locust did not stop within {START_GRACE_S:g} s after the duration; it was stopped",
            details=log_tail(files.log),
        )
    if proc.returncode != 0:
        raise LoadTestError(
            f"locust failed (exit code {proc.returncode})",
            details=log_tail(files.log),
            hint=f"see {files.log}",
        )


def _follow(
    proc: subprocess.Popen[bytes], tail: TimelineTail, deadline: float, progress: Progress | None
) -> bool:
    """Wait for ``proc``, passing on new points; True when it had to be stopped."""
    while proc.poll() is None:
        if time.monotonic() > deadline:
            stop_locust(proc)
            return True
        for point in tail.new_points():
            if progress is not None:
                progress(point)
        time.sleep(POLL_S)
    return False


def stop_locust(proc: subprocess.Popen[bytes]) -> bool:
    """SIGINT (locust then writes its reports), SIGKILL if it does not stop in time; True
    when it was still running (it had to be stopped)."""
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return True


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of locust's log (for error messages)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])

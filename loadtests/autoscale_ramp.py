"""Run the autoscaling ramp (``loadtests/ramp_locustfile.py``) against an endpoint, in a
locust child process bounded in time, and record each second the users, answers per
second and failures (locust's timeline) beside the endpoint's replica count (read as each
second's point arrives). Shared by tests/cluster/test_cluster_autoscale.py and
bench/autoscale_bench.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.ramp_shape import Ramp
from serving.loadtest.runner import locust_env, stop_locust
from serving.loadtest.target import Target
from serving.loadtest.timeline import TimelineTail

LOCUSTFILE = Path(__file__).with_name("ramp_locustfile.py")
ROOT = LOCUSTFILE.parent.parent
GRACE_S = 60.0
"""Seconds locust may run past the ramp (start-up, reports) before it is stopped."""


@dataclass(frozen=True)
class Second:
    """One second of the run."""

    t_s: float
    users: int
    replicas: int
    rps: float
    failures: int


@dataclass
class RampRun:
    seconds: list[Second] = field(default_factory=list)
    totals: dict[str, object] = field(default_factory=dict)
    """locust's final totals (``requests``, ``failures``, ``errors``, ``rps``...)."""
    stopped: bool = False
    """locust overran the ramp and was stopped."""

    @property
    def failures(self) -> int:
        return int(str(self.totals.get("failures", -1)))

    @property
    def requests(self) -> int:
        return int(str(self.totals.get("requests", 0)))

    def timeline(self) -> str:
        lines = [f"{'t (s)':>6} {'users':>5} {'replicas':>8} {'req/s':>7} {'failures':>8}"]
        lines += [
            f"{s.t_s:6.0f} {s.users:5d} {s.replicas:8d} {s.rps:7.1f} {s.failures:8d}"
            for s in self.seconds
        ]
        return "\n".join(lines)


def ramp_argv(host: str, payload: Path, folder: Path, ramp: Ramp) -> list[str]:
    """locust's command line (the key travels in the environment)."""
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--host", host, "--payload", str(payload),
        "--ramp-low", str(ramp.low), "--ramp-high", str(ramp.high),
        "--ramp-up-s", str(ramp.up_s), "--ramp-hold-s", str(ramp.hold_s),
        "--ramp-down-s", str(ramp.down_s), "--ramp-tail-s", str(ramp.tail_s),
        "--stop-timeout", "0", "--exit-code-on-error", "0",
        "--summary-file", str(folder / "totals.json"),
        "--timeline-file", str(folder / "timeline.jsonl"),
    ]  # fmt: skip


def run_ramp(
    uri: str,
    key: str | None,
    payload: Path,
    folder: Path,
    ramp: Ramp,
    replicas: Callable[[], int],
    progress: Callable[[Second], None] = lambda _s: None,
) -> RampRun:
    """POST ``payload`` to ``uri`` along ``ramp``; ``replicas()`` is read once a second."""
    parts = urlsplit(uri)
    host = f"{parts.scheme}://{parts.netloc}"
    target = Target(label=uri, host=host, path=parts.path or "/score", key=key)
    folder.mkdir(parents=True, exist_ok=True)
    env = locust_env(target, dict(os.environ))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = RampRun()
    tail = TimelineTail(folder / "timeline.jsonl")
    deadline = time.monotonic() + ramp.duration_s + GRACE_S
    with (folder / "locust.log").open("wb") as log:
        proc = subprocess.Popen(
            ramp_argv(host, payload, folder, ramp),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
            start_new_session=True,
        )
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                _take(tail, replicas, result, progress)
                time.sleep(0.25)
        finally:
            result.stopped = stop_locust(proc)
    _take(tail, replicas, result, progress)
    totals = folder / "totals.json"
    result.totals = json.loads(totals.read_text()) if totals.is_file() else {}
    return result


def _take(
    tail: TimelineTail,
    replicas: Callable[[], int],
    result: RampRun,
    progress: Callable[[Second], None],
) -> None:
    for point in tail.new_points():
        second = Second(point.t_s, point.users, replicas(), point.rps, point.failures)
        result.seconds.append(second)
        progress(second)

"""The per-second time series of a run: recorded inside locust, read back for progress and chart.

locust's own ``_stats_history.csv`` holds cumulative counts and percentiles over a sliding
10 s window that starts out empty; a short run needs what happened in each second, so the
locust file records it here (``--timeline-file``), one JSON line per interval.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True)
class TimePoint:
    """What happened in one interval (about a second) of a run."""

    t_s: float
    """Seconds since the test started, at the end of the interval."""
    users: int
    requests: int
    """Answers (good or failed) in the interval."""
    failures: int
    rps: float
    failures_per_s: float
    p50_ms: float | None
    """Latency percentiles of the interval's answers; None when there were none."""
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    total_requests: int
    total_failures: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimePoint:
        """Raises KeyError, TypeError or ValueError on a malformed point."""

        def ms(name: str) -> float | None:
            value = data.get(name)
            return None if value is None else float(value)

        return cls(
            t_s=float(data["t_s"]),
            users=int(data["users"]),
            requests=int(data["requests"]),
            failures=int(data["failures"]),
            rps=float(data["rps"]),
            failures_per_s=float(data["failures_per_s"]),
            p50_ms=ms("p50_ms"),
            p95_ms=ms("p95_ms"),
            p99_ms=ms("p99_ms"),
            max_ms=ms("max_ms"),
            total_requests=int(data["total_requests"]),
            total_failures=int(data["total_failures"]),
        )


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class IntervalRecorder:
    """Collects answer times and turns each interval into a :class:`TimePoint`."""

    def __init__(self, start: float) -> None:
        self._start = start
        self._last = start
        self._times: list[float] = []
        self._failures = 0
        self._users = 0
        self.total_requests = 0
        self.total_failures = 0

    def add(self, response_time_ms: float | None, failed: bool) -> None:
        """Count one answer (``response_time_ms`` None: not timed)."""
        if response_time_ms is not None:
            self._times.append(float(response_time_ms))
        self.total_requests += 1
        if failed:
            self._failures += 1
            self.total_failures += 1

    def open_s(self, now: float) -> float:
        """Seconds since the last flush."""
        return now - self._last

    def flush(self, now: float, users: int | None = None) -> TimePoint:
        """The interval since the last flush, and start a new one.

        ``users`` None keeps the last count (the final interval, after users were stopped).
        """
        users = self._users if users is None else users
        self._users = users
        times = sorted(self._times)
        span = max(now - self._last, 1e-6)
        requests = len(times)
        point = TimePoint(
            t_s=round(now - self._start, 3),
            users=users,
            requests=requests,
            failures=self._failures,
            rps=requests / span,
            failures_per_s=self._failures / span,
            p50_ms=percentile(times, 0.50) if times else None,
            p95_ms=percentile(times, 0.95) if times else None,
            p99_ms=percentile(times, 0.99) if times else None,
            max_ms=times[-1] if times else None,
            total_requests=self.total_requests,
            total_failures=self.total_failures,
        )
        self._times = []
        self._failures = 0
        self._last = now
        return point


def read_timeline(path: Path) -> list[TimePoint]:
    """All points in a timeline file (none when it does not exist)."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as file:
        return list(_points(file))


class TimelineTail:
    """Reads the points appended to a timeline file since the last call (while locust runs)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def new_points(self) -> list[TimePoint]:
        try:
            with self._path.open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for next time
        self._offset += len(complete)
        return list(_points(complete.decode("utf-8", "replace").splitlines()))


def _points(lines: IO[str] | list[str]) -> Iterator[TimePoint]:
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            yield TimePoint.from_dict(json.loads(line))
        except (KeyError, ValueError, TypeError):
            continue  # a damaged line loses one point, not the chart

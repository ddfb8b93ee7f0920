"""What a load test is asked to do: its shape (users, spawn rate, duration) and its SLOs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from serving.errors import UserInputError

MAX_DURATION_S = 3600
"""Runs are bounded: one hour at most."""
MAX_USERS = 10_000
MAX_SPAWN_RATE = 1_000
DEFAULT_MAX_ERROR_RATE = 0.01
"""Without ``--max-error-rate`` a run fails when more than 1 % of the requests fail."""

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?$")


def parse_duration(text: str | int | float) -> int:
    """Seconds in ``15s``, ``2m``, ``1m30s``, ``1h`` or plain seconds (``90``), 1 s to 1 h."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = int(text)
        if seconds != text:
            raise UserInputError(f"duration must be whole seconds, got {text}")
    else:
        match = _DURATION.match(str(text).strip().lower())
        if not match or not any(match.groupdict().values()):
            raise UserInputError(
                f"cannot read duration {text!r}", hint="use e.g. 30s, 2m, 1m30s or 45"
            )
        parts = {k: int(v or 0) for k, v in match.groupdict().items()}
        seconds = parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if seconds < 1:
        raise UserInputError("duration must be at least 1 s")
    if seconds > MAX_DURATION_S:
        raise UserInputError(f"duration {seconds} s is over the limit of {MAX_DURATION_S} s")
    return seconds


@dataclass(frozen=True)
class LoadShape:
    """How much load, and for how long."""

    users: int = 50
    """Concurrent simulated users (each sends its next request when the last one answers)."""
    spawn_rate: int = 10
    """Users started per second until ``users`` run."""
    duration_s: int = 30
    """Seconds of load, counted from the first user; then every user stops."""

    def __post_init__(self) -> None:
        _check_range("users", self.users, 1, MAX_USERS)
        _check_range("spawn rate", self.spawn_rate, 1, MAX_SPAWN_RATE)
        _check_range("duration", self.duration_s, 1, MAX_DURATION_S)


@dataclass(frozen=True)
class SLO:
    """Objectives a run must meet; ``None`` leaves one unchecked."""

    p99_ms: float | None = None
    """The 99th percentile latency must be at most this many milliseconds."""
    max_error_rate: float | None = DEFAULT_MAX_ERROR_RATE
    """The fraction of failed requests (0..1) must be at most this."""

    def __post_init__(self) -> None:
        if self.p99_ms is not None and not self.p99_ms > 0:
            raise UserInputError(f"p99 SLO must be a positive number of ms, got {self.p99_ms}")
        if self.max_error_rate is not None and not 0 <= self.max_error_rate <= 1:
            raise UserInputError(
                f"max error rate must be a fraction from 0 to 1, got {self.max_error_rate}",
                hint="e.g. 0.01 for 1 %",
            )


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UserInputError(f"{name} must be a whole number from {low} to {high}, got {value}")

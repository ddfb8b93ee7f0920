"""The autoscaling ramp's shape (users over time), free of locust: the locust file
(``ramp_locustfile.py``) follows it and its runner (``autoscale_ramp.py``) bounds the run by
it, without importing locust (which patches the whole process for gevent)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ramp:
    """Users over time: low, linear rise, hold, linear fall, tail; then stop."""

    low: int = 2
    high: int = 40
    up_s: float = 60.0
    hold_s: float = 10.0
    down_s: float = 5.0
    tail_s: float = 60.0

    @property
    def duration_s(self) -> float:
        return self.up_s + self.hold_s + self.down_s + self.tail_s

    def users_at(self, t: float) -> int | None:
        """Users wanted ``t`` seconds into the run; None once it is over."""
        if t < self.up_s:
            return round(self.low + (self.high - self.low) * t / self.up_s)
        t -= self.up_s
        if t < self.hold_s:
            return self.high
        t -= self.hold_s
        if t < self.down_s:
            return round(self.high - (self.high - self.low) * t / self.down_s)
        t -= self.down_s
        return self.low if t < self.tail_s else None

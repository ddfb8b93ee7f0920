"""Server-side downsampling of a metric series for charts.

Buckets of consecutive points, each kept as its minimum, maximum and last point (in their
original order): a chart of the result shows every spike the full series has, its global
minimum and maximum and its final value, in at most ``max_points`` points. Plain
largest-triangle or stride sampling was not used: both can drop the extreme a reader is
looking for. Written here because the rule is three lines over the run layer's
:func:`serving.runs.metrics.history`; no kept library does exactly this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Point = tuple[Any, Any, float]
"""(step, value, time) as :func:`serving.runs.metrics.history` gives them."""


def _ranked(value: Any, nan_as: float) -> Any:
    """NaN compares false with everything, so a bucket starting with one would keep it as
    both its min and max; it ranks last instead."""
    return nan_as if value != value else value


def downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    """At most ``max_points`` (>= 3) of ``points``, keeping each bucket's min, max, last."""
    if len(points) <= max_points:
        return list(points)
    buckets = max(1, max_points // 3)
    size = len(points) / buckets
    kept: list[Point] = []
    for b in range(buckets):
        lo, hi = int(b * size), min(len(points), int((b + 1) * size))
        if lo >= hi:
            continue
        chunk = range(lo, hi)
        low = min(chunk, key=lambda i: _ranked(points[i][1], math.inf))
        high = max(chunk, key=lambda i: _ranked(points[i][1], -math.inf))
        kept.extend(points[i] for i in sorted({low, high, hi - 1}))
    return kept


def _json(value: Any) -> Any:
    """NaN and infinities are not JSON: they travel as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def summary(points: Sequence[Point], max_points: int) -> dict[str, Any]:
    """One series as the API answers it: its count, min, max, last and the chart points
    (min and max over the finite values; null when there are none)."""
    finite = [p[1] for p in points if _json(p[1]) is not None]
    last = points[-1]
    return {
        "count": len(points),
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "last": {"step": last[0], "value": _json(last[1]), "time": last[2]},
        "points": [[p[0], _json(p[1]), p[2]] for p in downsample(points, max_points)],
    }

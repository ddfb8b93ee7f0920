"""The report's PNG chart: latency percentiles and throughput over time, failures marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serving.loadtest.timeline import TimePoint

_NAN = float("nan")


def _values(points: Sequence[TimePoint], name: str) -> list[float]:
    values: list[float] = []
    for point in points:
        value = getattr(point, name)
        values.append(_NAN if value is None else float(value))
    return values


def render_chart(
    points: Sequence[TimePoint], path: Path, *, title: str, slo_p99_ms: float | None = None
) -> Path:
    """Draw ``points`` into a PNG at ``path`` (two panels sharing the time axis)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    fig, (lat, thr) = plt.subplots(
        2, 1, figsize=(10, 7), sharex=True, height_ratios=(3, 2), layout="constrained"
    )
    try:
        t = [p.t_s for p in points]
        _latency_panel(lat, points, t, slo_p99_ms)
        _throughput_panel(thr, points, t)
        fig.suptitle(title, fontsize=11)
        if not points:
            lat.text(0.5, 0.5, "no data", ha="center", va="center", transform=lat.transAxes)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


def _latency_panel(
    ax: Any, points: Sequence[TimePoint], t: list[float], slo_p99_ms: float | None
) -> None:
    styles = (
        ("p50_ms", "p50", "tab:blue"),
        ("p95_ms", "p95", "tab:orange"),
        ("p99_ms", "p99", "tab:red"),
    )
    for name, label, color in styles:
        ax.plot(t, _values(points, name), marker=".", label=label, color=color)
    ax.plot(t, _values(points, "max_ms"), linestyle=":", color="tab:gray", label="max")
    if slo_p99_ms is not None:
        ax.axhline(
            slo_p99_ms,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label=f"p99 SLO {slo_p99_ms:g} ms",
        )
    previous = 0.0
    for point in points:  # shade each interval that had failures
        if point.failures:
            ax.axvspan(previous, point.t_s, color="tab:red", alpha=0.12, linewidth=0)
        previous = point.t_s
    ax.set_xlim(left=0)
    ax.set_ylabel("latency per second (ms)")
    _headroom(ax)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=5)


def _throughput_panel(ax: Any, points: Sequence[TimePoint], t: list[float]) -> None:
    ax.plot(t, _values(points, "rps"), marker=".", color="tab:green", label="requests/s")
    failed = [p for p in points if p.failures]
    ax.plot(t, _values(points, "failures_per_s"), color="tab:red", linewidth=1, label="failures/s")
    if failed:
        ax.scatter(
            [p.t_s for p in failed],
            [p.failures_per_s for p in failed],
            marker="x",
            color="tab:red",
            zorder=3,
            label="intervals with failures",
        )
    ax.set_ylabel("requests/s")
    ax.set_xlabel("seconds since start")
    _headroom(ax)
    ax.grid(True, alpha=0.3)
    users = ax.twinx()
    users.step(
        t,
        [p.users for p in points],
        where="post",
        color="tab:purple",
        alpha=0.5,
        linewidth=1,
        label="users",
    )
    users.set_ylabel("users")
    _headroom(users)
    handles, labels = ax.get_legend_handles_labels()
    extra_h, extra_l = users.get_legend_handles_labels()
    ax.legend(handles + extra_h, labels + extra_l, loc="upper left", fontsize=8, ncols=4)


def _headroom(ax: Any) -> None:
    """Start the y axis at 0 and leave the top quarter free for the legend."""
    _low, high = ax.get_ylim()
    ax.set_ylim(0, max(high, 1e-9) * 1.3)

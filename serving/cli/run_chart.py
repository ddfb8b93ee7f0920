"""`serving runs chart`: metric histories of one or several runs as a PNG, one panel per
metric and one line per run (matplotlib, imported lazily with the Agg backend)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from serving.errors import UserInputError

Points = Sequence[tuple[Any, float]]
MAX_PANELS = 16


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise UserInputError(
            "charts need matplotlib, which is not installed",
            hint="pip install 'serving[loadtest]'",
        ) from exc
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    return plt


def render_runs_chart(
    panels: Mapping[str, Mapping[str, Points]], path: Path, *, title: str
) -> Path:
    """Draw ``{metric: {run label: [(step, value)]}}`` into a PNG at ``path``."""
    if not panels:
        raise UserInputError("nothing to chart: the runs logged no numeric metrics")
    if len(panels) > MAX_PANELS:
        raise UserInputError(
            f"{len(panels)} metrics are too many for one chart (at most {MAX_PANELS})",
            hint="pick one with --metric",
        )
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    cols = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(6 * cols, 3.2 * rows + 0.6), squeeze=False, layout="constrained"
    )
    try:
        flat = [ax for row in axes for ax in row]
        for ax, (metric, runs) in zip(flat, panels.items(), strict=False):
            _panel(ax, metric, runs, MaxNLocator(integer=True))
        for ax in flat[len(panels) :]:
            ax.set_visible(False)
        fig.suptitle(title, fontsize=11)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path


def _panel(ax: Any, metric: str, runs: Mapping[str, Points], steps_locator: Any) -> None:
    for label, points in runs.items():
        steps = [step for step, _value in points]
        values = [value for _step, value in points]
        ax.plot(steps, values, marker="." if len(points) < 50 else None, label=label)
    ax.set_title(metric, fontsize=10)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(steps_locator)
    ax.grid(True, alpha=0.3)
    if len(runs) > 1:
        ax.legend(fontsize=8)

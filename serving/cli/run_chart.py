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


# -- sweeps --------------------------------------------------------------------------------
def render_sweep_chart(data: Mapping[str, Any], path: Path, *, title: str) -> Path:
    """A sweep (``sweep_views.sweep_chart_data``) as a PNG: on the left a parallel-coordinates
    chart, one axis per parameter and one for the best primary metric, one line per child
    coloured by that metric; on the right the primary metric of every child over its steps."""
    children = list(data["children"])
    if not any(c["history"] for c in children):
        raise UserInputError(f"nothing to chart: no child logged {data['metric']}")
    plt = _pyplot()
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(13, 4.8), layout="constrained", gridspec_kw={"width_ratios": [3, 2]}
    )
    try:
        _parallel(left, plt, list(data["parameters"]), str(data["metric"]), children)
        for child in children:
            if child["history"]:
                steps = range(1, len(child["history"]) + 1)
                style = "--" if child["status"] == "Canceled" else "-"
                right.plot(steps, child["history"], style, marker=".", label=child["label"])
        right.set_title(f"{data['metric']} per child (dashed: canceled)", fontsize=10)
        right.set_xlabel("interval (each logged value)")
        right.grid(True, alpha=0.3)
        if len(children) <= 20:
            right.legend(
                fontsize=7, title="child", title_fontsize=7, loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
            )  # fmt: skip
        fig.suptitle(title, fontsize=11)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path


def _axis(values: list[Any]) -> tuple[list[float | None], list[tuple[float, str]]]:
    """Values placed on a 0..1 axis, and the axis's tick labels: categories evenly spaced,
    numbers linearly between their min and max."""
    present = [v for v in values if v is not None and v != ""]
    if present and all(isinstance(v, (int, float)) for v in present):
        low, high = min(present), max(present)
        log = low > 0 and high / low >= 100  # learning rates and the like: a log axis
        scale = math.log10 if log else float
        span = (scale(high) - scale(low)) or 1.0
        placed = [None if v is None or v == "" else (scale(v) - scale(low)) / span for v in values]
        mid = 10 ** ((math.log10(low) + math.log10(high)) / 2) if log else (low + high) / 2
        return placed, [(0.0, f"{low:.4g}"), (0.5, f"{mid:.3g}"), (1.0, f"{high:.4g}")]
    categories = sorted({str(v) for v in present})
    spacing = max(len(categories) - 1, 1)
    where = {c: i / spacing for i, c in enumerate(categories)}
    placed = [None if v is None or v == "" else where[str(v)] for v in values]
    return placed, [(where[c], c) for c in categories]


def _parallel(ax: Any, plt: Any, names: list[str], metric: str, children: list[Any]) -> None:
    columns = [[c["parameters"].get(n) for c in children] for n in names]
    columns.append([c["best"] for c in children])
    axes = [_axis(col) for col in columns]
    bests = [c["best"] for c in children if c["best"] is not None]
    low, high = (min(bests), max(bests)) if bests else (0.0, 1.0)
    cmap = plt.get_cmap("viridis")
    for row, child in enumerate(children):
        ys = [placed[row] for placed, _ticks in axes]
        xs = [x for x, y in enumerate(ys) if y is not None]
        shade = 0.5 if child["best"] is None else (child["best"] - low) / ((high - low) or 1.0)
        color = "lightgrey" if child["best"] is None else cmap(shade)
        ax.plot(xs, [y for y in ys if y is not None], color=color, alpha=0.85, marker="o")
    for x, (_placed, ticks) in enumerate(axes):
        ax.axvline(x, color="black", linewidth=0.8)
        for y, label in ticks:
            ax.annotate(label, (x, y), xytext=(3, 0), textcoords="offset points", fontsize=7)
    ax.set_xticks(range(len(axes)), [*names, f"best {metric}"], fontsize=8)
    ax.set_yticks([])
    ax.set_title(f"parameters against {metric} (colour: best {metric})", fontsize=10)


def render_sweep_html(data: Mapping[str, Any], path: Path, *, title: str) -> Path:
    """The sweep chart as one self-contained HTML file (plotly, its JavaScript embedded: no
    CDN): parallel coordinates of parameters and best metric, and each child's curve."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as exc:
        raise UserInputError(
            "HTML charts need plotly, which is not installed", hint="pip install plotly"
        ) from exc
    children = [c for c in data["children"] if c["best"] is not None]
    if not children:
        raise UserInputError(f"nothing to chart: no child logged {data['metric']}")
    dimensions = [
        _plotly_dimension(n, [c["parameters"].get(n) for c in children]) for n in data["parameters"]
    ]
    best = [c["best"] for c in children]
    dimensions.append({"label": f"best {data['metric']}", "values": best})
    fig = make_subplots(
        rows=2, cols=1, specs=[[{"type": "domain"}], [{"type": "xy"}]], vertical_spacing=0.12
    )
    fig.add_trace(
        go.Parcoords(
            line={"color": best, "colorscale": "Viridis", "showscale": True}, dimensions=dimensions
        ),
        row=1,
        col=1,
    )
    for child in data["children"]:
        steps = list(range(1, len(child["history"]) + 1))
        dash = "dash" if child["status"] == "Canceled" else "solid"
        name = f"{child['label']} ({child['status']})"
        fig.add_trace(
            go.Scatter(x=steps, y=child["history"], name=name, line={"dash": dash}), row=2, col=1
        )
    fig.update_layout(title=title, height=900)
    fig.update_xaxes(title_text="interval (each logged value)", row=2, col=1)
    fig.update_yaxes(title_text=str(data["metric"]), row=2, col=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


def _plotly_dimension(name: str, values: list[Any]) -> dict[str, Any]:
    if all(isinstance(v, (int, float)) for v in values):
        return {"label": name, "values": values}
    categories = sorted({str(v) for v in values})
    where = {c: i for i, c in enumerate(categories)}
    return {
        "label": name,
        "values": [where[str(v)] for v in values],
        "tickvals": list(range(len(categories))),
        "ticktext": categories,
    }

"""The drift report's files: a self-contained HTML page (plotly, its JavaScript embedded
once, no CDN: reports are read on machines without internet) with the summary table and
each feature's baseline and collected distributions overlaid, and a PNG summary of the
effect sizes (matplotlib, Agg) for CI logs and tickets. Both are written through a
temporary file renamed into place, so a failed write never leaves half a report.
"""

from __future__ import annotations

import html
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from serving.errors import UserInputError
from serving.monitor.stats import NUMERIC, FeatureDrift, category_values, numeric_values

MAX_FEATURE_CHARTS = 100
"""Histograms in the HTML page: drifted features first, then by effect size."""
MAX_BARS = 40
"""Features in the PNG summary (the largest effects)."""
MAX_CATEGORIES = 30
BINS = 30


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name (not mkstemp, whose 0600 would stick): the report gets the umask's mode
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial{path.suffix}")
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _ranked(results: Sequence[FeatureDrift]) -> list[FeatureDrift]:
    """Tested features, drifted first, then by decreasing effect size."""
    tested = [r for r in results if r.effect is not None]
    return sorted(tested, key=lambda r: (not r.drifted, -(r.effect or 0.0), r.feature))


# -- HTML ------------------------------------------------------------------------------
def write_html(
    path: Path, title: str, facts: dict[str, Any], results: Sequence[FeatureDrift],
    baseline: Any, collected: Any,
) -> Path:  # fmt: skip
    """The HTML report at ``path``."""
    try:
        import plotly.graph_objects as go
        from plotly.offline import get_plotlyjs
    except ImportError as exc:
        raise UserInputError(
            "drift reports need plotly, which is not installed", hint="pip install plotly"
        ) from exc
    charts = []
    for result in _ranked(results)[:MAX_FEATURE_CHARTS]:
        fig = _feature_figure(go, result, baseline[result.feature], collected[result.feature])
        charts.append(fig.to_html(include_plotlyjs=False, full_html=False))
    page = _page(title, facts, results, charts, get_plotlyjs())
    return write_atomic(path, lambda tmp: _write_text(tmp, page))


def _feature_figure(go: Any, result: FeatureDrift, base_col: Any, cur_col: Any) -> Any:
    # plotly reads a few HTML tags in titles: a feature name is shown as written
    label = html.escape(result.feature)
    effect = f"{result.effect_measure} {result.effect:.3g}"
    title = f"{label}: {result.verdict} ({effect}, adjusted p={result.p_adjusted or 0.0:.3g})"
    fig = go.Figure()
    if result.kind == NUMERIC:
        import numpy as np

        base, cur = numeric_values(base_col), numeric_values(cur_col)
        edges = np.histogram_bin_edges(np.concatenate([base, cur]), bins=BINS)
        centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        for name, values in (("baseline", base), ("collected", cur)):
            # binned here, not by plotly: the page holds 30 bars, not every value
            shares = np.histogram(values, bins=edges)[0] / max(len(values), 1)
            fig.add_trace(go.Bar(x=centers.tolist(), y=shares.tolist(), width=widths.tolist(),
                                 name=name, opacity=0.6))  # fmt: skip
        fig.update_layout(barmode="overlay")
    else:
        base_shares = category_values(base_col).value_counts(normalize=True)
        cur_shares = category_values(cur_col).value_counts(normalize=True)
        top = (base_shares.add(cur_shares, fill_value=0)).nlargest(MAX_CATEGORIES).index
        for name, shares in (("baseline", base_shares), ("collected", cur_shares)):
            fig.add_trace(go.Bar(x=list(top), y=[float(shares.get(c, 0.0)) for c in top],
                                 name=name, opacity=0.8))  # fmt: skip
        fig.update_layout(barmode="group")
    fig.update_layout(title=title, height=320, yaxis_title="share", margin={"t": 50, "b": 30})
    return fig


def _page(
    title: str, facts: dict[str, Any], results: Sequence[FeatureDrift], charts: list[str],
    plotly_js: str,
) -> str:  # fmt: skip
    esc = html.escape
    fact_rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>"
                        for k, v in facts.items())  # fmt: skip
    head = ("feature", "kind", "test", "statistic", "p-value", "adjusted p", "effect", "measure",
            "verdict")  # fmt: skip
    rows = []
    for r in results:
        cells = (r.feature, r.kind, r.test, _num(r.statistic), _num(r.p_value), _num(r.p_adjusted),
                 _num(r.effect),
                 r.effect_measure, r.verdict)  # fmt: skip
        cls = ' class="drift"' if r.drifted else ""
        rows.append(
            f"<tr{cls}>" + "".join(f"<td>{esc(str(c or ''))}</td>" for c in cells) + "</tr>"
        )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd}}
tr.drift td{{background:#fde0dc;font-weight:bold}}</style>
<script type="text/javascript">{plotly_js}</script></head>
<body><h1>{esc(title)}</h1><table>{fact_rows}</table><h2>Features</h2>
<table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{"".join(rows)}</table>
<h2>Distributions</h2>{"".join(charts)}</body></html>
"""


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


# -- PNG -------------------------------------------------------------------------------
def write_png(path: Path, title: str, results: Sequence[FeatureDrift], min_effect: float) -> Path:
    """The summary PNG at ``path``: one bar per tested feature (its effect size), drifted
    ones red, the effect threshold as a dashed line."""
    try:
        import matplotlib
    except ImportError as exc:
        raise UserInputError(
            "drift summaries need matplotlib, which is not installed",
            hint="pip install matplotlib",
        ) from exc
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    shown = _ranked(results)[:MAX_BARS]
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.28 * max(len(shown), 1)), layout="constrained")
    try:
        labels = [r.feature[:40] for r in reversed(shown)]
        effects = [min(r.effect or 0.0, 1e6) for r in reversed(shown)]
        colors = ["#d62728" if r.drifted else "#1f77b4" for r in reversed(shown)]
        ax.barh(labels, effects, color=colors)
        ax.axvline(min_effect, color="black", linestyle="--", linewidth=1)
        ax.set_xlabel("effect size (numeric: Wasserstein / baseline std; categorical: TVD)")
        drifted = sum(r.drifted for r in results)
        more = len(_ranked(results)) - len(shown)
        note = f" (largest {len(shown)}; {more} more in the HTML)" if more > 0 else ""
        ax.set_title(f"{title}\n{drifted} drifted of {len(_ranked(results))} tested{note}",
                     fontsize=10)  # fmt: skip
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
    return path

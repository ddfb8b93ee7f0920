"""``drift_report``: an endpoint's collected inputs against a baseline, per feature, with
the HTML, PNG and JSON files written; the one function the CLI and the SDK call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving.errors import UserInputError
from serving.monitor import baseline as baselines
from serving.monitor import report
from serving.monitor.collected import Collected, Progress, read_collected
from serving.monitor.stats import (
    MISSING_BASELINE,
    MISSING_COLLECTED,
    FeatureDrift,
    Thresholds,
    compare_frames,
)
from serving.runs.datastores import model_data_folder
from serving.scoring.collection import layout
from serving.workspace import Workspace

HTML_NAME = "drift.html"
PNG_NAME = "drift.png"
JSON_NAME = "drift.json"


@dataclass
class DriftReport:
    """What was compared, each feature's result, and where the files went."""

    endpoint: str
    window: str
    since: datetime
    baseline: str
    limits: Thresholds
    baseline_rows: int
    collected: Collected
    features: list[FeatureDrift]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def _names(self, verdict: str) -> list[str]:
        return [f.feature for f in self.features if f.verdict == verdict]

    def facts(self) -> dict[str, Any]:
        """The report's header: what was compared with what."""
        c = self.collected
        return {
            "endpoint": self.endpoint,
            "window": self.window,
            "since": self.since.isoformat(timespec="seconds"),
            "baseline": self.baseline,
            "baseline_rows": self.baseline_rows,
            "collected_rows": len(c.frame),
            "collected_records": c.records,
            "skipped_records": c.skipped,
            "models": c.models,
            "first_record": c.first.isoformat(timespec="seconds") if c.first else None,
            "last_record": c.last.isoformat(timespec="seconds") if c.last else None,
            "alpha": self.limits.alpha,
            "min_effect": self.limits.min_effect,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.facts(),
            "drifted": self.drifted,
            "missing_in_collected": self._names(MISSING_COLLECTED),
            "missing_in_baseline": self._names(MISSING_BASELINE),
            "features": [f.to_dict() for f in self.features],
            "files": dict(self.files),
        }


def default_output(endpoint: str, now: datetime | None = None) -> Path:
    """``./drift-<endpoint>-<UTC time>/``: beside the user, not in the endpoint's folder
    (deleting or redeploying an endpoint removes that folder, and reports should outlive
    the endpoint they judged)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / f"drift-{layout.segment(endpoint, '_')}-{stamp}"


def drift_report(
    ws: Workspace,
    endpoint: str,
    baseline: str,
    *,
    window: str = "1d",
    output: Path | None = None,
    limits: Thresholds | None = None,
    progress: Progress | None = None,
    data_root: Path | None = None,
) -> DriftReport:
    """Compare ``endpoint``'s inputs collected in the last ``window`` with ``baseline``
    and write ``drift.html``, ``drift.png`` and ``drift.json`` to ``output``.
    ``data_root`` is the datastore folder the endpoint collects into (the default
    datastore's without it; the CLI passes the endpoint's recorded one)."""
    limits = limits or Thresholds()
    since = layout.parse_since(window)
    base = _named(baselines.load_baseline(ws, baseline))
    collected = read_collected(data_root or Path(model_data_folder(ws)), endpoint, since, progress)
    collected.frame = _named(collected.frame)
    common = [c for c in base.columns if c in set(collected.frame.columns)]
    if not common:
        raise UserInputError(
            f"no common features: the baseline has {_some(base.columns)}, the collected "
            f"inputs have {_some(collected.frame.columns)}",
            hint="pass feature_names to ModelDataCollector, or name the baseline's columns alike",
        )
    features = compare_frames(base, collected.frame, limits)
    result = DriftReport(endpoint, window, since, baseline, limits, len(base), collected, features)
    _write(result, output or default_output(endpoint), base)
    return result


def _named(frame: Any) -> Any:
    """Column names as strings; unnamed (numbered) columns become ``f0``, ``f1``... as the
    collector names them."""
    columns = list(frame.columns)
    if all(isinstance(c, int) for c in columns):
        frame.columns = [f"f{c}" for c in columns]
    else:
        frame.columns = [str(c) for c in columns]
    return frame


def _some(columns: Any, most: int = 6) -> str:
    names = [str(c) for c in columns]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _write(result: DriftReport, folder: Path, base: Any) -> None:
    title = (
        f"Data drift of endpoint {result.endpoint}: inputs since {result.since:%Y-%m-%d %H:%M} UTC"
    )
    paths = {"html": folder / HTML_NAME, "png": folder / PNG_NAME, "json": folder / JSON_NAME}
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"cannot create output folder {folder}: {exc.strerror}") from None
    report.write_html(paths["html"], title, result.facts(), result.features, base,
                      result.collected.frame)  # fmt: skip
    report.write_png(paths["png"], title, result.features, result.limits.min_effect)
    result.files = {k: str(v) for k, v in paths.items()}
    text = json.dumps(result.to_dict(), indent=2, sort_keys=True)
    report.write_atomic(paths["json"], lambda tmp: _write_text(tmp, text + "\n"))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")

"""What `serving runs ...` shows: a run's details, metric summaries (last, min, max, best),
comparison rows, live metric lines while a run streams, and the submit-side defaults
(where the script is, which experiment, which environment).

Plain functions over the run store and the metrics file; the click commands in
:mod:`serving.cli.runs` only print what these return.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from serving.catalog import resolve_env
from serving.cli.common import sanitize
from serving.cli.sweep_views import sweep_details
from serving.errors import NotFoundError
from serving.proc import tail
from serving.runs import artifacts, follow
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.errors import ActivityFailedException
from serving.runs.follow import LogTail
from serving.runs.records import RunRecord
from serving.runs.store import STD_LOG, RunStore
from serving.runs.sweeps.spec import KIND as SWEEP_KIND
from serving.workspace import Workspace

LOG_TAIL_LINES = 25
_LOWER_IS_BETTER = re.compile(r"loss|err|mse|mae|rmse|perplexity|cost|regret|time|latency")
"""Metric names whose best value is the smallest; every other metric is best at its largest."""


# -- submit-side defaults ------------------------------------------------------------------
def locate_script(script: Path, source_dir: Path | None) -> tuple[Path, str]:
    """(source folder, script path inside it): without ``source_dir`` the script's own
    folder; with one, SCRIPT is relative to it (or a path to a file inside it)."""
    if source_dir is None:
        path = script.resolve()
        return path.parent, path.name
    source = source_dir.resolve()
    if not script.is_absolute() and (source / script).is_file():
        return source, script.as_posix()
    candidate = script.resolve()
    if candidate.is_file() and candidate.is_relative_to(source):
        return source, candidate.relative_to(source).as_posix()
    return source, script.as_posix()  # submit's check names what is missing


def experiment_for(source: Path) -> str:
    """The source folder's name made a valid experiment name, or ``default``."""
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", source.name).lstrip("_-")[:255]
    return name or "default"


@dataclass(frozen=True)
class JobEnvironment:
    """What ScriptJob takes: the environment payload (None: user-managed) and interpreter."""

    environment: dict[str, Any] | None
    interpreter: str | None
    extra: dict[str, Any]


def job_environment(ws: Workspace, env: str | None, user_managed: bool) -> JobEnvironment:
    """``--env`` (a file or a registered NAME[:VERSION]) as the SDK builds it; no --env or
    ``--user-managed``: the current interpreter (the environment, if named, is not built)."""
    if env is None:
        return JobEnvironment(None, sys.executable, {})
    resolved = resolve_env(ws, env)
    name = resolved.record.name if resolved.record else resolved.spec.name
    version = resolved.record.version if resolved.record else None
    if user_managed:
        return JobEnvironment(None, sys.executable, {"environment_name": name})
    payload = {"name": name, "version": version, "spec": resolved.spec.to_dict()}
    return JobEnvironment(payload, None, {})


# -- values --------------------------------------------------------------------------------
def fmt(value: Any) -> str:
    """A metric value, short: floats to 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict) and "__float__" in value:
        return str(value["__float__"])
    return str(value)


def _numbers(values: list[Any]) -> list[float]:
    return [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def lower_is_better(name: str) -> bool:
    return bool(_LOWER_IS_BETTER.search(name.lower()))


@dataclass(frozen=True)
class MetricCells:
    """One metric of ``get_metrics()`` for a table: how many values, the last, min, max."""

    name: str
    count: int
    last: str
    low: str
    high: str

    @classmethod
    def of(cls, name: str, value: Any) -> MetricCells:
        if isinstance(value, dict):
            rows = max((len(v) if isinstance(v, list) else 1 for v in value.values()), default=0)
            cells = ", ".join(f"{k}={_short(v)}" for k, v in value.items())
            return cls(name, rows, "{" + cells + "}", "", "")
        values = value if isinstance(value, list) else [value]
        numbers = _numbers(values)
        low = fmt(min(numbers)) if numbers else ""
        high = fmt(max(numbers)) if numbers else ""
        return cls(name, len(values), fmt(values[-1]) if values else "", low, high)

    def summary(self) -> str:
        if self.count <= 1 or not self.low:
            return self.last
        return f"{self.last} ({self.count} values, min {self.low}, max {self.high})"


def _short(value: Any, keep: int = 3) -> str:
    if not isinstance(value, list):
        return fmt(value)
    if len(value) <= 2 * keep:
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    head = ", ".join(fmt(v) for v in value[:keep])
    return f"[{head}, ... {len(value) - keep} more]"


def metric_table(metrics: dict[str, Any]) -> list[MetricCells]:
    return [MetricCells.of(name, value) for name, value in metrics.items()]


# -- details -------------------------------------------------------------------------------
def duration_s(record: RunRecord) -> float | None:
    if not record.started_at:
        return None
    start = datetime.fromisoformat(record.started_at)
    end = datetime.fromisoformat(record.ended_at) if record.ended_at else datetime.now(UTC)
    return round((end - start).total_seconds(), 3)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} m" if hours else f"{minutes} m {secs} s"


def environment_text(definition: dict[str, Any]) -> str:
    env = definition.get("environment")
    if isinstance(env, dict):
        version = env.get("version")
        return f"{env.get('name')}:{version}" if version is not None else str(env.get("name"))
    named = definition.get("environment_name")
    interpreter = definition.get("interpreter") or "the submitter's interpreter"
    return f"user-managed ({interpreter})" + (f", environment {named}" if named else "")


def log_tail(store: RunStore, record: RunRecord) -> str:
    """The tail of the script's log the run's error recorded, else of its log file."""
    recorded = (record.error or {}).get("log_tail")
    if isinstance(recorded, str) and recorded:
        return recorded
    return tail(store.run_dir(record.id) / STD_LOG, LOG_TAIL_LINES)


def list_row(record: RunRecord) -> dict[str, Any]:
    seconds = duration_s(record)
    created = record.created_at[:19].replace("T", " ")
    return {
        **record.to_dict(),
        "duration_s": seconds,
        "duration": duration_text(seconds),
        "created": created,
    }


def run_details(store: RunStore, record: RunRecord) -> dict[str, Any]:
    """Everything `runs show` prints (JSON-ready; ``metrics`` in v1's shapes)."""
    definition = record.definition
    data = list_row(record)
    data.pop("definition")
    data.update(
        script=definition.get("script"),
        arguments=list(definition.get("arguments") or []),
        source_directory=definition.get("source_directory"),
        environment=environment_text(definition),
        metrics=m.read_metrics(store.metrics_file(record.id)),
        files=artifacts.names(store.run_dir(record.id)),
        children=[child.id for child in store.list(parent_id=record.id)],
    )
    if record.kind == SWEEP_KIND:
        data["sweep"] = sweep_details(store, record)
    if record.status in (rec.FAILED, rec.CANCELED):
        data["log_tail"] = log_tail(store, record)
    return data


_SHOW_ORDER = (
    "id", "display_name", "experiment", "status", "target", "created_at", "started_at",
    "ended_at", "duration", "script", "arguments", "source_directory", "environment",
    "snapshot_id", "parent_id", "tags", "properties", "metrics", "files", "children",
    "warnings", "error", "log_tail",
)  # fmt: skip
"""The keys `runs show` prints, in order (the error and its log tail last)."""


def details_text(data: dict[str, Any]) -> dict[str, Any]:
    """``run_details`` for the key/value view: lists one per line, metrics summarized."""
    view = dict(data)
    view["arguments"] = shlex.join(data["arguments"])
    view["metrics"] = "\n".join(
        f"{cells.name}: {cells.summary()}" for cells in metric_table(data["metrics"])
    )
    for key in ("files", "children", "warnings"):
        view[key] = "\n".join(data[key])
    if data.get("error"):
        view["error"] = f"{data['error'].get('code', '')}: {data['error'].get('message', '')}"
    return {k: view[k] for k in _SHOW_ORDER if view.get(k) not in (None, "", {}, [])}


def run_failed(record: RunRecord, *, streamed: bool) -> ActivityFailedException:
    """The one-line error for a run that ended Failed or Canceled (exit code 8); the log
    tail goes before it unless the log was just streamed."""
    error = dict(record.error or {})
    message = f"run {record.id} {record.status}: {error.get('message', 'no error recorded')}"
    lines = [line for line in str(error.get("log_tail") or "").splitlines() if line.strip()]
    if lines:
        message += f" (last log line: {lines[-1].strip()})"
    details = None if streamed or not lines else "\n".join(lines)
    return ActivityFailedException(error_details={"error": error}, message=message, details=details)


def download(store: RunStore, run_id: str, prefix: str | None, dest: Path) -> list[str]:
    """Copy the run's files (those starting with ``prefix``) under ``dest``, keeping their
    paths; a prefix that matches nothing fails with the list of files."""
    run_dir = store.run_dir(run_id)
    names = artifacts.names(run_dir)
    wanted = [n for n in names if prefix is None or n.startswith(prefix)]
    if prefix and not wanted:
        raise NotFoundError(
            f"run {run_id} has no file starting with {prefix!r}; it has: {', '.join(names)}"
        )
    for name in wanted:
        artifacts.write_atomic(dest / name, run_dir / name)
    return [str(dest / name) for name in wanted]


# -- comparing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """One numeric metric of one run: its values in order, the final and the best."""

    values: list[float]

    @property
    def final(self) -> float:
        return self.values[-1]

    def best(self, name: str) -> float:
        return min(self.values) if lower_is_better(name) else max(self.values)

    def to_dict(self, name: str) -> dict[str, Any]:
        return {
            "final": self.final,
            "best": self.best(name),
            "goal": "min" if lower_is_better(name) else "max",
            "count": len(self.values),
        }


def numeric_series(store: RunStore, run_id: str) -> dict[str, list[tuple[Any, float]]]:
    """(step, value) points of each numeric scalar metric of a run."""
    found = m.history(store.metrics_file(run_id))
    return {name: [(step, value) for step, value, _t in points] for name, points in found.items()}


SeriesOf = Callable[[str], dict[str, list[tuple[Any, float]]]]
"""A run id -> its numeric series (:func:`numeric_series` of a folder, or a server's)."""


def compare_rows(
    series_of: SeriesOf, records: list[RunRecord], metric: str | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """(metric names, one row per run with each metric's final/best and the arguments)."""
    names: list[str] = []
    rows: list[dict[str, Any]] = []
    for record in records:
        series = series_of(record.id)
        if metric is not None:
            series = {k: v for k, v in series.items() if k == metric}
        names += [name for name in series if name not in names]
        rows.append(
            {
                "id": record.id,
                "status": record.status,
                "arguments": list(record.definition.get("arguments") or []),
                "metrics": {
                    name: Series([v for _s, v in points]).to_dict(name)
                    for name, points in series.items()
                },
            }
        )
    return names, rows


def compare_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return ""
    text = fmt(entry["final"])
    if entry["count"] > 1 and entry["best"] != entry["final"]:
        text += f" (best {fmt(entry['best'])})"
    return text


# -- live metrics --------------------------------------------------------------------------
class MetricWatch:
    """New scalar values in a run's metrics file since the last call, as one line:
    ``metric loss=0.25 (step 3), accuracy=0.9``. Reads only what was appended."""

    def __init__(self, path: Path) -> None:
        self._tail = LogTail(path)

    def line(self) -> str | None:
        latest: dict[str, str] = {}
        for raw in self._tail.read().splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(record, dict) or "n" not in record:
                continue
            name, kind, value = str(record["n"]), record.get("k", m.SCALAR), record.get("v")
            if kind == m.SCALAR:
                step = record.get("s")
                latest[name] = f"{name}={fmt(value)}" + (
                    f" (step {step})" if step is not None else ""
                )
            elif kind == m.LIST and isinstance(value, list):
                latest[name] = f"{name}=[{len(value)} values]"
        return "metric " + ", ".join(latest.values()) if latest else None


def final_metrics_line(store: RunStore, run_id: str) -> str | None:
    """``Metrics: loss=0.25 (4 values, min ..., max ...), accuracy=0.9`` once a run ended."""
    cells = metric_table(m.read_metrics(store.metrics_file(run_id)))
    if not cells:
        return None
    return "Metrics: " + ", ".join(f"{c.name}={c.summary()}" for c in cells)


def follow_run(store: RunStore, run_id: str, stream: TextIO) -> RunRecord:
    """Stream the run's log and new metric values to ``stream`` until it ends."""
    watch = MetricWatch(store.metrics_file(run_id))

    def show_metrics(_record: RunRecord) -> None:
        line = watch.line()
        if line:
            stream.write(sanitize(line) + "\n")
            stream.flush()

    record = follow.wait(store, run_id, out=stream, on_poll=show_metrics)
    final = final_metrics_line(store, run_id)
    if final:
        stream.write(sanitize(final) + "\n")
        stream.flush()
    return record

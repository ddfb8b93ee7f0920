"""`serving runs ...` against a workspace server: the same commands, output and exit codes
as against a folder (:mod:`serving.cli.runs`), through
:class:`serving.hub.remote.runs.RemoteRunStore`. A submitted run executes on the server's
machine; its log is followed through the log route. A sweep shows its children table as
against a folder (:mod:`serving.cli.sweep_views`, the children's metrics from the route).

``runs compare`` and ``runs chart`` read each run's numeric series from the metrics route
(up to 100 000 points a series; past that the route downsamples, keeping each bucket's
minimum, maximum and last point, so finals and bests stay exact), and so does a sweep's
chart for its children.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from serving.cli import run_views as views
from serving.cli.common import (
    emit_list,
    emit_one,
    emit_or_say,
    err,
    is_json,
    print_json,
    sanitize,
)
from serving.errors import NotFoundError
from serving.hub.remote.runs import RemoteRunStore
from serving.hub.remote.workspace import RemoteWorkspace
from serving.runs import records as rec
from serving.runs.records import RunRecord
from serving.runs.store import STD_LOG, SYSTEM_LOG
from serving.runs.submit import ScriptJob
from serving.runs.sweeps.spec import KIND as SWEEP_KIND

POLL_S = 0.5


def submit(
    ws: RemoteWorkspace, job: ScriptJob, experiment: str, options: dict[str, Any], stream: TextIO
) -> RunRecord | None:
    """Send the job; the final record when followed (None with ``detach``)."""
    record = ws.runs.submit(
        experiment, job, display_name=options["display_name"], tags=options["tags"]
    )
    if options["detach"]:
        emit_or_say(record.to_dict(), record.id)
        return None
    watch = MetricWatch(ws.runs, record.id)

    def show_metrics(_record: RunRecord) -> None:
        line = watch.line()
        if line:
            stream.write(sanitize(line) + "\n")
            stream.flush()

    final = ws.runs.wait(record.id, out=stream, on_poll=show_metrics)
    line = final_metrics_line(ws.runs, record.id)
    if line:
        stream.write(line + "\n")
        stream.flush()
    return final


class MetricWatch:
    """New values of a run's numeric metrics since the last call, as one line (as
    :class:`serving.cli.run_views.MetricWatch`, from the metrics route's counts and last
    points: a poll asks for 3 points a series, whatever the run logged)."""

    def __init__(self, runs: RemoteRunStore, run_id: str) -> None:
        self.runs, self.run_id = runs, run_id
        self.seen: dict[str, int] = {}

    def line(self) -> str | None:
        found = self.runs.metrics(self.run_id, max_points=3)["series"]
        latest = []
        for name, series in found.items():
            if series["count"] > self.seen.get(name, 0):
                self.seen[name] = series["count"]
                last = series["last"]
                latest.append(f"{name}={views.fmt(last['value'])} (step {last['step']})")
        return "metric " + ", ".join(latest) if latest else None


def numeric_series(runs: RemoteRunStore, run_id: str) -> dict[str, list[tuple[Any, float]]]:
    """(step, value) points of each numeric metric of a server's run."""
    found = runs.metrics(run_id)["series"]
    return {name: [(p[0], p[1]) for p in s["points"]] for name, s in found.items()}


def final_metrics_line(runs: RemoteRunStore, run_id: str) -> str | None:
    cells = views.metric_table(runs.get_metrics(run_id))
    if not cells:
        return None
    return "Metrics: " + ", ".join(f"{c.name}={c.summary()}" for c in cells)


def list_runs(
    runs: RemoteRunStore, experiment: str | None, status: str | None, limit: int | None
) -> list[dict[str, Any]]:
    if experiment is not None and experiment not in {e["name"] for e in runs.experiments()}:
        raise NotFoundError(f"experiment {experiment} not found")
    found = runs.list(experiment=experiment, status=status, limit=limit)
    return [views.list_row(r) for r in found]


def details(runs: RemoteRunStore, record: RunRecord) -> dict[str, Any]:
    """What `runs show` prints, as :func:`serving.cli.run_views.run_details` does."""
    run_id = record.id
    definition = record.definition
    data = views.list_row(record)
    data.pop("definition")
    data.update(
        script=definition.get("script"),
        arguments=list(definition.get("arguments") or []),
        source_directory=definition.get("source_directory"),
        environment=views.environment_text(definition),
        metrics=runs.get_metrics(run_id),
        files=runs.file_names(run_id),
        children=runs.children(run_id),
    )
    if record.status in (rec.FAILED, rec.CANCELED):
        recorded = (record.error or {}).get("log_tail")
        data["log_tail"] = recorded or _tail_text(runs, run_id)
    return data


def _tail_text(runs: RemoteRunStore, run_id: str, lines: int = views.LOG_TAIL_LINES) -> str:
    size = runs.log(run_id, 0)["size"]
    text = str(runs.log(run_id, max(0, size - 64 * 1024))["text"])
    return "\n".join(text.splitlines()[-lines:])


def logs(runs: RemoteRunStore, run_id: str, follow_log: bool, system: bool, stream: TextIO) -> None:
    which, name = ("system", SYSTEM_LOG) if system else ("user", STD_LOG)
    record = runs.get(run_id)
    if follow_log:
        record = _tail_system(runs, record, stream) if system else runs.wait(run_id, out=stream)
        if is_json():
            print_json(record.to_dict())
        return
    text, _end = runs.read_log(run_id, 0, which)
    if is_json():
        print_json({"id": run_id, "name": name, "status": record.status, "log": text})
    elif text:
        sys.stdout.write(text)
    else:
        err.print(f"(no {name} yet)")


def _tail_system(runs: RemoteRunStore, record: RunRecord, stream: TextIO) -> RunRecord:
    offset = 0
    while True:
        text, offset = runs.read_log(record.id, offset, "system")
        stream.write(text)
        stream.flush()
        if record.terminal:
            text, offset = runs.read_log(record.id, offset, "system")
            stream.write(text)
            return record
        time.sleep(POLL_S)
        record = runs.get(record.id)


def metrics(runs: RemoteRunStore, run_id: str, name: str | None) -> dict[str, Any]:
    values = runs.get_metrics(run_id, name)
    if name is not None and not values:
        raise NotFoundError(f"run {run_id} has no metric {name}")
    return values


def cancel(runs: RemoteRunStore, run_id: str) -> None:
    record = runs.get(run_id)
    if record.terminal:
        emit_or_say(
            {"id": run_id, "status": record.status}, f"run {run_id} already {record.status}"
        )
        return
    status = runs.cancel(run_id).status
    emit_or_say({"id": run_id, "status": status}, f"run {run_id} {status}")


def download(runs: RemoteRunStore, run_id: str, prefix: str | None, dest: Path) -> list[str]:
    names = runs.file_names(run_id)
    wanted = [n for n in names if prefix is None or n.startswith(prefix)]
    if prefix and not wanted:
        raise NotFoundError(
            f"run {run_id} has no file starting with {prefix!r}; it has: {', '.join(names)}"
        )
    for name in wanted:
        runs.download(run_id, name, dest / name)
    return [str(dest / name) for name in wanted]


def register(runs: RemoteRunStore, run_id: str, options: dict[str, Any]) -> None:
    found = runs.register_model(run_id, **options)
    emit_or_say(found, f"{found['name']}:{found['version']}")


def show_experiments(runs: RemoteRunStore, columns: list[tuple[str, str]]) -> None:
    emit_list(runs.experiments(), columns)


def show(runs: RemoteRunStore, run_id: str, watch: bool = False) -> None:
    """As a folder's `runs show`: a sweep's settings, best child and children table too."""
    from serving.cli.sweep_views import print_sweep, sweep_details

    record = runs.get(run_id)
    data = details(runs, record)
    if record.kind == SWEEP_KIND:
        data["sweep"] = sweep_details(runs, record)
    emit_one(data if is_json() else views.details_text(data))
    if "sweep" in data and not is_json():
        print_sweep(runs, record, watch=watch)

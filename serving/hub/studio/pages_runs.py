"""Studio pages of experiments and runs: the experiments list, one experiment's runs
table (sorted, paged, metric columns), a run (with its sweep or pipeline view), cancel.

Metric columns read ``run_metric_summary``; runs of the page lacking a summary (ended
before it existed) or still running get theirs computed here, at most
:data:`REFRESH_PER_PAGE` runs and :data:`REFRESH_BYTES` of metrics files per page view,
so a page's work stays bounded.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from serving.hub import paging
from serving.hub.context import hub
from serving.hub.studio import guard, runtable
from serving.hub.studio.pipeline_graph import layout
from serving.runs import artifacts, control, summary
from serving.runs.pipelines import spec as pipeline_spec
from serving.runs.records import RunRecord
from serving.runs.store import STD_LOG
from serving.runs.sweeps import results
from serving.runs.sweeps.spec import KIND as SWEEP_KIND

bp = Blueprint("runs", __name__)

PAGE_SIZE = 50
REFRESH_PER_PAGE = 20
REFRESH_BYTES = 16 * 1024 * 1024
"""Metrics bytes a page view may read to fill summaries (a 100 000-point file is ~6 MiB)."""
MAX_METRIC_COLUMNS = 6
LOG_TAIL_BYTES = 64 * 1024
MAX_FILES = 500
MAX_CHILDREN = 500
"""Child runs listed on a run's page (the newest; a sweep's table shows all)."""
CANCEL_WAIT_S = 5.0


@bp.get("/experiments")
def experiments() -> str:
    return render_template("studio/experiments.html", experiments=hub().runs.experiments())


def _duration(record: RunRecord) -> float | None:
    if not record.started_at or not record.ended_at:
        return None
    start, end = datetime.fromisoformat(record.started_at), datetime.fromisoformat(record.ended_at)
    return (end - start).total_seconds()


@bp.get("/experiments/<name>")
def experiment(name: str) -> str:
    store = hub().runs
    with store.db.read() as conn:
        store.experiment_id(conn, name, create=False)  # NotFound for an unknown one
    sort = runtable.Sort.parse(request.args.get("sort"), request.args.get("dir"))
    limit = paging.int_arg(request.args, "limit", PAGE_SIZE, 1, 500)
    ids, next_token = runtable.page(store.db, name, sort, request.args.get("after"), limit)
    records = store.get_many(ids)
    pairs = [(r.id, r.terminal) for r in records]
    stale = summary.stale(store.db, pairs, REFRESH_PER_PAGE)
    summary.refresh_within(store.db, [(i, store.metrics_file(i)) for i in stale], REFRESH_BYTES)
    names = summary.names_in_experiment(store.db, name)
    chosen = [n for n in request.args.getlist("metric") if n in names]
    shown = chosen or names[:MAX_METRIC_COLUMNS]
    if sort.metric and sort.metric not in shown:
        shown.append(sort.metric)
    values = summary.lasts(store.db, ids, shown)
    rows = [{"run": r, "duration": _duration(r), "metrics": values.get(r.id, {})} for r in records]
    return render_template(
        "studio/experiment.html",
        name=name,
        rows=rows,
        metrics=shown,
        all_metrics=names,
        sort=sort,
        next_token=next_token,
        first_page=not request.args.get("after"),
        keep={"metric": chosen, "limit": request.args.get("limit") or None},
    )


def _files(record: RunRecord) -> tuple[list[dict[str, Any]], int]:
    """The first :data:`MAX_FILES` files of the run (name, size) and how many it has
    (:func:`artifacts.names` lists regular files only, never a symbolic link)."""
    folder = hub().runs.run_dir(record.id)
    names = artifacts.names(folder)
    out = []
    for name in names[:MAX_FILES]:
        with contextlib.suppress(OSError):  # removed since it was listed
            out.append({"name": name, "size": (folder / name).stat().st_size})
    return out, len(names)


def _log_start(record: RunRecord) -> int:
    """Where the page's log tail starts: the first whole line of the last
    :data:`LOG_TAIL_BYTES` (never in the middle of a line or of a character)."""
    path = hub().runs.run_dir(record.id) / STD_LOG
    try:
        size = path.stat().st_size
        if size <= LOG_TAIL_BYTES:
            return 0
        with path.open("rb") as fh:
            fh.seek(size - LOG_TAIL_BYTES)
            tail = fh.read(LOG_TAIL_BYTES)
    except OSError:
        return 0
    newline = tail.find(b"\n")
    return size - LOG_TAIL_BYTES + (newline + 1 if newline >= 0 else 0)


@bp.get("/runs/<run_id>")
def run(run_id: str) -> str:
    store = hub().runs
    record = store.find(run_id)
    files, file_count = _files(record)
    pipeline, children = None, []
    if record.kind == pipeline_spec.PIPELINE_KIND:  # its steps are its children: one read
        steps = store.list(parent_id=run_id, oldest_first=True)
        pipeline, children = _pipeline(record, steps), steps[::-1][: MAX_CHILDREN + 1]
    elif record.kind != SWEEP_KIND:  # a sweep's own table lists its children
        children = store.list(parent_id=run_id, limit=MAX_CHILDREN + 1)
    context: dict[str, Any] = {
        "run": record,
        "duration": _duration(record),
        "files": files,
        "models": hub().ws.models.list(run_id=run_id),
        "file_count": file_count,
        "log_start": _log_start(record),
        "children": children,
        "max_children": MAX_CHILDREN,
        "sweep": _sweep(record) if record.kind == SWEEP_KIND else None,
        "pipeline": pipeline,
    }
    return render_template("studio/run.html", **context)


def _sweep(parent: RunRecord) -> dict[str, Any]:
    """The children table (also the parallel-coordinates chart's data) and the best child."""
    store = hub().runs
    spec = results.sweep_definition(parent)
    goal = str(spec.get("primary_metric_goal", "MAXIMIZE"))
    children = results.children(store, parent)
    rows = results.table_rows(children)
    best_id = results.best_from_table(store, parent.id)
    if best_id is None:
        best = results.best_child(children, goal)
        best_id = best.id if best is not None else None
    return {
        "metric": spec.get("primary_metric_name", ""),
        "goal": goal,
        "names": sorted({k for row in rows for k in row["parameters"]}),
        "rows": rows,
        "best": best_id,
    }


def _pipeline(record: RunRecord, children: list[RunRecord]) -> dict[str, Any]:
    """The graph of the pipeline's steps; ``children``: its child runs, oldest first."""
    spec = pipeline_spec.PipelineSpec.from_dict(record.definition["pipeline"])
    steps: dict[str, RunRecord] = {}
    for child in children:
        steps[str(child.properties.get(pipeline_spec.STEP_NAME) or child.display_name)] = child
    return {"graph": layout(spec, steps), "steps": steps}


@bp.post("/runs/<run_id>/cancel")
def cancel(run_id: str) -> Response:
    store = hub().runs
    store.get(run_id)
    guard.require_write(f"cancel run {run_id}")
    control.cancel(store, run_id, wait_s=CANCEL_WAIT_S)
    return redirect(url_for("studio.runs.run", run_id=run_id))

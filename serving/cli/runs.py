"""`serving runs ...` and `serving experiments ...`: submit training scripts, follow them,
and look at what they left (logs, metrics, files, charts, registered models).

``runs submit`` streams the run's log in v1's format (on stderr with ``-o json``, where
stdout gets the final run record) with a ``metric ...`` line whenever new values arrive;
it exits 0 for Completed and 8 for Failed or Canceled. Ctrl-C stops following only: the
run belongs to its supervisor and goes on.

With ``--workspace``/``SERVING_WORKSPACE`` a server URL every command works the same
through the server's API (:mod:`serving.cli.runs_remote`); a
submitted run then executes on the server's machine.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from serving.cli import run_views as views
from serving.cli import runs_remote as remote
from serving.cli.common import (
    any_workspace,
    emit_list,
    emit_one,
    emit_or_say,
    err,
    is_json,
    print_json,
    print_table,
    shows,
    workspace,
)
from serving.cli.sweep_views import print_sweep, sweep_chart_data
from serving.errors import NotFoundError
from serving.hub.remote.runs import RemoteRunStore
from serving.hub.remote.workspace import RemoteWorkspace
from serving.registry.names import parse_pairs
from serving.runs import follow
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.control import cancel as cancel_run
from serving.runs.records import RunRecord
from serving.runs.registration import register_from_run
from serving.runs.store import STD_LOG, SYSTEM_LOG, RunStore
from serving.runs.submit import MAX_RETRIES, ScriptJob
from serving.runs.submit import submit as submit_job
from serving.runs.sweeps.spec import KIND as SWEEP_KIND

LIST_COLUMNS = [
    ("id", "RUN"),
    ("experiment", "EXPERIMENT"),
    ("status", "STATUS"),
    ("target", "TARGET"),
    ("created", "CREATED (UTC)"),
    ("duration", "DURATION"),
]
EXPERIMENT_COLUMNS = [
    ("name", "EXPERIMENT"),
    ("runs", "RUNS"),
    ("last_run", "LAST RUN"),
    ("created_at", "CREATED"),
    ("tags", "TAGS"),
]


def _store() -> RunStore:
    ws = workspace()
    return RunStore(ws.path, ws.db)


def _remote() -> RemoteRunStore | None:
    """The server's runs when the workspace is a URL, else None (a folder)."""
    ws = any_workspace()
    return ws.runs if isinstance(ws, RemoteWorkspace) else None


def _stream() -> TextIO:
    """Where a followed log goes: stdout, or stderr when stdout carries JSON."""
    return sys.stderr if is_json() else sys.stdout


@click.group("runs")
def runs() -> None:
    """Submit training scripts as runs and inspect them (logs, metrics, files, models)."""


@click.group("experiments")
def experiments() -> None:
    """Experiments: named groups of runs."""


@experiments.command("list")
@shows
def list_experiments() -> None:
    """List experiments with their number of runs."""
    runs_there = _remote()
    if runs_there is not None:
        remote.show_experiments(runs_there, EXPERIMENT_COLUMNS)
        return
    emit_list(_store().experiments(), EXPERIMENT_COLUMNS)


# -- submit --------------------------------------------------------------------------------
@runs.command("submit")
@click.argument("script", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--experiment", "-e", help="Experiment (default: the source folder's name).")
@click.option("--compute", default="local", show_default=True, help="Compute target name.")
@click.option("--env", metavar="FILE|NAME[:VERSION]", help="Conda/pip file or registered env.")
@click.option("--user-managed", is_flag=True, help="Run in this interpreter, install nothing.")
@click.option(
    "--source-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder snapshotted with the script (default: the script's folder).",
)
@click.option("--detach", "-d", is_flag=True, help="Print the run id and return at once.")
@click.option("--display-name", help="A name shown instead of the run id.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Tag (repeatable).")
@click.option(
    "--max-retries",
    type=click.IntRange(0, MAX_RETRIES),
    default=0,
    help="Ray compute: submit again when the node is lost (not when the script fails).",
)
@shows
def submit(
    script: Path,
    args: tuple[str, ...],
    experiment: str | None,
    compute: str,
    env: str | None,
    user_managed: bool,
    source_dir: Path | None,
    detach: bool,
    display_name: str | None,
    tags: tuple[str, ...],
    max_retries: int,
) -> None:
    """Submit SCRIPT as a new run and stream its log.

    SCRIPT is relative to --source-dir (default: its own folder); arguments after `--`
    go to it.

    Without --env the script runs in this interpreter (user-managed). The log and new
    metric values stream until the run ends; exit code 0 for Completed, 8 for Failed or
    Canceled. Ctrl-C stops following and leaves the run running.
    """
    ws = any_workspace()
    source, script_name = views.locate_script(script, source_dir)
    environment = views.job_environment(ws, env, user_managed)  # type: ignore[arg-type]
    job = ScriptJob(
        source_directory=source,
        script=script_name,
        arguments=list(args),
        environment=environment.environment,
        interpreter=environment.interpreter,
        compute=compute,
        max_retries=max_retries,
        extra=environment.extra,
    )
    if isinstance(ws, RemoteWorkspace):
        options = {"display_name": display_name, "tags": parse_pairs(tags, "tag"), "detach": detach}
        found = remote.submit(
            ws, job, experiment or views.experiment_for(source), options, _stream()
        )
        if found is not None:
            _end_of_follow(found)
        return
    store = RunStore(ws.path, ws.db)
    record = submit_job(
        store,
        experiment or views.experiment_for(source),
        job,
        display_name=display_name,
        tags=parse_pairs(tags, "tag"),
    )
    if detach:
        emit_or_say(record.to_dict(), record.id)
        return
    _end_of_follow(views.follow_run(store, record.id, _stream()))


def _end_of_follow(final: RunRecord) -> None:
    if is_json():
        print_json(final.to_dict())
    if final.status != rec.COMPLETED:
        raise views.run_failed(final, streamed=True)


def _no_metric(metric: str, run_ids: tuple[str, ...]) -> NotFoundError:
    which = f"run {run_ids[0]}" if len(run_ids) == 1 else f"runs {', '.join(run_ids)}"
    return NotFoundError(f"no numeric metric {metric} in {which}")


# -- looking at runs -----------------------------------------------------------------------
@runs.command("list")
@click.option("--experiment", "-e", help="Only runs of this experiment.")
@click.option("--status", type=click.Choice(rec.STATUSES, case_sensitive=False), help="Only these.")
@click.option("--limit", "-n", type=click.IntRange(min=1), help="At most N runs (newest first).")
@shows
def list_runs(experiment: str | None, status: str | None, limit: int | None) -> None:
    """List runs, newest first."""
    wanted = next((s for s in rec.STATUSES if status and s.lower() == status.lower()), None)
    runs_there = _remote()
    if runs_there is not None:
        emit_list(remote.list_runs(runs_there, experiment, wanted, limit), LIST_COLUMNS)
        return
    store = _store()
    if experiment is not None and experiment not in {e["name"] for e in store.experiments()}:
        raise NotFoundError(f"experiment {experiment} not found")
    found = store.list(experiment=experiment, status=wanted, top_level=True, limit=limit)
    emit_list([views.list_row(r) for r in found], LIST_COLUMNS)


@runs.command("show")
@click.argument("run_id", metavar="RUN")
@click.option("--watch", is_flag=True, help="A sweep: reprint its table until it ends.")
@shows
def show(run_id: str, watch: bool) -> None:
    """Show a run's details.

    Status, times, script and arguments, environment, metrics, files, and for a failed
    run its error with the tail of its log. For a sweep (HyperDrive parent) also the table
    of its children: status, parameters, best primary metric, the policy that stopped it;
    with --watch the table is printed again whenever it changes, until the sweep ends."""
    runs_there = _remote()
    if runs_there is not None:
        remote.show(runs_there, run_id, watch)
        return
    store = _store()
    record = store.find(run_id)
    data = views.run_details(store, record)
    if is_json():
        emit_one(data)
        return
    emit_one(views.details_text(data))
    if "sweep" in data:
        print_sweep(store, record, watch=watch)


@runs.command("logs")
@click.argument("run_id", metavar="RUN")
@click.option("--follow", "-f", "follow_log", is_flag=True, help="Stream until the run ends.")
@click.option("--system", is_flag=True, help="The supervisor's log instead of the script's.")
@shows
def logs(run_id: str, follow_log: bool, system: bool) -> None:
    """Print a run's log.

    The script's stdout and stderr or, with --system, the supervisor's log."""
    runs_there = _remote()
    if runs_there is not None:
        remote.logs(runs_there, run_id, follow_log, system, _stream())
        return
    store = _store()
    record = store.find(run_id)
    name = SYSTEM_LOG if system else STD_LOG
    if follow_log:
        if system:
            record = _tail_until_end(store, record, follow.LogTail(store.run_dir(run_id) / name))
        else:
            record = follow.wait(store, run_id, out=_stream())
        if is_json():
            print_json(record.to_dict())
        return
    log = follow.LogTail(store.run_dir(run_id) / name)
    text = log.rest()
    if is_json():
        print_json({"id": run_id, "name": name, "status": record.status, "log": text})
    elif text:
        sys.stdout.write(text)
    else:
        err.print(f"(no {name} yet)")


def _tail_until_end(store: RunStore, record: RunRecord, log: follow.LogTail) -> RunRecord:
    stream = _stream()
    while True:
        stream.write(log.read())
        stream.flush()
        if record.terminal:
            stream.write(log.rest())
            return record
        time.sleep(follow.POLL_S)
        record = store.find(record.id)


@runs.command("metrics")
@click.argument("run_id", metavar="RUN")
@click.option("--name", "-n", help="Only this metric.")
@shows
def metrics(run_id: str, name: str | None) -> None:
    """Show a run's metrics.

    With -o json exactly what run.get_metrics() returns."""
    runs_there = _remote()
    if runs_there is not None:
        values = remote.metrics(runs_there, run_id, name)
    else:
        store = _store()
        store.get(run_id)
        values = m.read_metrics(store.metrics_file(run_id), name)
    if name is not None and not values:
        raise NotFoundError(f"run {run_id} has no metric {name}")
    if is_json():
        print_json(values)
        return
    if not values:
        err.print("(no metrics)")
        return
    print_table(
        ["METRIC", "COUNT", "LAST", "MIN", "MAX"],
        ([c.name, c.count, c.last, c.low, c.high] for c in views.metric_table(values)),
        justify=("left", "right", "right", "right", "right"),
    )


@runs.command("cancel")
@click.argument("run_id", metavar="RUN")
@shows
def cancel(run_id: str) -> None:
    """Cancel a run.

    Its script (process tree or container) is ended and the run is Canceled."""
    runs_there = _remote()
    if runs_there is not None:
        remote.cancel(runs_there, run_id)
        return
    store = _store()
    record = store.find(run_id)
    if record.terminal:
        emit_or_say(
            {"id": run_id, "status": record.status}, f"run {run_id} already {record.status}"
        )
        return
    status = cancel_run(store, run_id)
    emit_or_say({"id": run_id, "status": status}, f"run {run_id} {status}")


@runs.command("download")
@click.argument("run_id", metavar="RUN")
@click.option("--prefix", "-p", help="Only files whose name starts with P (e.g. outputs/).")
@click.option(
    "--output-dir",
    "-d",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write into (default: ./RUN).",
)
@shows
def download(run_id: str, prefix: str | None, output_dir: Path | None) -> None:
    """Download a run's files.

    Outputs, logs and uploads are copied into the folder, keeping their paths."""
    dest = output_dir or Path(run_id)
    runs_there = _remote()
    if runs_there is not None:
        done = remote.download(runs_there, run_id, prefix, dest)
    else:
        store = _store()
        store.get(run_id)
        done = views.download(store, run_id, prefix, dest)
    count = len(done)
    emit_or_say(
        {"id": run_id, "output_dir": str(dest), "files": done},
        f"downloaded {count} file{'s' * (count != 1)} to {dest}",
    )


@runs.command("compare")
@click.argument("run_ids", metavar="RUN...", nargs=-1, required=True)
@click.option("--metric", "-m", help="Only this metric.")
@shows
def compare(run_ids: tuple[str, ...], metric: str | None) -> None:
    """Compare runs' metrics and arguments.

    Each numeric metric's final value, and its best when that differs: the minimum for
    loss- or error-like names, else the maximum."""
    runs_there = _remote()
    if runs_there is not None:
        records = [runs_there.get(run_id) for run_id in run_ids]
        series_of = _remote_series(runs_there)
    else:
        store = _store()
        records = [store.find(run_id) for run_id in run_ids]
        series_of = _folder_series(store)
    names, rows = views.compare_rows(series_of, records, metric)
    if metric is not None and not names:
        raise _no_metric(metric, run_ids)
    if is_json():
        print_json(rows)
        return
    print_table(
        ["RUN", "STATUS", *names, "ARGUMENTS"],
        (
            [
                row["id"],
                row["status"],
                *(views.compare_cell(row["metrics"].get(n)) for n in names),
                shlex.join(row["arguments"]),
            ]
            for row in rows
        ),
    )


@runs.command("register")
@click.argument("run_id", metavar="RUN")
@click.option("--name", "-n", required=True, help="Model name; re-registering adds a version.")
@click.option("--path", "model_path", required=True, help="File or folder of the run's files.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Tag (repeatable).")
@click.option("--description", help="Free text.")
@shows
def register(
    run_id: str, name: str, model_path: str, tags: tuple[str, ...], description: str | None
) -> None:
    """Register a model from a run's files.

    PATH is a file or folder of the run (outputs/model.pkl); the model records the run
    and its experiment as its lineage (see `serving models show`)."""
    runs_there = _remote()
    if runs_there is not None:
        options = {"model_path": model_path, "tags": parse_pairs(tags, "tag")}
        remote.register(
            runs_there, run_id, {**options, "description": description, "model_name": name}
        )
        return
    record = register_from_run(
        workspace(),
        run_id,
        name,
        model_path,
        tags=parse_pairs(tags, "tag"),
        description=description,
    )
    emit_or_say(record.to_dict(), record.ref)


@runs.command("chart")
@click.argument("run_ids", metavar="RUN...", nargs=-1, required=True)
@click.option("--metric", "-m", help="Only this metric (one panel, a line per run).")
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="PNG (a sweep: .html too).",
)
@shows
def chart(run_ids: tuple[str, ...], metric: str | None, output: Path) -> None:
    """Plot metric histories of runs into a PNG.

    One panel per metric (or only --metric), one line per run. For one sweep (HyperDrive
    parent): a parallel-coordinates chart of its parameters against the primary metric,
    and the primary metric of every child over its steps; an --output ending in .html
    writes an interactive page (plotly, its JavaScript inside the file)."""
    from serving.cli.run_chart import render_sweep_chart, render_sweep_html

    runs_there = _remote()
    store: RunStore | RemoteRunStore = runs_there if runs_there is not None else _store()
    if len(run_ids) == 1 and store.get(run_ids[0]).kind == SWEEP_KIND and metric is None:
        data = sweep_chart_data(store, store.get(run_ids[0]))
        draw = render_sweep_html if output.suffix.lower() == ".html" else render_sweep_chart
        draw(data, output, title=run_ids[0])
        emit_or_say({"output": str(output), "metrics": [data["metric"]]}, f"wrote {output}")
        return
    if isinstance(store, RemoteRunStore):
        _chart_runs(run_ids, metric, output, store.get, _remote_series(store))
        return
    _chart_runs(run_ids, metric, output, store.get, _folder_series(store))


def _folder_series(store: RunStore) -> views.SeriesOf:
    return lambda run_id: views.numeric_series(store, run_id)


def _remote_series(runs_there: RemoteRunStore) -> views.SeriesOf:
    return lambda run_id: remote.numeric_series(runs_there, run_id)


def _chart_runs(
    run_ids: tuple[str, ...],
    metric: str | None,
    output: Path,
    get: Callable[[str], RunRecord],
    series_of: views.SeriesOf,
) -> None:
    """One panel per metric, a line per run."""
    from serving.cli.run_chart import render_runs_chart

    panels: dict[str, dict[str, list[tuple[object, float]]]] = {}
    for run_id in run_ids:
        get(run_id)
        for name, points in series_of(run_id).items():
            if metric is None or name == metric:
                panels.setdefault(name, {})[run_id] = points
    if metric is not None and not panels:
        raise _no_metric(metric, run_ids)
    title = run_ids[0] if len(run_ids) == 1 else f"{len(run_ids)} runs"
    render_runs_chart(panels, output, title=title)
    emit_or_say({"output": str(output), "metrics": list(panels)}, f"wrote {output}")

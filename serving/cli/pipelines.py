"""`serving pipelines ...`: run a pipeline written in YAML, explain before running which
of its steps would be reused (and why not), show a pipeline run's steps.

``pipelines run`` streams the pipeline (the driver's log and each step's log, prefixed by
the step's name) and exits 0 when it Completed, 8 when it Failed (naming the failed
steps) or was Canceled. Ctrl-C stops following only: the pipeline run belongs to its
driver and goes on. The YAML keys are described in :mod:`serving.runs.pipelines.yaml_form`.

Against a workspace server (``--workspace URL``) ``run`` sends the pipeline and its steps'
folders to the server, where it executes, and follows it through the run routes; ``show``
reads it there. ``explain`` needs the folder's records of earlier step runs and refuses a
server in one line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml

from serving.cli import run_views as views
from serving.cli.common import (
    any_workspace,
    emit_list,
    emit_or_say,
    err,
    is_json,
    print_json,
    say,
    shows,
)
from serving.cli.common import workspace as current_workspace
from serving.errors import UserInputError
from serving.hub.remote import pipeline_watch as remote_watch
from serving.hub.remote.run_kinds import submit_pipeline as send_pipeline
from serving.hub.remote.runs import RemoteRunStore
from serving.hub.remote.workspace import RemoteWorkspace
from serving.registry.names import parse_pairs
from serving.runs import records as rec
from serving.runs.pipelines import spec as s
from serving.runs.pipelines.driver import submit_pipeline
from serving.runs.pipelines.graph import validate
from serving.runs.pipelines.reuse import decide
from serving.runs.pipelines.watch import step_rows, wait_pipeline
from serving.runs.pipelines.yaml_form import PipelineFile, load_pipeline
from serving.runs.store import RunStore

EXPLAIN_COLUMNS = [("step", "STEP"), ("decision", "DECISION"), ("reason", "WHY")]
STEP_COLUMNS = [
    ("step", "STEP"),
    ("status", "STATUS"),
    ("run", "STEP RUN"),
    ("reused_from", "REUSED FROM"),
    ("reason", "WHY"),
]

file_argument = click.argument(
    "pipeline_file", metavar="PIPELINE.yml", type=click.Path(path_type=Path, dir_okay=False)
)
param_option = click.option(
    "--param", "params", multiple=True, metavar="K=V", help="Pipeline parameter (repeatable)."
)
regenerate_option = click.option(
    "--regenerate-outputs", is_flag=True, help="Run every step (no reuse)."
)
hash_option = click.option(
    "--hash-input-data",
    is_flag=True,
    help="Reuse also checks the content of data inputs, not only their paths.",
)


def _parameters(params: tuple[str, ...]) -> dict[str, Any]:
    """``K=V`` pairs, each value read as a YAML scalar (``5`` is a number)."""
    return {k: yaml.safe_load(v) if v else "" for k, v in parse_pairs(params, "param").items()}


Store = RunStore | RemoteRunStore


def _load(
    pipeline_file: Path, params: tuple[str, ...], *, remote_ok: bool = False
) -> tuple[Store, PipelineFile, dict[str, Any]]:
    ws = any_workspace() if remote_ok else current_workspace()
    loaded = load_pipeline(pipeline_file, ws)  # type: ignore[arg-type]
    given = _parameters(params)
    errors = validate(loaded.spec, given)
    if errors:
        raise UserInputError(f"{pipeline_file} is not a valid pipeline: " + "; ".join(errors))
    loaded.spec.resolve_parameters(given)
    return _store_of(ws), loaded, given


def _store_of(ws: Any) -> Store:
    return ws.runs if isinstance(ws, RemoteWorkspace) else RunStore(ws.path, ws.db)


def _rows(store: Store, run_id: str) -> list[dict[str, str | None]]:
    if isinstance(store, RemoteRunStore):
        return remote_watch.step_rows(store, run_id)
    return step_rows(store, run_id)


@click.group("pipelines")
def pipelines() -> None:
    """Pipelines: steps connected by their data, unchanged steps reused (v1's rules)."""


@pipelines.command("run")
@file_argument
@param_option
@regenerate_option
@click.option(
    "--continue-on-step-failure", is_flag=True, help="Run what does not depend on a failed step."
)
@hash_option
@click.option("--experiment", "-e", help="Experiment (default: the file's, else its name).")
@click.option("--detach", "-d", is_flag=True, help="Print the pipeline run's id and return.")
@shows
def run(
    pipeline_file: Path,
    params: tuple[str, ...],
    regenerate_outputs: bool,
    continue_on_step_failure: bool,
    hash_input_data: bool,
    experiment: str | None,
    detach: bool,
) -> None:
    """Run the pipeline in PIPELINE.yml and stream it until it ends."""
    store, loaded, given = _load(pipeline_file, params, remote_ok=True)
    options = s.RunOptions(
        given,
        regenerate_outputs,
        continue_on_step_failure,
        hash_input_data or loaded.hash_input_data,
    )
    name = experiment or loaded.experiment
    out = sys.stderr if is_json() else sys.stdout
    if isinstance(store, RemoteRunStore):
        record = send_pipeline(store, name, loaded.spec, options)
    else:
        record = submit_pipeline(store, name, loaded.spec, options)
    if detach:
        emit_or_say(record.to_dict(), record.id)
        return
    if isinstance(store, RemoteRunStore):
        final = remote_watch.wait_pipeline(store, record.id, out=out)
    else:
        final = wait_pipeline(store, record.id, out=out)
    if is_json():
        print_json({**final.to_dict(), "steps": _rows(store, final.id)})
    if final.status != rec.COMPLETED:
        raise views.run_failed(final, streamed=True)


@pipelines.command("explain")
@file_argument
@param_option
@regenerate_option
@hash_option
@shows
def explain(
    pipeline_file: Path, params: tuple[str, ...], regenerate_outputs: bool, hash_input_data: bool
) -> None:
    """Say, without running anything, which steps would be reused and why the others not."""
    store, loaded, given = _load(pipeline_file, params)
    options = s.RunOptions(
        given, regenerate_outputs, False, hash_input_data or loaded.hash_input_data
    )
    assert isinstance(store, RunStore)  # explain refuses a server (_load)
    rows = [d.to_dict() for d in decide(store, loaded.spec, options)]
    emit_list(rows, EXPLAIN_COLUMNS)
    if not is_json():
        reused = sum(1 for r in rows if r["decision"] == "reuse")
        err.print(f"{reused} of {len(rows)} steps would be reused", highlight=False)


@pipelines.command("show")
@click.argument("run_id", metavar="RUN")
@shows
def show(run_id: str) -> None:
    """Show a pipeline run: its status and its steps (status, reused from, why)."""
    store = _store_of(any_workspace())
    record = store.find(run_id)
    if record.kind != s.PIPELINE_KIND:
        raise UserInputError(f"run {run_id} is not a pipeline run (it is a {record.kind})")
    rows = _rows(store, run_id)
    if is_json():
        print_json({**record.to_dict(), "steps": rows})
        return
    say(f"pipeline run {record.id} ({record.experiment}): {record.status}")
    if record.error:
        say(f"error: {record.error.get('message')}")
    emit_list(rows, STEP_COLUMNS)

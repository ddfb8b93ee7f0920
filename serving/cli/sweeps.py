"""`serving sweeps submit sweep.yml`: a HyperDrive sweep written in YAML (the keys are in
:mod:`serving.runs.sweeps.yaml_form`), submitted to its detached driver; the children
table is printed whenever it changes until the sweep ends. Exit code 0 when it Completed,
8 when it Failed or was Canceled. Ctrl-C stops watching only: the sweep goes on. Look at a
sweep afterwards with `serving runs show SWEEP` and `serving runs chart SWEEP`.

Against a workspace server (``--workspace URL``) the sweep and its source folder are sent
to the server, where the sweep executes; the table is read through the run routes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from serving.cli import run_views as views
from serving.cli.common import any_workspace, emit_or_say, is_json, print_json, shows
from serving.cli.sweep_views import Store, print_sweep
from serving.hub.remote.run_kinds import submit_sweep as send_sweep
from serving.hub.remote.workspace import RemoteWorkspace
from serving.runs import records as rec
from serving.runs.store import RunStore
from serving.runs.submit import ScriptJob
from serving.runs.sweeps.launch import submit_sweep
from serving.runs.sweeps.spec import SweepSpec
from serving.runs.sweeps.yaml_form import load_sweep


@click.group("sweeps")
def sweeps() -> None:
    """HyperDrive sweeps: many child runs with sampled parameters, poor ones stopped early."""


@sweeps.command("submit")
@click.argument("sweep_file", metavar="SWEEP.yml", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--detach", "-d", is_flag=True, help="Print the sweep's id and return at once.")
@click.option("--user-managed", is_flag=True, help="Train in this interpreter, build nothing.")
@shows
def submit(sweep_file: Path, detach: bool, user_managed: bool) -> None:
    """Submit the sweep described in SWEEP.yml and watch its children.

    The table (status, parameters, best primary metric, the policy that stopped a child)
    is printed whenever it changes; exit code 0 for Completed, 8 for Failed or Canceled."""
    ws = any_workspace()
    found = load_sweep(sweep_file)
    environment = views.job_environment(ws, found.environment, user_managed)  # type: ignore[arg-type]
    job = ScriptJob(
        source_directory=found.source_directory,
        script=found.script,
        arguments=found.arguments,
        environment=environment.environment,
        interpreter=environment.interpreter,
        compute=found.compute,
        extra=environment.extra,
    )
    experiment = found.experiment or views.experiment_for(found.source_directory)
    spec = SweepSpec(job=job, **found.settings)
    store: Store
    if isinstance(ws, RemoteWorkspace):
        store = ws.runs
        record = send_sweep(store, experiment, spec)
    else:
        store = RunStore(ws.path, ws.db)
        record = submit_sweep(store, experiment, spec)
    if detach:
        emit_or_say(record.to_dict(), record.id)
        return
    final = print_sweep(store, record, watch=True, stream=sys.stderr if is_json() else None)
    if is_json():
        print_json(final.to_dict())
    if final.status != rec.COMPLETED:
        raise views.run_failed(final, streamed=True)

"""The submit route's other kinds (``job.json`` with ``"kind": "hyperdrive"`` or
``"pipeline"``, :mod:`serving.runs.job_kinds`): a HyperDrive sweep or a pipeline sent by a
client, started on the server's machine by the same machinery a folder workspace uses
(:func:`serving.runs.sweeps.launch.submit_sweep`,
:func:`serving.runs.pipelines.driver.submit_pipeline`).

A sweep snapshots its source once when submitted (every child starts from that snapshot),
so the uploaded folder may go with the request. A pipeline's driver snapshots each step's
folder only when it starts the step, so the uploaded folders are first moved into the
pipeline run's own ``snapshot/`` folder (not one of its files; removed with the run).

A sweep's children on Docker compute report to the server with run tokens (``report_to``
in the base job), as script runs do. A pipeline's step runs do not yet: a step's outputs
are upload-mode data references, copied to their datastore from the run's working folder
on this machine, and a reporting container keeps its working copy inside (it sends back
only ``outputs/`` and ``logs/``); so step runs on Docker mount the workspace as a
folder's do.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from serving.errors import ConflictError, NotFoundError, ServingError
from serving.runs import job_kinds as jk
from serving.runs import records as rec
from serving.runs.pipelines.driver import submit_pipeline
from serving.runs.records import RunRecord
from serving.runs.store import SNAPSHOT_DIR, RunStore
from serving.runs.sweeps.launch import submit_sweep


def submit_kind(
    store: RunStore, experiment: str, data: Any, unpacked: Path, report_to: str
) -> RunRecord:
    """Submit the sweep or pipeline in ``data`` (its folders under ``unpacked/source``)."""
    source = unpacked / "source"
    try:
        if jk.kind_of(data) == jk.HYPERDRIVE:
            return _sweep(store, experiment, data, source, report_to)
        return _pipeline(store, experiment, data, source)
    except ServingError as exc:  # name the client's folder, not the temp one
        exc.message = exc.message.replace(str(source), "the source directory")
        raise


def _sweep(store: RunStore, experiment: str, data: Any, source: Path, report_to: str) -> RunRecord:
    spec, options = jk.sweep_from_wire(data, source)
    spec.job.extra["report_to"] = report_to
    run_id = options["run_id"]
    if run_id is not None:
        store.run_dir(run_id)  # refuses a run id that is not a folder name
        _must_be_new(store, run_id)
    return submit_sweep(store, experiment, spec, run_id=run_id, tags=options["tags"])


def _must_be_new(store: RunStore, run_id: str) -> None:
    try:
        store.get(run_id)
    except NotFoundError:
        return
    raise ConflictError(f"run {run_id} exists already", hint="choose another custom_run_id")


def _pipeline(store: RunStore, experiment: str, data: Any, source: Path) -> RunRecord:
    rec.check_experiment_name(experiment)
    jk.pipeline_from_wire(data, source)  # refused before anything is kept
    run_id = rec.new_run_id(experiment)
    kept = store.run_dir(run_id) / SNAPSHOT_DIR
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(kept))
    spec, options, extra = jk.pipeline_from_wire(data, kept)
    try:
        return submit_pipeline(
            store,
            experiment,
            spec,
            options,
            display_name=extra["display_name"],
            run_id=run_id,
        )
    except ServingError as exc:
        exc.message = exc.message.replace(str(kept), "the source directory")
        raise
    finally:
        try:
            store.get(run_id)
        except NotFoundError:  # not recorded: nothing points at the folder
            shutil.rmtree(store.run_dir(run_id), ignore_errors=True)

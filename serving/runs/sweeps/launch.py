"""Submitting a sweep: record the parent run (kind ``hyperdrive``) with its checked spec,
snapshot the source folder once (every child starts from that snapshot), and start the
sweep's detached driver (``python -m serving.runs.sweeps.driver WS PARENT_ID``) the way a
script run's supervisor is started, so the notebook or CLI can exit."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping
from typing import Any

from serving.runs import records as rec
from serving.runs.records import RunRecord
from serving.runs.snapshot import take_snapshot
from serving.runs.store import RunStore
from serving.runs.submit import check_job, start_supervisor
from serving.runs.sweeps.spec import DEFINITION_KEY, KIND, SweepSpec


def new_sweep_id() -> str:
    """v1's HyperDrive parent ids: ``HD_<uuid>``."""
    return f"HD_{uuid.uuid4()}"


def driver_argv(store: RunStore, parent_id: str) -> list[str]:
    return [sys.executable, "-m", "serving.runs.sweeps.driver", str(store.root), parent_id]


def submit_sweep(
    store: RunStore,
    experiment: str,
    spec: SweepSpec,
    *,
    run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> RunRecord:
    """Record the sweep (NotStarted), snapshot its source, start its driver."""
    check_job(spec.job)
    rec.check_experiment_name(experiment)
    record = store.create_run(
        experiment,
        kind=KIND,
        target=spec.job.compute,
        definition={
            DEFINITION_KEY: spec.to_dict(),
            "script": spec.job.script,
            "arguments": list(spec.job.arguments),
            "source_directory": str(spec.job.source_directory),
            "target": spec.job.compute,
            "environment": spec.job.environment,
            "interpreter": spec.job.interpreter,
            "total_runs": spec.total_runs,
        },
        run_id=run_id or new_sweep_id(),
    )
    try:
        snap = take_snapshot(spec.job.source_directory, store.run_dir(record.id) / "snapshot")
    except BaseException as exc:
        store.set_status(
            record.id, rec.FAILED, error={"code": "SnapshotFailed", "message": str(exc)}
        )
        raise
    store.set_snapshot(record.id, snap.snapshot_id)
    if tags:
        store.update_json(
            record.id, "tags", {k: None if v is None else str(v) for k, v in tags.items()}
        )
    start_supervisor(store, record.id, driver_argv(store, record.id))
    return store.get(record.id)

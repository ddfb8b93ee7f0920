"""Submitting a HyperDrive sweep or a pipeline to a workspace server: one tar, as for a
script run (:mod:`serving.hub.remote.runs`), of ``job.json``
(:mod:`serving.runs.job_kinds`) and the source folders under ``source/`` (a sweep's one
folder) or ``source/<n>/`` (a pipeline's, one per distinct folder), with the same ignore
rules as a local snapshot, written while it is sent. The sweep or pipeline then executes
on the server's machine; the client follows its parent run through the run routes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from serving.hub.remote.runs import RemoteRunStore, _job_member
from serving.hub.remote.transport import segment
from serving.hub.streams import tar_stream
from serving.runs import job_kinds as jk
from serving.runs.errors import UserErrorException
from serving.runs.pipelines import spec as ps
from serving.runs.pipelines.graph import validate
from serving.runs.records import RunRecord
from serving.runs.snapshot import SNAPSHOT_IGNORE_FILES
from serving.runs.submit import check_job
from serving.runs.sweeps.spec import SweepSpec
from serving.sourcefiles import source_entries


def _archive(wire: dict[str, Any], folders: Sequence[tuple[str, Path]]) -> Iterator[bytes]:
    """``job.json``, then each folder's files under its prefix."""
    files = []
    for prefix, folder in folders:
        entries, _rules = source_entries(folder, SNAPSHOT_IGNORE_FILES)
        files += [
            (f"{prefix}/{e.rel}", e.path, os.access(e.path, os.X_OK))
            for e in entries
            if not e.is_dir
        ]
    yield _job_member(wire)
    yield from tar_stream(files)


def _send(runs: RemoteRunStore, experiment: str, body: Iterator[bytes]) -> RunRecord:
    found = runs.client.upload(
        f"/experiments/{segment(experiment)}/runs", body, "application/x-tar"
    )
    return RunRecord.from_dict(found)


def submit_sweep(
    runs: RemoteRunStore,
    experiment: str,
    spec: SweepSpec,
    *,
    run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> RunRecord:
    """Send the sweep and its source folder; the parent run as recorded."""
    check_job(spec.job)
    wire = jk.sweep_to_wire(spec, run_id=run_id, tags=tags)
    folder = Path(spec.job.source_directory)
    return _send(runs, experiment, _archive(wire, [("source", folder)]))


def submit_pipeline(
    runs: RemoteRunStore,
    experiment: str,
    spec: ps.PipelineSpec,
    options: ps.RunOptions,
    *,
    display_name: str | None = None,
) -> RunRecord:
    """Check the pipeline here (its folders and scripts), send it and its folders; the
    pipeline run as recorded."""
    errors = validate(spec, options.parameters)
    if errors:
        raise UserErrorException("the pipeline is not valid: " + "; ".join(errors))
    spec.resolve_parameters(options.parameters)
    wire, folders = jk.pipeline_to_wire(spec, options, display_name=display_name)
    named = [(f"source/{i}", folder) for i, folder in enumerate(folders)]
    return _send(runs, experiment, _archive(wire, named))

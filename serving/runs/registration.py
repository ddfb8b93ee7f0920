"""Registering a model from a run's files: v1's ``run.register_model`` rules (the path is
inside the run's artifacts, a folder registers everything under it) with the run as the
model's lineage (its id on the model, the experiment and run id in its properties).

Shared by ``serving runs register`` and, through it, meant for the SDK's
``Run.register_model`` (the CLI may not import the SDK: they are sibling layers).
"""

from __future__ import annotations

from collections.abc import Mapping

from serving.registry import ModelRecord
from serving.registry.frameworks import framework_id
from serving.runs import artifacts
from serving.runs.errors import ModelPathNotFoundException
from serving.runs.store import RunStore
from serving.workspace import Workspace


def register_from_run(
    ws: Workspace,
    run_id: str,
    model_name: str,
    model_path: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    properties: Mapping[str, str] | None = None,
    description: str | None = None,
    model_framework: str | None = None,
    model_framework_version: str | None = None,
) -> ModelRecord:
    """Register the run's file or folder ``model_path`` (``outputs/model.pkl``) as a new
    version of ``model_name``; a path that matches none of its files fails with a message
    listing them."""
    store = RunStore(ws.path, ws.db)
    record = store.get(run_id)
    run_dir = store.run_dir(run_id)
    wanted = str(model_path if model_path is not None else model_name)
    wanted = wanted.replace("\\", "/").strip("/")
    if not artifacts.matching(run_dir, wanted):
        raise ModelPathNotFoundException(
            f"Could not locate the provided model_path {wanted} in the set of files "
            f"uploaded to the run: {artifacts.names(run_dir)}"
        )
    lineage = {"experiment_name": record.experiment, "run_id": run_id}
    return ws.models.register(
        run_dir / wanted,
        model_name,
        tags=tags,
        properties={**lineage, **dict(properties or {})},
        description=description,
        framework=framework_id(model_framework),
        framework_version=model_framework_version,
        run_id=run_id,
    )

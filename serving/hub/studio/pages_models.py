"""Studio pages of models: every model (latest version first), one model's versions, and
one version with its tags, properties, files and lineage: the run that made it, the images
built with it and the endpoints serving it."""

from __future__ import annotations

from flask import Blueprint, render_template

from serving.errors import NotFoundError
from serving.hub.api_models import model_ref
from serving.hub.context import hub
from serving.registry.models import ModelRecord
from serving.registry.names import check_model_name

bp = Blueprint("models", __name__)


@bp.get("/models")
def models() -> str:
    records = hub().ws.models.list()
    names: dict[str, list[int]] = {}
    latest: dict[str, ModelRecord] = {}
    for record in records:
        names.setdefault(record.name, []).append(record.version)
        if record.name not in latest or record.version > latest[record.name].version:
            latest[record.name] = record
    rows = [
        {"model": latest[name], "versions": len(versions)}
        for name, versions in sorted(names.items())
    ]
    return render_template("studio/models.html", rows=rows)


@bp.get("/models/<name>")
def model(name: str) -> str:
    versions = hub().ws.models.list(name=check_model_name(name))
    if not versions:
        raise NotFoundError(f"model {name} not found")
    return render_template("studio/model.html", name=name, versions=versions)


@bp.get("/models/<name>/<version>")
def model_version(name: str, version: str) -> str:
    ws = hub().ws
    record = ws.models.get(model_ref(name, version))
    run = None
    if record.run_id:
        try:
            run = hub().runs.get(record.run_id)
        except NotFoundError:
            run = None
    images = [i for i in ws.images.list() if record.ref in i.models]
    return render_template(
        "studio/model_version.html",
        model=record,
        run=run,
        images=images,
        endpoints=ws.models.endpoints_using(record),
    )

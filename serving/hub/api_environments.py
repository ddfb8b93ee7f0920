"""Environments: list, show, register (a spec the server checks and hashes itself); built
images: list and show (the registry's own records)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from serving.environments import EnvSpec
from serving.errors import UserInputError
from serving.hub import paging
from serving.hub.api_models import model_ref
from serving.hub.context import hub
from serving.registry import EnvironmentRecord
from serving.registry.names import check_model_name

bp = Blueprint("environments", __name__)


def _shown(record: EnvironmentRecord) -> dict[str, Any]:
    """The record with its full spec and the file it was registered from (what a client
    needs to rebuild the environment)."""
    return record.to_dict() | {"spec": record.spec, "source_text": record.source_text}


@bp.get("/environments")
def list_environments() -> Response:
    args = request.args
    records = hub().ws.environments.list(
        name=args.get("name"), latest=paging.bool_arg(args, "latest")
    )
    items, token = paging.page_of(records, args)
    return jsonify({"items": [_shown(r) for r in items], "next": token})


@bp.post("/environments/<name>")
def register_environment(name: str) -> tuple[Response, int]:
    """JSON body ``{"spec", "source_text", "source_name"}``: the spec is rebuilt and
    checked as user input, its hash and Python computed here; 201 when a new version was
    made, 200 when the latest version has the same content."""
    check_model_name(name, "environment")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
        raise UserInputError('send a JSON object {"spec": {...}, "source_text", "source_name"}')
    texts = {key: body.get(key) or "" for key in ("source_text", "source_name")}
    if not all(isinstance(v, str) for v in texts.values()):
        raise UserInputError("source_text and source_name must be strings")
    spec = EnvSpec.from_dict(body["spec"], trusted=False)
    record, created = hub().ws.environments.register(
        name,
        spec=spec.to_dict(),
        content_hash=spec.content_hash(),
        python=spec.python,
        source_text=texts["source_text"],
        source_name=texts["source_name"],
    )
    return jsonify(_shown(record) | {"created": created}), 201 if created else 200


@bp.get("/environments/<name>/<version>")
def show_environment(name: str, version: str) -> Response:
    """The record with the environment file it was registered from."""
    record = hub().ws.environments.get(model_ref(name, version, "environment"))
    return jsonify(_shown(record))


@bp.get("/images")
def list_images() -> Response:
    records = hub().ws.images.list(name=request.args.get("name"))
    items, token = paging.page_of(records, request.args)
    return jsonify({"items": [r.to_dict() for r in items], "next": token})


@bp.get("/images/<path:name>/<version>")
def show_image(name: str, version: str) -> Response:
    number = paging.version_arg(version)
    record = hub().ws.images.get(name if number is None else f"{name}:{number}")
    return jsonify(record.to_dict())

"""Environments and built images: list and show (the registry's own records)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from serving.hub import paging
from serving.hub.api_models import model_ref
from serving.hub.context import hub

bp = Blueprint("environments", __name__)


@bp.get("/environments")
def list_environments() -> Response:
    args = request.args
    records = hub().ws.environments.list(
        name=args.get("name"), latest=paging.bool_arg(args, "latest")
    )
    items, token = paging.page_of(records, args)
    return jsonify({"items": [r.to_dict() for r in items], "next": token})


@bp.get("/environments/<name>/<version>")
def show_environment(name: str, version: str) -> Response:
    """The record with the environment file it was registered from."""
    record = hub().ws.environments.get(model_ref(name, version, "environment"))
    return jsonify(record.to_dict() | {"source_text": record.source_text})


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

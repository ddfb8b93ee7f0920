"""Endpoints: list and show (state reconciled with what runs, as ``endpoints show``), the
log tail, and the keys — a GET that hands out secrets, so a read-write token only."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from serving.deploy import service
from serving.hub import paging
from serving.hub.auth import require_read_write
from serving.hub.context import hub

bp = Blueprint("endpoints", __name__)

DEFAULT_TAIL = 5000


@bp.get("/endpoints")
def list_endpoints() -> Response:
    records = service.observe_all(hub().ws)
    items, token = paging.page_of(records, request.args)
    return jsonify({"items": [r.to_dict() for r in items], "next": token})


@bp.get("/endpoints/<name>")
def show_endpoint(name: str) -> Response:
    return jsonify(service.observe(hub().ws, name).to_dict())


@bp.get("/endpoints/<name>/logs")
def endpoint_logs(name: str) -> Response:
    tail = paging.int_arg(request.args, "tail", DEFAULT_TAIL, 1, 100_000)
    replica = request.args.get("replica")
    return jsonify({"name": name, "text": service.logs(hub().ws, name, tail, replica)})


@bp.get("/endpoints/<name>/keys")
def endpoint_keys(name: str) -> Response:
    require_read_write(f"read the keys of endpoint {name}")
    record = hub().ws.endpoints.get(name)
    keys = list(record.keys)
    return jsonify(
        {
            "name": name,
            "primary_key": keys[0] if keys else None,
            "secondary_key": keys[1] if len(keys) > 1 else None,
        }
    )

"""Models: list, show, streamed download, register by streamed upload, update, delete.

An upload is a single file (``application/octet-stream``, named by ``filename``) or a
folder as a tar (``application/x-tar``, optionally compressed; ``filename`` names the
folder). The body is read in chunks to a private temporary folder and only a complete body
is handed to :meth:`ModelRegistry.register` — the same atomic registration as a local
``models register`` (blobs first, rows in one transaction) — so an upload cut off midway
leaves no version.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file
from werkzeug.utils import secure_filename

from serving.errors import NotFoundError, ServingError, UserInputError
from serving.hub import paging, streams
from serving.hub.context import hub
from serving.registry.frameworks import FRAMEWORKS
from serving.registry.models import ModelRecord
from serving.registry.names import Ref, check_model_name, parse_pairs
from serving.workspace import Workspace

bp = Blueprint("models", __name__)

FILE_TYPES = frozenset({"application/octet-stream"})
TAR_TYPES = frozenset({"application/x-tar", "application/gzip", "application/x-gtar"})


def model_ref(name: str, version: str, what: str = "model") -> Ref:
    return Ref(check_model_name(name, what), paging.version_arg(version))


def shown(record: ModelRecord) -> dict[str, Any]:
    """A model as the API shows one version: its record and the endpoints using it."""
    return record.to_dict() | {"endpoints": hub().ws.models.endpoints_using(record)}


@bp.get("/models")
def list_models() -> Response:
    args = request.args
    tags = _tag_filter(args.getlist("tag"))
    records = hub().ws.models.list(
        name=args.get("name"),
        tags=tags,
        latest=paging.bool_arg(args, "latest"),
        run_id=args.get("run_id") or None,
    )
    items, token = paging.page_of(records, args)
    return jsonify({"items": [r.to_dict() for r in items], "next": token})


def _tag_filter(items: list[str]) -> dict[str, str | None] | None:
    """``tag=K=V`` (K has the value V) or ``tag=K`` (K is present), as ``models list``."""
    if not items:
        return None
    wanted: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise UserInputError(f"invalid tag filter {item!r}: use K or K=V")
        wanted[key] = value if sep else None
    return wanted


@bp.get("/models/<name>/<version>")
def show_model(name: str, version: str) -> Response:
    return jsonify(shown(hub().ws.models.get(model_ref(name, version))))


def _send_blob(ws: Workspace, sha256: str, download_name: str) -> Response:
    """One stored file as a download, its recorded hash in ``X-Model-SHA256``."""
    response = send_file(
        ws.store.blob_path(sha256),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=download_name,
    )
    response.headers["X-Model-SHA256"] = sha256
    return response


@bp.get("/models/<name>/<version>/download")
def download_model(name: str, version: str) -> Response:
    """The file itself, or a folder model as a tar stream; ``X-Model-SHA256`` carries a
    single file's recorded hash so the client can check what it got."""
    ws = hub().ws
    record = ws.models.get(model_ref(name, version))
    if record.kind == "file":
        return _send_blob(ws, record.files[0].sha256, record.root_name)
    members = [
        (f"{record.root_name}/{f.relpath}", ws.store.blob_path(f.sha256), f.executable)
        for f in record.files
    ]
    headers = {"Content-Disposition": f'attachment; filename="{record.root_name}.tar"'}
    return Response(streams.tar_stream(members), mimetype="application/x-tar", headers=headers)


@bp.get("/models/<name>/<version>/file")
def model_file(name: str, version: str) -> Response:
    """One file of a folder model, streamed (``path`` as the record's files list it)."""
    relpath = request.args.get("path", "")
    ws = hub().ws
    record = ws.models.get(model_ref(name, version))
    for f in record.files:
        if f.relpath == relpath:
            return _send_blob(ws, f.sha256, relpath.rsplit("/", 1)[-1])
    raise NotFoundError(f"model {record.ref} has no file {relpath}")


def _upload_kind() -> str:
    mimetype = request.mimetype or ""
    if mimetype in FILE_TYPES:
        return "file"
    if mimetype in TAR_TYPES:
        return "tar"
    raise UserInputError(
        f"upload a model as application/octet-stream (one file) or application/x-tar "
        f"(a folder), not {mimetype or 'no Content-Type'}"
    )


def _register_options() -> dict[str, Any]:
    args = request.args
    framework = args.get("framework")
    if framework is not None and framework not in FRAMEWORKS:
        raise UserInputError(f"unknown framework {framework!r}: use one of {', '.join(FRAMEWORKS)}")
    return {
        "tags": parse_pairs(args.getlist("tag"), "tag"),
        "properties": parse_pairs(args.getlist("property"), "property"),
        "description": args.get("description"),
        "framework": framework,
        "framework_version": args.get("framework_version"),
        "run_id": args.get("run_id"),
    }


@bp.post("/models/<name>")
def register_model(name: str) -> tuple[Response, int]:
    """Register the request body as the next version of ``name`` (201 with the record)."""
    check_model_name(name)
    kind = _upload_kind()
    filename = secure_filename(request.args.get("filename", ""))
    if not filename:
        raise UserInputError("say the model's file or folder name: ?filename=NAME")
    options = _register_options()
    ws = hub().ws
    limit = streams.max_upload_bytes()
    with streams.upload_folder(ws.path) as folder:
        if kind == "file":
            target = folder / filename
            streams.receive(request.stream, target, request.content_length, limit)
        else:
            archive = folder / ".upload.tar"
            streams.receive(request.stream, archive, request.content_length, limit)
            target = folder / "unpacked" / filename
            target.mkdir(parents=True)
            streams.unpack_tar(archive, target, limit)
        try:
            record = ws.models.register(target, name, **options)
        except ServingError as exc:  # name what the client sent, not the temp folder
            exc.message = exc.message.replace(str(target), filename)
            raise
    return jsonify(shown(record)), 201


@bp.patch("/models/<name>/<version>")
def update_model(name: str, version: str) -> Response:
    """JSON body: ``add_tags`` {k: v}, ``remove_tags`` [k], ``add_properties`` {k: v},
    ``description``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UserInputError(
            "send a JSON object (add_tags, remove_tags, add_properties, description)"
        )
    unknown = set(body) - {"add_tags", "remove_tags", "add_properties", "description"}
    if unknown:
        raise UserInputError(f"unknown fields: {', '.join(sorted(unknown))}")
    record = hub().ws.models.update(
        model_ref(name, version),
        add_tags=_str_map(body.get("add_tags"), "add_tags"),
        remove_tags=_str_list(body.get("remove_tags"), "remove_tags"),
        add_properties=_str_map(body.get("add_properties"), "add_properties"),
        description=_optional_str(body.get("description"), "description"),
    )
    return jsonify(shown(record))


@bp.delete("/models/<name>/<version>")
def delete_model(name: str, version: str) -> Response:
    ref = model_ref(name, version)
    if ref.version is None:
        raise UserInputError("delete a numbered version, not latest")
    record = hub().ws.models.delete(ref, force=paging.bool_arg(request.args, "force"))
    return jsonify(record.to_dict())


def _str_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise UserInputError(f"{what} must be an object of strings")
    return value


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserInputError(f"{what} must be a list of strings")
    return value


def _optional_str(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise UserInputError(f"{what} must be a string")
    return value

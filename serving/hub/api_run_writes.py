"""Runs written through the API: submit a script run (its source as a tar), and what a
running script reports (metrics in batches, files, tags and properties, a model
registered from its files).

A run submitted here executes on the server's machine (compute targets are resources of
the workspace, as in Azure: ``local`` is the workspace's machine): the body is a tar of
``job.json`` (:func:`serving.runs.submit.job_from_wire`) and ``source/`` (the client's
source folder after its ignore rules), unpacked to a private folder and handed to the same
:func:`serving.runs.submit.submit` a folder workspace uses, which snapshots it. A run on
Docker compute is told where to report (``report_to`` in its definition, the address the
server listens on) and gets a token for its own run when its script starts.

Metrics arrive as JSON lines in the metrics file's own format; each line is checked, then
the batch is appended with one ``O_APPEND`` write (:func:`serving.runs.metrics.append`),
so batches from several workers never interleave within a line.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request

from serving.errors import ConflictError, ServingError, UserInputError
from serving.hub import streams
from serving.hub.api_models import shown
from serving.hub.api_run_kinds import submit_kind
from serving.hub.auth import known_run
from serving.hub.context import hub
from serving.runs import artifacts
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.job_kinds import SCRIPT, kind_of
from serving.runs.records import RunRecord
from serving.runs.registration import register_from_run
from serving.runs.submit import job_from_wire, submit

bp = Blueprint("run_writes", __name__)

TAR_TYPES = frozenset({"application/x-tar", "application/gzip", "application/x-gtar"})
JOB_FILE = "job.json"
SOURCE_DIR = "source"
MAX_METRICS_BYTES = 64 * 1024 * 1024
"""One metrics batch at most (a client sends far smaller ones: every 0.25 s)."""


def _report_url() -> str:
    """Where this server listens (gunicorn puts the listening socket's address in
    ``SERVER_NAME``/``SERVER_PORT``; the Host header is the client's to choose, and a run's
    token must not be sent where a client says)."""
    env = request.environ
    host = str(env.get("SERVER_NAME", "127.0.0.1"))
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"{env.get('wsgi.url_scheme', 'http')}://{host}:{env.get('SERVER_PORT')}"


@bp.post("/experiments/<name>/runs")
def submit_run(name: str) -> tuple[Response, int]:
    """Submit a script run (a tar of ``job.json`` and ``source/``), or start a run a
    notebook logs into (JSON: ``{"parent_id"?, "display_name"?}``); 201 either way."""
    if (request.mimetype or "") == "application/json":
        return jsonify(_run_row(_start_run(name).to_dict())), 201
    if (request.mimetype or "") not in TAR_TYPES:
        raise UserInputError(
            "send a job as application/x-tar (job.json and source/), or a run to start "
            "as application/json"
        )
    ws = hub().ws
    limit = streams.max_upload_bytes()
    with streams.upload_folder(ws.path) as folder:
        archive = folder / ".upload.tar"
        streams.receive(request.stream, archive, request.content_length, limit)
        unpacked = folder / "unpacked"
        unpacked.mkdir()
        streams.unpack_tar(archive, unpacked, limit)
        job_path, source = unpacked / JOB_FILE, unpacked / SOURCE_DIR
        if not job_path.is_file():
            raise UserInputError(f"the archive has no {JOB_FILE}")
        source.mkdir(exist_ok=True)
        try:
            data = json.loads(job_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserInputError(f"{JOB_FILE} is not JSON: {exc}") from None
        if kind_of(data) != SCRIPT:  # a sweep or a pipeline
            found = submit_kind(hub().runs, name, data, unpacked, _report_url())
            return jsonify(_run_row(found.to_dict())), 201
        job, options = job_from_wire(data, source)
        job.extra["report_to"] = _report_url()
        try:
            record = submit(
                hub().runs,
                name,
                job,
                display_name=options["display_name"],
                tags=options["tags"],
            )
        except ServingError as exc:  # name the client's folder, not the temp one
            exc.message = exc.message.replace(str(source), "the source directory")
            raise
    return jsonify(_run_row(record.to_dict())), 201


def _start_run(experiment: str) -> RunRecord:
    """An interactive run (``start_logging``) or, with ``parent_id``, a child run: Running
    at once, ended by its client (``POST /runs/{id}/status``)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"parent_id", "display_name"}:
        raise UserInputError("send a JSON object of parent_id and display_name (both optional)")
    if not all(v is None or isinstance(v, str) for v in body.values()):
        raise UserInputError("parent_id and display_name are strings")
    store = hub().runs
    parent_id = body.get("parent_id")
    rec.check_experiment_name(experiment)
    if parent_id is None:
        kind, target, run_id = rec.INTERACTIVE, "local", None
    else:
        parent = store.get(parent_id)
        kind, target, run_id = rec.CHILD, parent.target, f"{parent_id}_{uuid.uuid4().hex[:8]}"
    record = store.create_run(
        experiment, kind=kind, target=target, run_id=run_id, parent_id=parent_id,
        display_name=body.get("display_name"), status=rec.RUNNING,
    )  # fmt: skip
    store.set_status(record.id, rec.RUNNING)
    return store.get(record.id)


ENDED_BY_CLIENT = frozenset({rec.INTERACTIVE, rec.CHILD})


@bp.post("/runs/<run_id>/status")
def end_run(run_id: str) -> Response:
    """End an interactive or child run: JSON ``{"status": "Completed"|"Failed", "error"?}``
    (``run.complete()``, ``run.fail()``); a submitted run's status belongs to its
    supervisor (409: cancel it instead)."""
    store = hub().runs
    record = store.get(run_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("status") not in (rec.COMPLETED, rec.FAILED):
        raise UserInputError('send {"status": "Completed" or "Failed", "error": {...}}')
    error = body.get("error")
    if error is not None and not isinstance(error, dict):
        raise UserInputError("error must be an object")
    if record.kind not in ENDED_BY_CLIENT:
        raise ConflictError(
            f"run {run_id} is a {record.kind} run: its supervisor records its end",
            hint="cancel it instead",
        )
    store.set_status(run_id, body["status"], error=error)
    return jsonify(_run_row(store.get(run_id).to_dict()))


def _run_row(data: dict[str, Any]) -> dict[str, Any]:
    data.pop("definition")
    return data


@bp.post("/runs/<run_id>/metrics")
def append_metrics(run_id: str) -> Response:
    """Append a batch of metric records (JSON lines: ``{"n", "k", "v", "s"?, "t", "d"?}``)."""
    store = hub().runs
    known_run(run_id)
    length = request.content_length
    if length is not None and length > MAX_METRICS_BYTES:
        raise streams.TooLargeError(f"a metrics batch is at most {MAX_METRICS_BYTES} bytes")
    data = streams.read_capped(request.stream, MAX_METRICS_BYTES, "a metrics batch")
    try:
        count = m.check_lines(data)
    except m.MetricValueError as exc:
        raise UserInputError(str(exc)) from None
    if count:
        m.append(store.metrics_file(run_id), data if data.endswith(b"\n") else data + b"\n")
    return jsonify({"appended": count})


@bp.post("/runs/<run_id>/files")
def upload_files(run_id: str) -> tuple[Response, int]:
    """Upload one file (``application/octet-stream``) as ``name``, or a folder (a tar)
    whose files land under ``name``; each file is written atomically."""
    store = hub().runs
    known_run(run_id)
    name = request.args.get("name", "")
    if not name:
        raise UserInputError("say where the upload goes: ?name=PATH")
    run_dir = store.run_dir(run_id)
    artifacts.artifact_path(run_dir, name)  # refuses names outside or reserved
    mimetype = request.mimetype or ""
    written: list[str] = []
    limit = streams.max_upload_bytes()
    with streams.upload_folder(hub().ws.path) as folder:
        if mimetype == "application/octet-stream":
            target = folder / "file"
            streams.receive(request.stream, target, request.content_length, limit)
            artifacts.write_atomic(artifacts.artifact_path(run_dir, name), target)
            written.append(name)
        elif mimetype in TAR_TYPES:
            archive = folder / ".upload.tar"
            streams.receive(request.stream, archive, request.content_length, limit)
            unpacked = folder / "unpacked"
            unpacked.mkdir()
            streams.unpack_tar(archive, unpacked, limit)
            for rel in artifacts.names(unpacked):
                dest = f"{name.rstrip('/')}/{rel}"
                artifacts.write_atomic(artifacts.artifact_path(run_dir, dest), unpacked / rel)
                written.append(dest)
        else:
            raise UserInputError(
                "upload a file as application/octet-stream or a folder as application/x-tar"
            )
    return jsonify({"items": written}), 201


def _str_map(body: dict[str, Any], key: str) -> dict[str, str | None]:
    value = body.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        raise UserInputError(f"{key} must be an object of strings")
    return value


@bp.patch("/runs/<run_id>")
def update_run(run_id: str) -> Response:
    """JSON body: ``add_tags`` {k: v}, ``remove_tags`` [k], ``add_properties`` {k: v}
    (properties are write-once: a key already set keeps its value)."""
    store = hub().runs
    known_run(run_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"add_tags", "remove_tags", "add_properties"}:
        raise UserInputError("send a JSON object of add_tags, remove_tags, add_properties")
    tags, props = _str_map(body, "add_tags"), _str_map(body, "add_properties")
    remove = body.get("remove_tags") or []
    if not isinstance(remove, list) or not all(isinstance(k, str) for k in remove):
        raise UserInputError("remove_tags must be a list of strings")
    if tags:
        store.update_json(run_id, "tags", tags)
    if remove:
        store.remove_tags(run_id, remove)
    if props:
        store.update_json(run_id, "properties", props, write_once=True)
    return jsonify(_run_row(store.get(run_id).to_dict()))


@bp.post("/runs/<run_id>/register")
def register_model(run_id: str) -> tuple[Response, int]:
    """Register a file or folder of the run's files as a new model version with the run
    as its lineage (``run.register_model``). JSON body: ``model_name``, ``model_path``,
    ``tags``, ``properties``, ``description``, ``model_framework``,
    ``model_framework_version``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("model_name"), str):
        raise UserInputError("send a JSON object with model_name (and model_path)")
    allowed = {
        "model_name",
        "model_path",
        "tags",
        "properties",
        "description",
        "model_framework",
        "model_framework_version",
    }
    if set(body) - allowed:
        raise UserInputError(f"unknown fields: {', '.join(sorted(set(body) - allowed))}")
    text = {k: body.get(k) for k in allowed - {"tags", "properties"}}
    if not all(v is None or isinstance(v, str) for v in text.values()):
        raise UserInputError("model_path, description and the framework fields are strings")
    record = register_from_run(  # 404 for an unknown run
        hub().ws,
        run_id,
        body["model_name"],
        text["model_path"],
        tags={k: str(v) for k, v in _str_map(body, "tags").items()},
        properties={k: str(v) for k, v in _str_map(body, "properties").items()},
        description=text["description"],
        model_framework=text["model_framework"],
        model_framework_version=text["model_framework_version"],
    )
    return jsonify(shown(record)), 201

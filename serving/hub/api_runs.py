"""Experiments and runs: list (paged, filtered, sorted), show, metrics (downsampled),
log (from an offset, for tailing), files (list, streamed download) and cancel."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file

from serving.errors import NotFoundError, UserInputError
from serving.hub import paging
from serving.hub.auth import known_run
from serving.hub.context import hub
from serving.hub.series import summary
from serving.runs import artifacts, control
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.records import RunRecord
from serving.runs.store import STD_LOG, SYSTEM_LOG

bp = Blueprint("runs", __name__)

SORTS = ("-created_at", "created_at")
LOGS = {"user": STD_LOG, "system": SYSTEM_LOG}
MAX_LOG_BYTES = 1024 * 1024
DEFAULT_MAX_POINTS = 1000
CANCEL_WAIT_S = 10.0
"""How long cancel waits for the run to end before answering with its status so far."""


@bp.get("/experiments")
def list_experiments() -> Response:
    return jsonify({"items": hub().runs.experiments()})


def _run_row(record: RunRecord) -> dict[str, Any]:
    data = record.to_dict()
    data.pop("definition")
    return data


@bp.get("/runs")
def list_runs() -> Response:
    """Top-level runs by default; ``parent`` lists a run's children instead, and
    ``children=true`` every run, children included (v1's ``include_children``)."""
    args = request.args
    status = args.get("status")
    if status is not None and status not in rec.STATUSES:
        raise UserInputError(f"unknown status {status!r}: use one of {', '.join(rec.STATUSES)}")
    sort = args.get("sort", SORTS[0])
    if sort not in SORTS:
        raise UserInputError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
    after = None
    if args.get("after"):
        key = paging.decode(args["after"])
        if len(key) != 3 or not isinstance(key[1], int):
            raise UserInputError("the page token (after) is not one this server gave")
        after = (str(key[0]), key[1], str(key[2]))
    limit = paging.limit_arg(args)
    parent = args.get("parent")
    found = hub().runs.list(
        experiment=args.get("experiment"),
        parent_id=parent,
        top_level=parent is None and not paging.bool_arg(args, "children"),
        status=status,
        target=args.get("target") or None,
        limit=limit + 1,
        after=after,
        oldest_first=sort == "created_at",
    )
    page = found[:limit]
    token = None
    if len(found) > limit:
        last = page[-1]
        token = paging.encode([last.created_at, last.number, last.id])
    return jsonify({"items": [_run_row(r) for r in page], "next": token})


@bp.get("/runs/<run_id>")
def show_run(run_id: str) -> Response:
    store = hub().runs
    record = store.find(run_id)
    data = record.to_dict()
    data["children"] = [child.id for child in store.list(parent_id=run_id)]
    return jsonify(data)


_READERS: OrderedDict[tuple[Path, str | None], tuple[threading.Lock, m.SeriesReader]] = (
    OrderedDict()
)
_READERS_LOCK = threading.Lock()
MAX_READERS = 8
"""Metrics files kept parsed per worker (the charts being looked at): a refreshed chart
reads only what its run appended since; the least recently used is dropped."""


def _reader(path: Path, name: str | None) -> tuple[threading.Lock, m.SeriesReader]:
    key = (path, name)
    with _READERS_LOCK:
        found = _READERS.get(key)
        if found is None:
            found = _READERS[key] = (threading.Lock(), m.SeriesReader(path, name))
            while len(_READERS) > MAX_READERS:
                _READERS.popitem(last=False)
        _READERS.move_to_end(key)
        return found


@bp.get("/runs/<run_id>/metrics")
def run_metrics(run_id: str) -> Response:
    """Numeric series downsampled to ``max_points`` each (min, max and last kept); other
    metrics (strings, rows, tables, images) in v1's ``get_metrics()`` shapes. With
    ``all_values=true`` ``values`` holds every name's ``get_metrics()`` shape, exactly as a
    folder's (the remote ``run.get_metrics()``: a one-item list stays a list, a name
    logged as text and as numbers keeps both); the whole file is read for it."""
    store = hub().runs
    known_run(run_id)
    max_points = paging.int_arg(request.args, "max_points", DEFAULT_MAX_POINTS, 3, 100_000)
    path = store.metrics_file(run_id)
    name = request.args.get("name")
    every = m.read_metrics(path, name) if paging.bool_arg(request.args, "all_values") else None
    lock, reader = _reader(path, name)
    with lock:  # the reader's lists grow under it: use them before letting go
        found, values = reader.read()
        series = {key: summary(points, max_points) for key, points in found.items()}
        return jsonify({"series": series, "values": values if every is None else every})


@bp.get("/runs/<run_id>/log")
def run_log(run_id: str) -> Response:
    """Bytes of the run's log from ``offset`` (at most 1 MiB, cut after a newline when
    more follows); ``next_offset`` is where the next call starts, ``ended`` tells the
    tailer it can stop once it reached the end."""
    store = hub().runs
    record = known_run(run_id)
    which = request.args.get("which", "user")
    if which not in LOGS:
        raise UserInputError(f"unknown log {which!r}: use user or system")
    offset = paging.int_arg(request.args, "offset", 0, 0, 2**62)
    path = store.run_dir(run_id) / LOGS[which]
    data = b""
    size = path.stat().st_size if path.is_file() else 0
    if offset < size:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(MAX_LOG_BYTES)
        if offset + len(data) < size and b"\n" in data:
            data = data[: data.rindex(b"\n") + 1]
        if not (record.terminal and offset + len(data) >= size):
            data = _whole_characters(data)  # the rest comes with the next call
    return jsonify(
        {
            "offset": offset,
            "next_offset": offset + len(data),
            "size": size,
            "text": data.decode("utf-8", errors="replace"),
            "ended": record.terminal and offset + len(data) >= size,
        }
    )


def _whole_characters(data: bytes) -> bytes:
    """``data`` without a UTF-8 character cut at its end (the log's writer is midway, or
    the read stopped at its limit): decoded as is, both halves would become U+FFFD."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # the last character's first byte: is it all there?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


@bp.get("/runs/<run_id>/files")
def run_files(run_id: str) -> Response:
    store = hub().runs
    known_run(run_id)
    folder = store.run_dir(run_id)
    items = [
        {"name": name, "size_bytes": (folder / name).stat().st_size}
        for name in artifacts.names(folder)
    ]
    return jsonify({"items": items})


@bp.get("/runs/<run_id>/file")
def run_file(run_id: str) -> Response:
    """One file of the run, streamed; ``name`` is its path as ``files`` lists it (a query
    argument, since names hold '/'). As ``files``, it never follows a symbolic link: a run's
    script could leave ``outputs/x -> /etc/...`` for any token holder to read."""
    name = request.args.get("name", "")
    if not name:
        raise UserInputError("say which file: ?name=PATH (see the run's files)")
    store = hub().runs
    known_run(run_id)
    folder = store.run_dir(run_id)
    path = artifacts.artifact_path(folder, name)
    inside = folder.resolve() / path.relative_to(folder)
    if not path.is_file() or path.resolve() != inside:
        raise NotFoundError(f"run {run_id} has no file {name}")
    return send_file(
        path, mimetype="application/octet-stream", as_attachment=True, download_name=path.name
    )


@bp.post("/runs/<run_id>/cancel")
def cancel_run(run_id: str) -> Response:
    """Cancel the run and its children; answers once it ended or after a short wait
    (its status is then CancelRequested, and the supervisor finishes the job)."""
    store = hub().runs
    store.get(run_id)
    control.cancel(store, run_id, wait_s=CANCEL_WAIT_S)
    return jsonify(_run_row(store.get(run_id)))

"""Studio pages of endpoints: the list with state and replicas; one endpoint with its
models, keys hidden until asked (a POST with the CSRF value, read-write tokens only), a
test form and the latest load-test report.

The test form's body starts as the example of the endpoint's swagger document (what
``serving loadtest`` sends, :func:`serving.loadtest.target.fetch_example`); the POST is
sent by this server to the scoring URI the registry holds (never a URL from the form), with
the endpoint's key, and the answer is shown.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import requests
from flask import Blueprint, abort, render_template, request, send_file
from werkzeug.wrappers import Response

from serving import httpclient
from serving.deploy import service
from serving.errors import ServingError
from serving.hub.context import hub
from serving.hub.studio import guard, loadtests
from serving.loadtest.target import TIMEOUT_S, Target, fetch_example, resolve_target

bp = Blueprint("endpoints", __name__)

MAX_BODY = 64 * 1024
MAX_ANSWER = 64 * 1024
ANSWER_S = 60.0
"""The most seconds the test form waits for a whole answer (each read: ``TIMEOUT_S``)."""


EXAMPLE_TIMEOUT_S = 5.0
"""How long the endpoint page waits for the swagger example (a hung endpoint must not hold
the page for the load tester's 30 s)."""


@bp.get("/endpoints")
def endpoints() -> str:
    records = service.observe_all(hub().ws)
    return render_template("studio/endpoints.html", endpoints=records)


def _example(target: Target | None) -> tuple[str, str | None]:
    if target is None:
        return "", "the endpoint has no scoring URI"
    try:
        return fetch_example(target, EXAMPLE_TIMEOUT_S).decode("utf-8", errors="replace"), None
    except ServingError as exc:
        return "", exc.one_line()


def _target(name: str) -> Target | None:
    try:
        return resolve_target(name, workspace=hub().ws)
    except ServingError:
        return None


def _page(name: str, target: Target | None, **extra: Any) -> str:
    ws = hub().ws
    record = service.observe(ws, name)
    body = extra.pop("body", None)
    example_error = None
    if body is None and record.state == "Healthy":
        body, example_error = _example(target)
    elif body is None:
        body, example_error = "", f"the endpoint is {record.state}"
    return render_template(
        "studio/endpoint.html",
        endpoint=record,
        replicas=service.replicas(ws, name),
        body=body,
        example_error=example_error,
        report=loadtests.latest(name, ws.path),
        **({"keys": None, "answer": None} | extra),
    )


@bp.get("/endpoints/<name>")
def endpoint(name: str) -> str:
    return _page(name, _target(name))


@bp.post("/endpoints/<name>/keys")
def reveal_keys(name: str) -> str:
    guard.require_write(f"read the keys of endpoint {name}")
    return _page(name, _target(name), keys=list(hub().ws.endpoints.get(name).keys))


@bp.post("/endpoints/<name>/test")
def test(name: str) -> str:
    guard.require_write(f"send requests to endpoint {name}")
    hub().ws.endpoints.get(name)
    target = _target(name)
    body = request.form.get("body", "")
    if len(body.encode("utf-8")) > MAX_BODY:
        answer = {"error": f"the body is over {MAX_BODY // 1024} KiB: use serving loadtest"}
        return _page(name, target, body=body[:MAX_BODY], answer=answer)
    if target is None:
        return _page(name, target, body=body, answer={"error": "the endpoint has no scoring URI"})
    if not body.strip():
        body, error = _example(target)
        if error:
            return _page(name, target, body=body, answer={"error": error})
    return _page(name, target, body=body, answer=_send(target, body))


def _send(target: Target, body: str) -> dict[str, Any]:
    """POST ``body`` to the endpoint; at most :data:`MAX_ANSWER` bytes of the answer are
    read, within :data:`ANSWER_S` in all (a slow or endless answer cannot hold a worker)."""
    try:
        response = httpclient.request(
            "POST",
            target.scoring_uri,
            data=body.encode("utf-8"),
            headers=target.headers(),
            timeout=TIMEOUT_S,
            allow_redirects=False,
            stream=True,
        )
        with response:
            raw, cut = _read_bounded(response)
    except OSError as exc:  # requests' errors are OSErrors
        return {"error": f"cannot reach {target.scoring_uri}: {type(exc).__name__}"}
    text = raw.decode(response.encoding or "utf-8", errors="replace")
    if cut:
        text += f"\n… (answer cut at {MAX_ANSWER} bytes)"
    else:
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), indent=2)[:MAX_ANSWER]
    return {"status": response.status_code, "text": text}


def _read_bounded(response: requests.Response) -> tuple[bytes, bool]:
    """The answer's first :data:`MAX_ANSWER` bytes, and whether it had more (or did not
    end within :data:`ANSWER_S`)."""
    deadline = time.monotonic() + ANSWER_S
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER or time.monotonic() > deadline:
            return b"".join(chunks)[:MAX_ANSWER], True
    return b"".join(chunks), False


@bp.get("/endpoints/<name>/loadtest-chart.png")
def loadtest_chart(name: str) -> Response:
    report = loadtests.latest(name, hub().ws.path)
    if report is None or report.chart is None:
        abort(404)
    return send_file(report.chart, mimetype="image/png", max_age=60)

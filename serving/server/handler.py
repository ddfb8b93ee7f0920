"""The per-request path of the scoring server, as a WSGI layer in front of Flask.

Every request passes here once: request ids (431), bearer keys (401), the response headers
of the contract, metrics and the access line. ``GET``/``POST /score`` in the plain and
inference-schema modes is answered right here from the WSGI environ: building Flask's
request and app contexts, routing and response objects costs more per request than
scoring a small model, and this path is the one clients hammer. Everything else (the
rawhttp mode, ``OPTIONS``, swagger, health, metrics, unknown routes) goes to the Flask app.
The Open Inference Protocol routes (``/v2...``, :mod:`serving.server.v2`) are answered here
too, all of them: ``POST .../infer`` is hammered like ``/score``, and the others are small.
Both ``/score`` routes adapt the request and call
:func:`serving.server.outcome.score_outcome`; every error is encoded by
:func:`serving.server.http.error_outcome`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.datastructures import EnvironHeaders
from werkzeug.wsgi import get_input_stream

from serving.config import ServerSettings
from serving.scoring import InputMode, Scorer, ScoringError, ScoringInput, parse_query_string
from serving.scoring.batching import BatchingModel
from serving.scoring.batching_submit import batched_nocode, submit_score
from serving.server.deferred import DEFER, Deferred, Pending
from serving.server.http import (
    INTERNAL_ERROR,
    IdGenerator,
    KeyChecker,
    Outcome,
    RequestIds,
    Triple,
    error_outcome,
    read_ids,
)
from serving.server.logs import ACCESS_LOGGER, direct_access_handler
from serving.server.metrics import ServerMetrics
from serving.server.outcome import failure_outcome, result_outcome, score_outcome, too_large
from serving.server.v2 import OPEN_ROUTES, V2Route, V2Routes, is_v2_path, parse_route, v2_error

_log = logging.getLogger("serving.server")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

UNAUTHORIZED = "Unauthorized: send a valid key as 'Authorization: Bearer <key>'."

SCORE_METHODS = "GET, OPTIONS, POST"
"""Methods of ``/score`` in the plain and schema modes (the ``Allow`` of its 405s)."""
RAWHTTP_METHODS = "GET, HEAD, OPTIONS, POST"
"""Methods of ``/score`` in the rawhttp mode (its Flask route's)."""

ROUTES = frozenset({"/", "/score", "/swagger.json", "/health/live", "/health/ready", "/metrics"})
PROTECTED = frozenset({"/score", "/swagger.json"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_READ_CHUNK = 1 << 16


def status_line(code: int) -> str:
    """``"200 OK"`` for 200."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


CLOSE_CONNECTION = "serving.close_connection"
"""Environ key read by :class:`serving.server.worker.KeepAliveWorker`: close after responding."""

_STATUS = {
    code: status_line(code) for code in (200, 400, 401, 404, 405, 413, 415, 431, 500, 503, 504)
}


class _TooLarge(Exception):
    pass


class RequestHandler:
    """WSGI callable wrapping the Flask app (``app.wsgi_app``)."""

    def __init__(
        self,
        settings: ServerSettings,
        scorer: Scorer,
        flask_app: WSGIApp,
        metrics: ServerMetrics,
        static_headers: list[tuple[str, str]],
        v2: V2Routes,
    ) -> None:
        self.scorer = scorer
        self.v2 = v2
        # fixed once create_app has called install_batching (before building this):
        self.batching = isinstance(scorer.tensor_model, BatchingModel)
        self.batched = batched_nocode(scorer)
        self.flask_app = flask_app
        self.metrics = metrics
        self.static_headers = static_headers
        self.fast_score = scorer.mode is not InputMode.RAWHTTP
        self.max_body = settings.max_body_bytes
        self.keys = KeyChecker(settings.keys, settings.keys_file, required=settings.auth == "key")
        self.new_id = IdGenerator()
        self.access_log = logging.getLogger(ACCESS_LOGGER) if settings.access_log else None
        if self.access_log is not None and self.access_log.getEffectiveLevel() > logging.INFO:
            self.access_log.setLevel(logging.INFO)  # the toggle is settings.access_log
        self.access_direct = direct_access_handler(self.access_log) if self.access_log else None
        origins = (settings.cors_origins or "").split(",")
        self.cors = frozenset(o.strip() for o in origins if o.strip())

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        start = time.perf_counter()
        path = environ.get("PATH_INFO", "")
        v2_route = parse_route(path) if is_v2_path(path) else None
        if v2_route is not None:
            route = v2_route.label
        else:
            route = path if path in ROUTES else "<unmatched>"
        ids = read_ids(environ, self.new_id)
        if not isinstance(ids, RequestIds):
            return self._send(environ, start_response, error_outcome(431, ids), None, start, route)
        try:
            result = self._answer(environ, path, v2_route)
        except OSError:
            raise  # the client went away mid-body: the server closes the connection quietly
        except Exception:
            _log.exception("Unexpected error serving %s %s", environ["REQUEST_METHOD"], path)
            result = error_outcome(500, INTERNAL_ERROR)
        if isinstance(result, Pending):
            pending = result
            return Deferred(  # type: ignore[return-value]  # only to a worker that set DEFER
                pending.item,
                lambda: self._finish(environ, start_response, pending, ids, start, route),
            )
        if result is None:
            return self._delegate(environ, start_response, ids, start, route)
        return self._send(environ, start_response, result, ids, start, route)

    def _answer(
        self, environ: dict[str, Any], path: str, v2_route: V2Route | None
    ) -> Outcome | Pending | None:
        if self.batching and environ.get(DEFER):
            result = self._submit(environ, path, v2_route)
            if result is not None:
                return result
        return self._v2(environ, path, v2_route) if v2_route else self._route(environ, path)

    def _submit(
        self, environ: dict[str, Any], path: str, v2_route: V2Route | None
    ) -> Outcome | Pending | None:
        """A batchable request queued on the batcher (see :mod:`serving.server.deferred`),
        its answer now (an error), or None to serve it synchronously (nothing was read)."""
        method = environ["REQUEST_METHOD"]
        if v2_route is not None:
            if v2_route.kind != "infer" or method != "POST" or not self._authorized(environ):
                return None
            try:
                return self.v2.submit(environ, v2_route, lambda: self._read_body(environ))
            except _TooLarge:
                return self._v2_too_large(environ)
        if path != "/score" or not self.fast_score or method not in ("POST", "GET"):
            return None
        batched = self.batched
        if batched is None or not self._authorized(environ):
            return None
        inp = self._scoring_input(environ, method)
        if not isinstance(inp, ScoringInput):
            return inp
        try:
            scoring = submit_score(batched, self.scorer, inp)
        except ScoringError as exc:
            return failure_outcome(exc, self.max_body, rawhttp=False)
        return Pending(
            scoring.item,
            lambda: result_outcome(scoring.result, self.metrics, self.max_body, rawhttp=False),
        )

    def _finish(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        pending: Pending,
        ids: RequestIds,
        start: float,
        route: str,
    ) -> Iterable[bytes]:
        """The second half of a batched request: its response, as :meth:`__call__` sends."""
        try:
            result = pending.outcome()
        except Exception:
            _log.exception("Unexpected error serving %s %s", environ["REQUEST_METHOD"], route)
            result = error_outcome(500, INTERNAL_ERROR)
        return self._send(environ, start_response, result, ids, start, route)

    def _authorized(self, environ: dict[str, Any]) -> bool:
        return not self.keys.enabled or self.keys.allows(environ.get("HTTP_AUTHORIZATION"))

    def _route(self, environ: dict[str, Any], path: str) -> Outcome | None:
        """Answer here, or None to hand the request to Flask."""
        # PROTECTED first: health checks and /metrics need no stat of the keys file
        if path in PROTECTED and not self._authorized(environ):
            result = error_outcome(401, UNAUTHORIZED)
            result[1].append(("WWW-Authenticate", "Bearer"))
            return result
        if path != "/score":
            return None
        method = environ["REQUEST_METHOD"]
        if self.fast_score and method in ("POST", "GET"):
            return self._score(environ, method)
        if _content_length(environ) > self.max_body:
            return self._too_large(environ)
        return None

    # -- responses ----------------------------------------------------------------------

    def _headers(self, environ: dict[str, Any], ids: RequestIds | None) -> list[tuple[str, str]]:
        headers = list(self.static_headers)
        if ids is not None:
            headers.append(("x-request-id", ids.request_id))
            headers.append(("x-ms-request-id", ids.legacy_id))
            if ids.client_id:
                headers.append(("x-ms-client-request-id", ids.client_id))
        trace_id = environ.get("HTTP_TRACEID")
        if trace_id:
            headers.append(("TraceId", trace_id))
        if self.cors:
            headers.extend(self._cors(environ))
        return headers

    def _send(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        result: Outcome,
        ids: RequestIds | None,
        start: float,
        route: str,
    ) -> Iterable[bytes]:
        if not isinstance(result, tuple):  # a response object returned by run()
            return self._delegate(environ, start_response, ids, start, route, app=result)
        status, headers, body = result
        headers.extend(self._headers(environ, ids))
        if status == 405:
            self._allow(headers, route)
        start_response(_STATUS.get(status) or status_line(status), headers)
        self._record(environ, ids, route, status, start)
        return body

    def _delegate(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        ids: RequestIds | None,
        start: float,
        route: str,
        app: WSGIApp | None = None,
    ) -> Iterable[bytes]:
        seen: list[int] = []

        def add_headers(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.append(int(status[:3]))
            headers.extend(self._headers(environ, ids))
            if seen[-1] == 405:
                self._allow(headers, route)
            return start_response(status, headers, exc_info)

        body = (app or self.flask_app)(environ, add_headers)
        self._record(environ, ids, route, seen[0] if seen else 500, start)
        return body

    def _record(
        self, environ: dict[str, Any], ids: RequestIds | None, route: str, status: int, start: float
    ) -> None:
        seconds = time.perf_counter() - start
        method = environ["REQUEST_METHOD"]
        self.metrics.observe_request(route, method, status, seconds)
        if self.access_log is not None:
            line = (
                f'{{"request_id": "{_json_safe(ids.request_id) if ids is not None else ""}", '
                f'"method": "{method}", "route": "{route}", "status": {status}, '
                f'"duration_ms": {seconds * 1000.0:.3f}}}'
            )
            if self.access_direct is not None:
                self.access_direct.line(line)
            else:
                self.access_log.info("%s", line)

    def _allow(self, headers: list[tuple[str, str]], route: str) -> None:
        """Every 405 says which methods the route takes (RFC 9110, 15.5.6)."""
        if route == "/score":  # run() decides, not the Flask route: one list for both paths
            headers[:] = [(k, v) for k, v in headers if k.lower() != "allow"]
            headers.append(("Allow", SCORE_METHODS if self.fast_score else RAWHTTP_METHODS))
        elif not any(name.lower() == "allow" for name, _ in headers):
            headers.append(("Allow", "GET, HEAD, OPTIONS"))

    def _cors(self, environ: dict[str, Any]) -> list[tuple[str, str]]:
        origin = environ.get("HTTP_ORIGIN")
        if not origin or ("*" not in self.cors and origin not in self.cors):
            return []
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if environ["REQUEST_METHOD"] == "OPTIONS":
            requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "*"
            headers.append(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
            headers.append(("Access-Control-Allow-Headers", requested))
        return headers

    def _too_large(self, environ: dict[str, Any]) -> Triple:
        environ[CLOSE_CONNECTION] = True  # do not read (or drain) the rest of a huge body
        return too_large(self.max_body)

    # -- /v2 ----------------------------------------------------------------------------

    def _v2(self, environ: dict[str, Any], path: str, route: V2Route) -> Triple:
        """A V2 route: the key (except on the server health routes), then the answer."""
        if path not in OPEN_ROUTES and not self._authorized(environ):
            status, headers, body = v2_error(401, UNAUTHORIZED)
            headers.append(("WWW-Authenticate", "Bearer"))
            return status, headers, body
        try:
            return self.v2.answer(environ, route, lambda: self._read_body(environ))
        except _TooLarge:
            return self._v2_too_large(environ)

    def _v2_too_large(self, environ: dict[str, Any]) -> Triple:
        environ[CLOSE_CONNECTION] = True
        return v2_error(413, f"Request body is larger than the limit of {self.max_body} bytes.")

    # -- /score -------------------------------------------------------------------------

    def _score(self, environ: dict[str, Any], method: str) -> Outcome:
        """The fast path's adapter: the WSGI environ as a scoring input."""
        inp = self._scoring_input(environ, method)
        if not isinstance(inp, ScoringInput):
            return inp
        return score_outcome(self.scorer, inp, self.metrics, self.max_body)

    def _scoring_input(self, environ: dict[str, Any], method: str) -> ScoringInput | Triple:
        """The request as a scoring input, or the 413 of a body over the limit."""
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        body = b""
        if method == "POST" and mimetype not in _FORM_TYPES:
            try:
                body = self._read_body(environ)
            except _TooLarge:
                return self._too_large(environ)
        query = parse_query_string(environ.get("QUERY_STRING", "")) if method == "GET" else None
        return ScoringInput(
            method,
            body,
            mimetype == "application/json"
            or (mimetype.startswith("application/") and mimetype.endswith("+json")),
            query,
            EnvironHeaders(environ),
        )

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        length = _content_length(environ)
        if length > self.max_body:
            raise _TooLarge()
        if length >= 0:
            return environ["wsgi.input"].read(length) if length else b""
        stream = get_input_stream(environ, safe_fallback=True, max_content_length=None)
        chunks: list[bytes] = []
        size = 0
        while chunk := stream.read(_READ_CHUNK):
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge()
            chunks.append(chunk)
        return b"".join(chunks)


def _content_length(environ: dict[str, Any]) -> int:
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return -1
    try:
        return max(int(raw), 0)
    except ValueError:
        return -1


def _json_safe(text: str) -> str:
    if '"' in text or "\\" in text or not text.isprintable():
        return json.dumps(text)[1:-1]
    return text

"""The Flask app of the scoring server (Azure ML v1 HTTP contract, section 2).

:func:`create_app` only wires things together: the loaded :class:`~serving.scoring.Scorer`
does the scoring, :class:`~serving.server.handler.RequestHandler` (installed as the app's
``wsgi_app``) does the per-request work and serves ``/score`` in the plain and schema
modes, and the Flask routes here serve the rest. Nothing happens at import.
"""

from __future__ import annotations

import logging
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from serving.config import ServerSettings
from serving.scoring import (
    InputMode,
    RunFailedError,
    Scorer,
    ScoringError,
    ScoringInput,
    decode_json,
)
from serving.server.handler import RequestHandler, wrap_result
from serving.server.http import FAILED_HEADER, INTERNAL_ERROR, error_response, json_response
from serving.server.metrics import CONTENT_TYPE, ServerMetrics
from serving.server.swagger import SwaggerDocs, SwaggerNotFound, build_swagger

_log = logging.getLogger("serving.server")


def server_version() -> str:
    """The value of ``x-ms-server-version``."""
    try:
        return f"serving/{metadata.version('serving')}"
    except metadata.PackageNotFoundError:
        return "serving"


class _Views:
    """The Flask views; one instance per app."""

    def __init__(self, settings: ServerSettings, scorer: Scorer, metrics: ServerMetrics) -> None:
        self.scorer = scorer
        self.metrics = metrics
        self.max_body = settings.max_body_bytes
        self.swagger: SwaggerDocs = build_swagger(
            scorer.script.run,
            Path(settings.app_root),
            title=settings.service_name,
            service_version=settings.service_version,
            path_prefix=settings.service_path_prefix,
            auth=settings.auth == "key",
        )

    def score(self) -> Response:
        """``/score`` requests the handler did not answer: rawhttp mode, OPTIONS."""
        if request.method == "OPTIONS" and self.scorer.mode is not InputMode.RAWHTTP:
            response = Response(b"", 200)
            response.headers[FAILED_HEADER] = "False"
            return response
        inp = ScoringInput(request.method, headers=request.headers, raw=request)
        try:
            result = self.scorer.score(inp)
        except RunFailedError as exc:
            if isinstance(exc.__cause__, RequestEntityTooLarge):
                return error_response(
                    413, f"Request body is larger than the limit of {self.max_body} bytes."
                )
            cause = exc.__cause__
            if isinstance(cause, HTTPException) and 400 <= (cause.code or 500) < 500:
                # the request object refused the request, e.g. request.get_json() on bad JSON
                return error_response(cause.code or 400, cause.description or cause.name)
            _log.error("run() raised an exception", exc_info=exc.__cause__)
            return error_response(exc.http_status, exc.message, run_failed=True)
        except ScoringError as exc:
            if exc.run_failed:
                _log.warning("%s", exc.message)
            return error_response(exc.http_status, exc.message, run_failed=exc.run_failed)
        self.metrics.observe_scoring(result.elapsed_ms / 1000.0)
        wrapped = wrap_result(result.value, ("x-ms-run-fn-exec-ms", f"{result.elapsed_ms:.3f}"))
        if isinstance(wrapped, tuple):
            status, headers, body = wrapped
            return Response(body, status, headers)
        return wrapped  # type: ignore[return-value]

    def swagger_json(self) -> Response:
        """``/swagger.json?version=``: the user's file or the generated document."""
        try:
            doc = self.swagger.get(request.args.get("version", "2"))
        except SwaggerNotFound as exc:
            return error_response(404, str(exc))
        return json_response(doc)

    def ready(self) -> Response:
        """200 once init() has completed in this worker, else 503."""
        if self.scorer.ready:
            return json_response({"status": "ready"}, run_failed=None)
        return json_response({"message": "init() has not completed"}, 503, run_failed=None)

    def live(self) -> Response:
        """200 while the process serves requests."""
        return json_response({"status": "live"}, run_failed=None)

    def metrics_text(self) -> Response:
        """Prometheus text of all workers."""
        return Response(self.metrics.render(), content_type=CONTENT_TYPE)


def create_app(settings: ServerSettings, scorer: Scorer) -> Flask:
    """The scoring app for a loaded scorer (whose init() the caller runs).

    Routes: ``/`` (Healthy), ``/score``, ``/swagger.json``, ``/health/live``,
    ``/health/ready`` and ``/metrics``. Errors are ``{"message": ...}`` JSON.
    """
    app = Flask("serving.server")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = _JSONProvider(app)
    metrics = ServerMetrics()
    views = _Views(settings, scorer, metrics)
    app.add_url_rule("/", "health", lambda: "Healthy", methods=["GET"])
    app.add_url_rule(
        "/score",
        "score",
        views.score,
        methods=["GET", "POST", "OPTIONS"],
        provide_automatic_options=False,
    )
    app.add_url_rule("/swagger.json", "swagger", views.swagger_json, methods=["GET"])
    app.add_url_rule("/health/live", "live", views.live, methods=["GET"])
    app.add_url_rule("/health/ready", "ready", views.ready, methods=["GET"])
    app.add_url_rule("/metrics", "metrics", views.metrics_text, methods=["GET"])
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    static = [("x-serving-replica", settings.replica_id or socket.gethostname())]
    if settings.version_header:
        static.append(("x-ms-server-version", server_version()))
    handler = RequestHandler(settings, scorer, app.wsgi_app, metrics, static)
    app.wsgi_app = handler  # type: ignore[method-assign]
    app.extensions["serving"] = handler
    return app


class _JSONProvider(DefaultJSONProvider):
    """``request.get_json()`` in rawhttp scripts: JSON nested too deeply is bad JSON (400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return decode_json(s, **kwargs)


def _http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        return error_response(413, "Request body is larger than the configured limit.")
    response = error_response(exc.code or 500, exc.description or exc.name)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _unexpected_error(exc: Exception) -> Response:
    _log.error("Unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, INTERNAL_ERROR)

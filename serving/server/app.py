"""The Flask app of the scoring server (Azure ML v1 HTTP contract, section 2).

:func:`create_app` only wires things together: the loaded :class:`~serving.scoring.Scorer`
does the scoring, :class:`~serving.server.handler.RequestHandler` (installed as the app's
``wsgi_app``) does the per-request work and serves ``/score`` in the plain and schema
modes, and the Flask routes here serve the rest. The ``/score`` view, like the handler,
only adapts the request for :func:`~serving.server.outcome.score_outcome`; errors are
encoded by :func:`~serving.server.http.error_outcome`. Nothing happens at import.
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
from werkzeug.wrappers import Response as BaseResponse

from serving.config import ServerSettings
from serving.scoring import Scorer, ScoringInput, decode_json
from serving.scoring.batching import install_batching
from serving.scoring.tensors import TensorSpec
from serving.server.handler import RequestHandler
from serving.server.http import INTERNAL_ERROR, as_response, error_outcome, json_response
from serving.server.metrics import CONTENT_TYPE, ServerMetrics
from serving.server.outcome import score_outcome
from serving.server.swagger import SwaggerDocs, SwaggerNotFound, build_swagger
from serving.server.v2 import V2Routes

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
            tensor_inputs=_nocode_inputs(settings, scorer),
        )

    def score(self) -> BaseResponse:
        """``/score`` requests the handler did not answer: rawhttp mode, OPTIONS."""
        inp = ScoringInput(request.method, headers=request.headers, raw=request)
        return as_response(score_outcome(self.scorer, inp, self.metrics, self.max_body))

    def swagger_json(self) -> BaseResponse:
        """``/swagger.json?version=``: the user's file or the generated document."""
        try:
            doc = self.swagger.get(request.args.get("version", "2"))
        except SwaggerNotFound as exc:
            return as_response(error_outcome(404, str(exc)))
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
    ``/health/ready`` and ``/metrics``. Errors are ``{"message": ...}`` JSON. The handler
    also answers the Open Inference Protocol routes (``/v2...``, :mod:`serving.server.v2`;
    errors ``{"error": ...}``), which need a tensor model (no-code, or ``run_v2``).
    """
    app = Flask("serving.server")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = _JSONProvider(app)
    metrics = ServerMetrics()
    install_batching(scorer, settings, metrics.registry)  # wraps scorer.tensor_model if on
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
    v2 = V2Routes(scorer, metrics, server_version())
    handler = RequestHandler(settings, scorer, app.wsgi_app, metrics, static, v2)
    app.wsgi_app = handler  # type: ignore[method-assign]
    app.extensions["serving"] = handler
    return app


def _nocode_inputs(settings: ServerSettings, scorer: Scorer) -> tuple[TensorSpec, ...] | None:
    """A no-code deployment's model inputs, which its ``/score`` swagger describes."""
    if settings.nocode_framework and scorer.tensor_model is not None:
        return tuple(scorer.tensor_model.inputs)
    return None


class _JSONProvider(DefaultJSONProvider):
    """``request.get_json()`` in rawhttp scripts: JSON nested too deeply is bad JSON (400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return decode_json(s, **kwargs)


def _http_error(exc: HTTPException) -> BaseResponse:
    if isinstance(exc, RequestEntityTooLarge):
        return as_response(error_outcome(413, "Request body is larger than the configured limit."))
    response = as_response(error_outcome(exc.code or 500, exc.description or exc.name))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _unexpected_error(exc: Exception) -> BaseResponse:
    _log.error("Unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return as_response(error_outcome(500, INTERNAL_ERROR))

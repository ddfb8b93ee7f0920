"""The Open Inference Protocol (V2) routes of a deployment with a tensor model.

``GET /v2`` (server metadata), ``/v2/health/live``, ``/v2/health/ready``,
``/v2/models/{name}[/versions/{version}]`` (model metadata) and its ``/ready``, and
``POST .../infer``. All are answered by :class:`~serving.server.handler.RequestHandler`
straight from the WSGI environ, like ``/score``'s fast path: Flask's request and response
objects would cost more than inferring a small model. Bodies are always JSON, errors
``{"error": message}``: 400 bad input, 404 unknown route, model or version (and every
``/v2`` route of a deployment without a tensor model: it does not speak V2), 405 with
``Allow``, 503 before ``init()`` completed (health bodies included: ``{"ready": false}``),
500 when the model fails (the traceback goes to the log, not to the client). Tensors are
decoded and encoded by :mod:`serving.server.v2_codec`; the model is touched only by one
``model.infer(feeds)`` per request, which a batcher may wrap.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from serving.scoring import Scorer, ScoringError
from serving.scoring.batching import BatchingModel
from serving.scoring.tensors import TensorModel
from serving.server.deferred import Pending
from serving.server.http import JSON_TYPE, Triple
from serving.server.metrics import ServerMetrics
from serving.server.v2_codec import HEADER_LENGTH, V2Error, conform, decode_request, encode_response

_log = logging.getLogger("serving.server")

OPEN_ROUTES = frozenset({"/v2/health/live", "/v2/health/ready"})
"""V2 paths answered without a key (like ``/health/*``); every other ``/v2`` path needs one
when the endpoint checks keys."""
EXTENSIONS = ("binary_tensor_data",)
_GET = "GET, HEAD, OPTIONS"
_POST = "OPTIONS, POST"
_METHODS = {_GET: frozenset({"GET", "HEAD"}), _POST: frozenset({"POST"})}
_ENVIRON_HEADER_LENGTH = "HTTP_" + HEADER_LENGTH.upper().replace("-", "_")
NO_V2 = (
    "This deployment does not serve the Open Inference Protocol: its score.py defines no "
    "run_v2 (see serving.scoring.v2_script) and it is not a no-code deployment."
)
MODEL_FAILED = "The model failed on this request. Check the server log for more info."


def is_v2_path(path: str) -> bool:
    """``/v2`` or a path under it."""
    return path.startswith("/v2") and (len(path) == 3 or path[3] == "/")


class V2Route(NamedTuple):
    """A parsed V2 path: what it asks for, of which model and version."""

    kind: str
    """``server``, ``live``, ``ready``, ``model``, ``model_ready``, ``infer`` or ``unknown``."""
    label: str
    """The metrics and access-log route: the path with the model and version left out."""
    model: str = ""
    version: str | None = None


_UNKNOWN = V2Route("unknown", "<unmatched>")
_FIXED = {
    "/v2": V2Route("server", "/v2"),
    "/v2/": V2Route("server", "/v2"),
    "/v2/health/live": V2Route("live", "/v2/health/live"),
    "/v2/health/ready": V2Route("ready", "/v2/health/ready"),
}
_MODEL_KINDS = {"": "model", "ready": "model_ready", "infer": "infer"}


def parse_route(path: str) -> V2Route:
    """The route of a ``/v2`` path (``unknown`` when it is none of the protocol's)."""
    fixed = _FIXED.get(path)
    if fixed is not None:
        return fixed
    parts = path.split("/")  # "", "v2", "models", name, ...
    if len(parts) < 4 or parts[2] != "models" or not parts[3]:
        return _UNKNOWN
    rest = parts[4:]
    version = None
    if len(rest) >= 2 and rest[0] == "versions" and rest[1]:
        version, rest = rest[1], rest[2:]
    if len(rest) > 1:
        return _UNKNOWN
    kind = _MODEL_KINDS.get(rest[0] if rest else "")
    if kind is None:
        return _UNKNOWN
    suffix = f"/{rest[0]}" if rest else ""
    return V2Route(kind, "/v2/models/{model}" + suffix, parts[3], version)


def v2_error(status: int, message: str) -> Triple:
    """``{"error": message}`` with ``status``: every V2 failure."""
    return json_triple({"error": message}, status)


def json_triple(payload: Any, status: int = 200) -> Triple:
    """A JSON response as (status, headers, body)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return status, [JSON_TYPE, ("Content-Length", str(len(body)))], [body]


class V2Routes:
    """The V2 routes of one server: the scorer's tensor model, or none (all 404)."""

    def __init__(self, scorer: Scorer, metrics: ServerMetrics, server_version: str) -> None:
        self.scorer = scorer
        self.metrics = metrics
        model = scorer.tensor_model  # wrapped by install_batching before this is built
        self._batcher = model if isinstance(model, BatchingModel) else None
        name, _, version = server_version.partition("/")
        self._server = {"name": name, "version": version or "0", "extensions": list(EXTENSIONS)}

    def answer(
        self, environ: dict[str, Any], route: V2Route, read_body: Callable[[], bytes]
    ) -> Triple:
        """The response to one V2 request; ``read_body`` reads the request body (and
        raises the caller's own exception for one over the size limit)."""
        model = self.scorer.tensor_model  # read per request: batching may have wrapped it
        if model is None:
            return v2_error(404, NO_V2)
        if route.kind == "unknown":
            return v2_error(404, f"No Open Inference Protocol route {environ.get('PATH_INFO')}")
        method = environ["REQUEST_METHOD"]
        allow = _POST if route.kind == "infer" else _GET
        if method == "OPTIONS":
            return 200, [("Allow", allow), ("Content-Length", "0")], [b""]
        if method not in _METHODS[allow]:
            status, headers, body = v2_error(405, f"{method} is not allowed on {route.label}")
            headers.append(("Allow", allow))
            return status, headers, body
        result = self._dispatch(environ, route, model, read_body)
        if method == "HEAD":
            return result[0], result[1], [b""]
        return result

    def _dispatch(
        self,
        environ: dict[str, Any],
        route: V2Route,
        model: TensorModel,
        read_body: Callable[[], bytes],
    ) -> Triple:
        ready = self.scorer.ready
        if route.kind == "server":
            return json_triple(self._server)
        if route.kind == "live":
            return json_triple({"live": True})
        if route.kind == "ready":
            return self._readiness({"ready": ready}, ready)
        refused = self._refusal(route, model)
        if refused is not None:
            return refused
        if route.kind == "model":
            return json_triple(_model_metadata(model))
        if route.kind == "model_ready":
            return self._readiness({"name": model.name, "ready": ready}, ready)
        return self.infer(environ, model, read_body())

    @staticmethod
    def _readiness(payload: dict[str, Any], ready: bool) -> Triple:
        if ready:
            return json_triple(payload)
        return json_triple({**payload, "error": "init() has not completed"}, 503)

    def _refusal(self, route: V2Route, model: TensorModel) -> Triple | None:
        """The 404 of a model or version this server does not serve, or the 503 of an
        inference before init() completed; None if the request may go on."""
        unknown = self._unknown_model(route, model)
        if unknown is not None or route.kind != "infer" or self.scorer.ready:
            return unknown
        return v2_error(503, f"Model {model.name} is not ready: init() has not completed")

    @staticmethod
    def _unknown_model(route: V2Route, model: TensorModel) -> Triple | None:
        if route.model != model.name:
            return v2_error(
                404, f"Model {route.model} not found; this deployment serves {model.name}"
            )
        if route.version is not None and route.version != model.version:
            served = f"version {model.version}" if model.version else "no versions"
            return v2_error(
                404, f"Model {route.model} has no version {route.version}; it has {served}"
            )
        return None

    def infer(self, environ: dict[str, Any], model: TensorModel, body: bytes) -> Triple:
        """Decode, call ``model.infer`` once, encode."""
        call = self._decode(environ, model, body)
        if not isinstance(call, V2Call):
            return call
        return self.reply(model, call, lambda: model.infer(call.feeds))

    def submit(
        self, environ: dict[str, Any], route: V2Route, read_body: Callable[[], bytes]
    ) -> Triple | Pending | None:
        """``POST .../infer`` queued on the batcher without waiting: its batch item and
        the call that answers once the item is done; or the answer now (an error); or
        None when the model does not batch (then nothing was read)."""
        model = self._batcher
        if model is None:
            return None
        refused = self._refusal(route, model)
        if refused is not None:
            return refused
        call = self._decode(environ, model, read_body())
        if not isinstance(call, V2Call):
            return call
        start = time.perf_counter()  # the wait is part of the call
        try:
            item = model.submit(call.feeds)
        except ScoringError as exc:  # bad input for the batch, a full queue
            return v2_error(exc.http_status, exc.message)
        return Pending(item, lambda: self.reply(model, call, lambda: model.collect(item), start))

    @staticmethod
    def _decode(environ: dict[str, Any], model: TensorModel, body: bytes) -> V2Call | Triple:
        try:
            request = decode_request(body, environ.get(_ENVIRON_HEADER_LENGTH))
            return V2Call(request, conform(request.inputs, model.inputs))
        except V2Error as exc:
            return v2_error(exc.status, exc.message)

    def reply(
        self,
        model: TensorModel,
        call: V2Call,
        infer: Callable[[], dict[str, Any]],
        start: float | None = None,
    ) -> Triple:
        """The answer to a decoded request: ``infer()`` gives its outputs (or raises);
        ``start``: when the call began, if before now (a queued request's submission)."""
        request = call.request
        start = time.perf_counter() if start is None else start
        try:
            results = infer()
        except ScoringError as exc:  # a batcher's overload (503), a timeout: said as it is
            return v2_error(exc.http_status, exc.message)
        except Exception:
            _log.exception("The model %s failed on a V2 inference request", model.name)
            return v2_error(500, MODEL_FAILED)
        elapsed = time.perf_counter() - start
        self.metrics.observe_scoring(elapsed)
        header: dict[str, Any] = {"model_name": model.name}
        if model.version:
            header["model_version"] = model.version
        if request.id is not None:
            header["id"] = request.id
        try:
            selected = _select(results, request.outputs, request.binary_output)
            body_out, header_length = encode_response(header, selected)
        except V2Error as exc:
            if exc.status >= 500:
                _log.error("V2 response of %s: %s", model.name, exc.message)
            return v2_error(exc.status, exc.message)
        headers = [
            ("Content-Type", "application/octet-stream" if header_length else JSON_TYPE[1]),
            ("Content-Length", str(len(body_out))),
            ("x-ms-run-fn-exec-ms", f"{elapsed * 1000.0:.3f}"),
        ]
        if header_length is not None:
            headers.append((HEADER_LENGTH, str(header_length)))
        return 200, headers, [body_out]


class V2Call(NamedTuple):
    """A decoded inference request: the request and the model's feeds."""

    request: Any
    feeds: dict[str, Any]


def _select(
    results: dict[str, Any], requested: tuple[tuple[str, bool], ...] | None, binary: bool
) -> list[tuple[str, Any, bool]]:
    if requested is None:
        return [(name, array, binary) for name, array in results.items()]
    selected = []
    for name, as_binary in requested:
        if name not in results:
            raise V2Error(400, f"unknown output {name}; the model returns {', '.join(results)}")
        selected.append((name, results[name], as_binary or binary))
    return selected


def _model_metadata(model: TensorModel) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": model.name}
    if model.version:
        metadata["versions"] = [model.version]
    metadata["platform"] = model.platform
    metadata["inputs"] = [spec.as_json() for spec in model.inputs]
    metadata["outputs"] = [spec.as_json() for spec in model.outputs]
    return metadata

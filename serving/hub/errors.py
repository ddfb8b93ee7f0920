"""Every failure of the API as one JSON shape: ``{"error": {"code", "message", "hint"?}}``.

Handlers cover werkzeug's HTTPException (unknown route, wrong method, bad body), the
platform's :class:`~serving.errors.ServingError` (which carries its HTTP status) and, last,
anything unexpected (500, logged with its traceback, never sent to the client). So a
client never sees an HTML error page or a traceback.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from serving.errors import ServingError

log = logging.getLogger("serving.hub")


class Unauthorized(ServingError, http_status=401):
    """No token, an unknown one, or a revoked one."""


class Forbidden(ServingError, http_status=403):
    """A read-only token asked for a change (or for endpoint keys)."""


def error_code(exc: BaseException) -> str:
    """``NotFoundError`` -> ``NotFound``: the class name a client can switch on."""
    name = type(exc).__name__
    return name[: -len("Error")] if name.endswith("Error") and name != "Error" else name


def json_error(status: int, code: str, message: str, hint: str | None = None) -> Response:
    body: dict[str, str] = {"code": code, "message": message}
    if hint:
        body["hint"] = hint
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="serving"'
    return response


def _http(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = (exc.name or "Error").replace(" ", "")
    response = json_error(status, code, exc.description or code)
    for key, value in exc.get_headers():
        if key.lower() == "allow":
            response.headers[key] = value
    return response


def _serving(exc: ServingError) -> Response:
    if exc.http_status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.one_line())
    return json_error(exc.http_status, error_code(exc), exc.message, exc.hint)


def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error")
    return json_error(500, "Internal", f"internal error: {type(exc).__name__}")


def install(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(ServingError, _serving)
    app.register_error_handler(Exception, _unexpected)

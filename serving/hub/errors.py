"""Every failure of the API as one JSON shape: ``{"error": {"code", "message", "hint"?}}``.

Handlers cover werkzeug's HTTPException (unknown route, wrong method, bad body), the
platform's :class:`~serving.errors.ServingError` (which carries its HTTP status) and, last,
anything unexpected (500, logged with its traceback, never sent to the client). So a
client never sees an HTML error page or a traceback. Messages written for the local CLI
may name files in the workspace; the server shows its folder as ``<workspace>``, so a
client learns nothing of the server's file system.
"""

from __future__ import annotations

import logging
from pathlib import Path

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


def _serving(exc: ServingError, hidden: tuple[str, ...] = ()) -> Response:
    if exc.http_status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.one_line())
    message, hint = exc.message, exc.hint
    for text in hidden:
        message = message.replace(text, "<workspace>")
        hint = hint.replace(text, "<workspace>") if hint else hint
    return json_error(exc.http_status, error_code(exc), message, hint)


def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error")
    return json_error(500, "Internal", f"internal error: {type(exc).__name__}")


def install(app: Flask, workspace: Path | None = None) -> None:
    """JSON for every error; ``workspace``'s path (as given and resolved) is hidden."""
    hidden = tuple(
        sorted({str(workspace), str(workspace.resolve())}, key=len, reverse=True)
        if workspace is not None
        else ()
    )
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(ServingError, lambda exc: _serving(exc, hidden))
    app.register_error_handler(Exception, _unexpected)

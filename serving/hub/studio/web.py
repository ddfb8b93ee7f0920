"""The studio's blueprint: sign-in and sign-out, its static files (plotly.js from the
installed ``plotly`` package, the stylesheet and script from this package), error pages,
and the page blueprints registered under it (they share its guard, :mod:`.guard`).

plotly.js is served by this server from the wheel's bundled file, never a CDN: the studio
works on a machine without internet access and loads no third-party code at run time. Its
URL carries plotly's version, so it is cached for a year (``immutable``); the studio's own
files carry a digest of their content (``?v=``), so a new version is fetched at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from pathlib import Path
from typing import Any

import plotly
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from serving.errors import ServingError
from serving.hub.context import KEY as HUB_KEY
from serving.hub.context import Hub, hub
from serving.hub.errors import error_code, json_error
from serving.hub.studio import data, guard, pages_endpoints, pages_models, pages_runs
from serving.hub.studio.sessions import COOKIE, LIFETIME, LOGIN_COOKIE, SessionStore

log = logging.getLogger("serving.hub")

HERE = Path(__file__).parent
STATIC = HERE / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_VERSION = str(plotly.__version__)
YEAR_S = 365 * 24 * 3600
DAY_S = 24 * 3600
LOGIN_FORM_S = 3600
LOGIN_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")
"""How long a sign-in form stays usable (its CSRF cookie's lifetime)."""

CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data: blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
"""Only this server's scripts (plotly.js included; its WebGL traces, the parallel
coordinates, compile code at run time: 'unsafe-eval', and plotly's PyPI package has no
strict-CSP bundle); plotly sets inline styles; no inline scripts; no framing (a framed
Cancel button could be clicked by another page)."""

bp = Blueprint("studio", __name__, template_folder="templates")
bp.before_request(guard.before)


@bp.after_request
def _headers(response: BaseResponse) -> BaseResponse:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


STATIC_FILES = ("studio.css", "studio.js")
STATIC_DIGESTS = {
    name: hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12] for name in STATIC_FILES
}


def static_url(name: str) -> str:
    """The URL of one of the studio's files, with its content's digest."""
    return url_for("studio.static_file", name=name, v=STATIC_DIGESTS[name])


@bp.context_processor
def _page_context() -> dict[str, Any]:
    session = g.get("studio_session")
    return {
        "session": session,
        "csrf": session.csrf if session else "",
        "plotly_version": PLOTLY_VERSION,
        "static_url": static_url,
    }


@bp.get("/static/plotly-<version>.min.js")
def plotly_js(version: str) -> BaseResponse:
    if version != PLOTLY_VERSION:
        return redirect(url_for("studio.plotly_js", version=PLOTLY_VERSION))
    response = send_file(PLOTLY_JS, mimetype="text/javascript", max_age=YEAR_S)
    response.headers["Cache-Control"] = f"public, max-age={YEAR_S}, immutable"
    return response


@bp.get("/static/<name>")
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        abort(404)
    return send_file(STATIC / name, max_age=DAY_S)


def _login_page(target: str, message: str | None, status: int) -> BaseResponse:
    """The sign-in form with its double-submit CSRF value (form field and cookie): the
    browser's current one if it has one, so two sign-in tabs both work."""
    value = request.cookies.get(LOGIN_COOKIE, "")
    if not LOGIN_VALUE.fullmatch(value):
        value = secrets.token_urlsafe(32)
    body = render_template("studio/login.html", next=target, message=message, login_csrf=value)
    response = make_response(body, status)
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        max_age=LOGIN_FORM_S,
        path=url_for("studio.login"),
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return _login_page(target, None, 200)
    opened = guard.sessions().open(request.form.get("token", ""))
    if opened is None:
        return _login_page(target, "That token is not valid (unknown or revoked).", 401)
    previous = request.cookies.get(COOKIE)
    if previous:  # a new id at every sign-in; the old session (if any) ends here
        guard.sessions().close(previous)
    session_id, _session = opened
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    response.delete_cookie(LOGIN_COOKIE, path=url_for("studio.login"))
    return response


@bp.post("/logout")
def logout() -> BaseResponse:
    guard.sessions().close(request.cookies.get(COOKIE, ""))
    response = redirect(url_for("studio.login"))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")
    return response


@bp.get("/")
def home() -> BaseResponse:
    return redirect(url_for("studio.runs.experiments"))


@bp.route("/<path:_rest>", methods=["GET", "POST"])
def unknown(_rest: str) -> BaseResponse:
    """Any other studio URL: a 404 page (routing errors never reach a blueprint's error
    handlers, so without this the app's JSON 404 would answer a browser)."""
    abort(404)


def _safe_next(value: str | None) -> str:
    """Only a path of this studio (no ``//host``, scheme, backslash or control character:
    no open redirect, no header splitting)."""
    if value and value.startswith("/studio/") and "\\" not in value and value.isprintable():
        return value
    return url_for("studio.runs.experiments")


def _error_page(status: int, title: str, message: str, hint: str | None) -> BaseResponse:
    if request.blueprint == "studio.data":
        return json_error(status, title, message, hint)
    body = render_template(
        "studio/error.html", status=status, title=title, message=message, hint=hint
    )
    return make_response(body, status)


@bp.errorhandler(ServingError)
def _serving_error(exc: ServingError) -> BaseResponse:
    message, hint = exc.message, exc.hint
    for hidden in sorted({str(p) for p in _workspace_paths()}, key=len, reverse=True):
        message = message.replace(hidden, "<workspace>")
        hint = hint.replace(hidden, "<workspace>") if hint else hint
    return _error_page(exc.http_status, error_code(exc), message, hint)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> BaseResponse:
    log.exception("unexpected error in the studio")
    return _error_page(500, "Internal", f"internal error: {type(exc).__name__}", None)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> BaseResponse:
    return _error_page(exc.code or 500, exc.name or "Error", exc.description or "", None)


def _workspace_paths() -> tuple[Path, ...]:
    path = hub().ws.path
    return (path, path.resolve())


for _child in (pages_runs.bp, pages_models.bp, pages_endpoints.bp, data.bp):
    bp.register_blueprint(_child)


def register(app: Flask) -> None:
    """Register the studio under ``/studio`` on ``app`` (made by ``create_app``)."""
    app.register_blueprint(bp, url_prefix="/studio")
    found: Hub = app.extensions[HUB_KEY]
    app.extensions[guard.KEY] = SessionStore(found.ws.db, found.tokens)

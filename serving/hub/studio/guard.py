"""What every studio request passes before its view: the Host check, the session and, for
a POST, the CSRF value; and :func:`require_write` for the actions a read-only token may
not take.

- **Host** (DNS rebinding): a page of another site whose name was made to resolve to this
  server's address would send its own name as ``Host``. Only loopback names, the address
  the server is bound to (gunicorn's ``SERVER_NAME``, unless a wildcard) and the names in
  ``SERVING_STUDIO_HOSTS`` (comma separated, for a server behind a proxy or on a LAN) are
  answered; others get 403.
- **Session**: the cookie's session must be live (see :mod:`.sessions`); a page without
  one redirects to the sign-in form, a data call gets 401.
- **CSRF**: every POST form carries the session's CSRF value (synchroniser token), compared
  in constant time; a POST whose ``Origin`` (else ``Referer``) is another origin (host or
  port) is refused too. The cookie is ``SameSite=Strict`` as a second line. The sign-in
  form, which has no session yet, carries a double-submit value (:func:`check_login_csrf`).
"""

from __future__ import annotations

import hmac
import os
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, url_for
from werkzeug.wrappers import Response

from serving.errors import ServingError
from serving.hub.studio.sessions import COOKIE, LOGIN_COOKIE, Session, SessionStore

KEY = "serving.hub.studio"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
HOSTS_ENV = "SERVING_STUDIO_HOSTS"
PUBLIC = frozenset({"studio.login", "studio.static_file", "studio.plotly_js"})


class StudioForbidden(ServingError, http_status=403):
    """Refused: wrong host, missing CSRF value, or a read-only token asking for a change."""


class SignInNeeded(ServingError, http_status=401):
    """A data call without a live session."""


def sessions() -> SessionStore:
    found: SessionStore = current_app.extensions[KEY]
    return found


def current() -> Session:
    found: Session = g.studio_session
    return found


def _host_name(value: str) -> str:
    """``Host`` without its port (``[::1]:8600`` -> ``::1``), lower case."""
    try:
        return (urlsplit(f"//{value}").hostname or "").lower()
    except ValueError:
        return ""


def allowed_hosts() -> frozenset[str]:
    extra = {h.strip().lower() for h in os.environ.get(HOSTS_ENV, "").split(",") if h.strip()}
    bound = str(request.environ.get("SERVER_NAME", "")).strip("[]").lower()
    return LOOPBACK | extra | ({bound} - WILDCARDS)


def check_host() -> None:
    if _host_name(request.host) not in allowed_hosts():
        raise StudioForbidden(
            f"the studio does not answer for host {request.host!r}",
            hint=f"open it by the server's address, or list the name in {HOSTS_ENV}",
        )


def _origin() -> str | None:
    """Where a POST came from as ``host[:port]`` (lower case): its ``Origin``, else its
    ``Referer``; ``""`` for an opaque ``null`` origin, None when neither is sent."""
    origin = request.headers.get("Origin")
    if origin == "null":
        return ""
    source = origin or request.headers.get("Referer")
    if not source:
        return None
    try:
        return urlsplit(source).netloc.lower()
    except ValueError:
        return ""


def _check_origin() -> None:
    """Refuse a POST that a page of another origin sent: host and port must both be this
    server's (another program on the same machine is another origin; cookies are shared
    across ports, so the port matters)."""
    origin = _origin()
    if origin is not None and origin != request.host.lower():
        raise StudioForbidden(
            "a form of another site cannot post here", hint="use the studio's own pages"
        )


def check_login_csrf() -> None:
    """The sign-in form has no session yet: its value is also in a cookie that only the
    sign-in page sets (double submit), so a cross-site page cannot sign a browser in with
    the attacker's token (login CSRF)."""
    given = request.form.get("login_csrf", "")
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not given or not expected or not hmac.compare_digest(given, expected):
        raise StudioForbidden(
            "the sign-in form's CSRF value is missing or wrong",
            hint="open the sign-in page again and sign in from there",
        )


def check_csrf(session: Session) -> None:
    given = request.form.get("csrf", "")
    if not given or not hmac.compare_digest(given, session.csrf):
        raise StudioForbidden(
            "the form's CSRF value is missing or wrong", hint="reload the page and try again"
        )


def before() -> Response | None:
    """The studio blueprint's ``before_request``."""
    check_host()
    if request.method == "POST":
        _check_origin()
    if request.endpoint == "studio.login" and request.method == "POST":
        check_login_csrf()
    if request.endpoint in PUBLIC:
        return None
    session = sessions().find(request.cookies.get(COOKIE))
    if session is None:
        if request.blueprint == "studio.data" or request.method != "GET":
            raise SignInNeeded("sign in to the studio first")
        return redirect(url_for("studio.login", next=request.full_path.rstrip("?")))
    if request.method == "POST":
        check_csrf(session)
    g.studio_session = session
    return None


def require_write(what: str) -> None:
    if current().read_only:
        raise StudioForbidden(
            f"token {current().token_name} is read-only: it cannot {what}",
            hint="sign in with a token created without --read-only",
        )

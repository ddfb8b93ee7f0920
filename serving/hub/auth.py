"""Bearer tokens on every API call: 401 without a live token, 403 for a read-only token
asking for a change.

Which calls are changes is decided by method (POST, PUT, PATCH, DELETE), so a new write
route is guarded without remembering to; the few reads that hand out secrets (endpoint
keys) call :func:`require_read_write` themselves. The OpenAPI document is the one public
route: it describes the API and holds no workspace data.
"""

from __future__ import annotations

from flask import Flask, g, request

from serving.hub.errors import Forbidden, Unauthorized
from serving.hub.tokens import TokenRecord, TokenStore

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC = frozenset({"/api/v1/openapi.json"})


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_token() -> TokenRecord:
    token: TokenRecord = g.token
    return token


def require_read_write(what: str) -> None:
    if current_token().read_only:
        raise Forbidden(
            f"token {current_token().name} is read-only: it cannot {what}",
            hint="use a token created without --read-only",
        )


def install(app: Flask, tokens: TokenStore) -> None:
    """Check the token of every request under ``/api/`` before its route runs."""

    @app.before_request
    def _check() -> None:
        if not request.path.startswith("/api/") or request.path in PUBLIC:
            return
        given = bearer()
        if given is None:
            raise Unauthorized(
                "this API needs a token: send 'Authorization: Bearer <token>'",
                hint="create one with 'serving server tokens create NAME'",
            )
        record = tokens.verify(given)
        if record is None:
            raise Unauthorized("the token is not valid (unknown or revoked)")
        g.token = record
        if request.method in WRITES:
            require_read_write(f"{request.method} {request.path}")

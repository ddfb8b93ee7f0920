"""Bearer tokens on every API call: 401 without a live token, 403 for a read-only token
asking for a change.

Which calls are changes is decided by method (POST, PUT, PATCH, DELETE), so a new write
route is guarded without remembering to; the few reads that hand out secrets (endpoint
keys) call :func:`require_read_write` themselves. The OpenAPI document is the one public
route: it describes the API and holds no workspace data.

A run's own token (``TokenRecord.run_id`` set, minted by the run's supervisor) is scoped
to that run: it may call the routes in :data:`RUN_SCOPED` with its own run in the path
(metrics, files, tags and properties, status, log, registering a model from the run's
files), and nothing else (403). The list is of endpoint names, so a new route is closed to
run tokens until it is added here.
"""

from __future__ import annotations

from flask import Flask, g, request

from serving.hub.context import hub
from serving.hub.errors import Forbidden, Unauthorized
from serving.hub.tokens import TokenRecord, TokenStore
from serving.runs.records import RunRecord

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC = frozenset({"/api/v1/openapi.json"})
RUN_SCOPED = frozenset(
    {
        "runs.show_run",
        "runs.run_metrics",
        "runs.run_log",
        "runs.run_files",
        "runs.run_file",
        "run_writes.append_metrics",
        "run_writes.upload_files",
        "run_writes.update_run",
        "run_writes.register_model",
    }
)
"""Endpoints a run's token may call, on its own run (``<run_id>`` in the path) only."""


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_token() -> TokenRecord:
    token: TokenRecord = g.token
    return token


def known_run(run_id: str) -> RunRecord:
    """The run in the path (404 when unknown): for a run's own token, the row the token
    check already read, rather than reading it twice per call."""
    checked: RunRecord | None = g.get("run")
    if checked is not None and checked.id == run_id:
        return checked
    return hub().runs.get(run_id)


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
        if record.run_id is not None:
            _check_run_scope(record)
        if request.method in WRITES:
            require_read_write(f"{request.method} {request.path}")


def _check_run_scope(record: TokenRecord) -> None:
    """403 unless the request is one of :data:`RUN_SCOPED` on the token's own run."""
    args = request.view_args or {}
    run_id = str(record.run_id)
    if request.endpoint in RUN_SCOPED and args.get("run_id") == run_id:
        # reconciled: a supervisor killed before revoking leaves its run Failed, and the
        # container it left running cannot report into it any more
        g.run = hub().runs.find(run_id)
        if g.run.terminal:
            raise Unauthorized(f"run {record.run_id} has ended: its token no longer works")
        return
    raise Forbidden(
        f"token {record.name} belongs to run {record.run_id}: it may only report that run"
    )

"""Run-scoped API tokens: the workspace server's token format, and the run's own token.

A run submitted through a workspace server and executed on Docker compute reports through
the server's API instead of a mounted workspace folder (as Azure ML's run token). Its
supervisor mints a token bound to the run (``tokens.run_id``) when the script is about to
start and revokes it when the run ends, whatever way it ends; :mod:`serving.hub.auth`
lets such a token touch only its own run.

The token format (``srvt_`` + 256 random bits, stored as a SHA-256) lives here rather than
in :mod:`serving.hub.tokens` because the supervisor is in the runs layer, below the hub;
the hub's token store uses these same functions.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from datetime import UTC, datetime

from serving.registry.db import Database

PREFIX = "srvt_"
TOKEN_BYTES = 32
RUN_TOKEN_PREFIX = "run-"
"""Run tokens are named ``run-<run id>``; people's tokens may not start so."""


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def mint(db: Database, run_id: str) -> str:
    """A new token that may act only on ``run_id`` (any earlier one of the run revoked)."""
    token = new_token()
    with db.write() as conn:
        _revoke(conn, run_id)
        conn.execute(
            "INSERT INTO tokens (name, sha256, read_only, created_at, run_id) "
            "VALUES (?, ?, 0, ?, ?)",
            (RUN_TOKEN_PREFIX + run_id, token_hash(token), _stamp(), run_id),
        )
    return token


def revoke(db: Database, run_id: str) -> int:
    """Revoke the run's live tokens; how many there were."""
    with db.write() as conn:
        return _revoke(conn, run_id)


def _revoke(conn: sqlite3.Connection, run_id: str) -> int:
    cursor = conn.execute(
        "UPDATE tokens SET revoked_at = ? WHERE run_id = ? AND revoked_at IS NULL",
        (_stamp(), run_id),
    )
    return int(cursor.rowcount)

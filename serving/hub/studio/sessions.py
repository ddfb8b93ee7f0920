"""Studio sign-in sessions: a random session id in a cookie, only its SHA-256 in the
table ``sessions`` with the token it was opened with and the session's CSRF value.

A session lives :data:`LIFETIME` and dies with its token: every lookup joins the token and
refuses a revoked one (the row is then deleted). The id has 256 random bits, so, as for the
API tokens, a plain SHA-256 (the tokens' own :func:`~serving.runs.run_tokens.token_hash`)
is the right storage: whoever reads the database cannot use a session. Flask's own
signed-cookie session was not used: it cannot be ended on the server (sign-out or a
revoked token would leave a copied cookie working until it expires).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from serving.hub.tokens import TokenStore
from serving.registry.db import Database
from serving.runs.run_tokens import token_hash

LIFETIME = timedelta(hours=12)
COOKIE = "serving_studio"
LOGIN_COOKIE = "serving_studio_login"
"""The sign-in form's double-submit CSRF value (see :func:`.guard.check_login_csrf`)."""


@dataclass(frozen=True)
class Session:
    """A live session: who signed in and the CSRF value its forms carry."""

    token_name: str
    read_only: bool
    csrf: str
    expires_at: str


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


class SessionStore:
    """The sessions of one workspace database."""

    def __init__(self, db: Database, tokens: TokenStore) -> None:
        self.db = db
        self.tokens = tokens

    def open(self, token: str) -> tuple[str, Session] | None:
        """A new session for a live token: (the session id for the cookie, the session);
        None when the token is unknown, revoked, or a run's own token (which may act on
        its run only, never sign in). Expired sessions are purged here."""
        token = token.strip()
        record = self.tokens.verify(token)
        if record is None or getattr(record, "run_id", None):
            return None
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = _now()
        expires = _stamp(now + LIFETIME)
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT id FROM tokens WHERE sha256 = ? AND revoked_at IS NULL AND run_id IS NULL",
                (token_hash(token),),
            ).fetchone()
            if row is None:  # revoked between the check and now
                return None
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (_stamp(now),))
            conn.execute(
                "INSERT INTO sessions (sha256, token_id, csrf, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (token_hash(session_id), row["id"], csrf, _stamp(now), expires),
            )
        return session_id, Session(record.name, record.read_only, csrf, expires)

    def find(self, session_id: str | None) -> Session | None:
        """The live session of a cookie value, else None (unknown, expired, or its token
        revoked: such a row is deleted)."""
        if not session_id or len(session_id) > 200:
            return None
        digest = token_hash(session_id)
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT s.csrf, s.expires_at, t.name, t.read_only, t.revoked_at"
                " FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.sha256 = ?",
                (digest,),
            ).fetchone()
        if row is None:
            return None
        if row["revoked_at"] is not None or row["expires_at"] < _stamp(_now()):
            self.close(session_id)
            return None
        return Session(row["name"], bool(row["read_only"]), row["csrf"], row["expires_at"])

    def close(self, session_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM sessions WHERE sha256 = ?", (token_hash(session_id),))

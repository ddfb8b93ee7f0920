"""API tokens of the workspace server: made once, stored as a SHA-256, checked per call.

A token is ``srvt_`` + 256 bits from :mod:`secrets` (url-safe base64). With that much
randomness a plain SHA-256 is the right storage (as GitHub's and PyPI's API tokens): a slow
password hash guards guessable secrets, which these are not, and would cost every API call
a few hundred milliseconds. The token itself is shown once, at creation, and never stored.

Revoked tokens keep their row (``revoked_at`` set), so ``tokens list`` shows them and a name
can be given to a new token afterwards (names are unique among live tokens only).
``last_used_at`` is written at most once a minute per token, so checking a token is
normally one indexed read, never a write lock on every call.
"""

from __future__ import annotations

import hmac
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.registry.db import Database
from serving.runs.run_tokens import PREFIX, RUN_TOKEN_PREFIX, new_token, token_hash

TOUCH_EVERY = timedelta(seconds=60)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


def check_token_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserInputError(
            f"token name {name!r} is not valid: 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if name.startswith(RUN_TOKEN_PREFIX):
        raise UserInputError(
            f"token name {name!r} is reserved: names starting with {RUN_TOKEN_PREFIX!r} "
            "belong to the tokens runs get"
        )
    return name


@dataclass(frozen=True)
class TokenRecord:
    """One token as stored (never the token itself)."""

    name: str
    read_only: bool
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    run_id: str | None = None
    """Set for a run's own token: it may act on that run only (:mod:`serving.hub.auth`)."""

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "read_only": self.read_only,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked": self.revoked,
            "revoked_at": self.revoked_at,
            "run_id": self.run_id,
        }


def _record(row: sqlite3.Row) -> TokenRecord:
    return TokenRecord(
        row["name"],
        bool(row["read_only"]),
        row["created_at"],
        row["last_used_at"],
        row["revoked_at"],
        row["run_id"],
    )


class TokenStore:
    """The tokens of one workspace database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, *, read_only: bool = False) -> tuple[TokenRecord, str]:
        """A new token named ``name``: (its record, the token, to show once)."""
        check_token_name(name)
        token = new_token()
        with self.db.write() as conn:
            if conn.execute(
                "SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone():
                raise ConflictError(
                    f"a token named {name} already exists",
                    hint="revoke it first, or choose another name",
                )
            conn.execute(
                "INSERT INTO tokens (name, sha256, read_only, created_at) VALUES (?, ?, ?, ?)",
                (name, token_hash(token), int(read_only), _stamp(_now())),
            )
            row = conn.execute(
                "SELECT * FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
        return _record(row), token

    def list(self) -> list[TokenRecord]:
        """Every token, live ones first, then by name."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM tokens ORDER BY revoked_at IS NOT NULL, name, id"
            ).fetchall()
        return [_record(r) for r in rows]

    def revoke(self, name: str) -> TokenRecord:
        """Revoke the live token named ``name``; it stops working at its next call."""
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT id FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"no live token named {name}", hint="see 'serving server tokens list'"
                )
            conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ?", (_stamp(_now()), row["id"])
            )
            done = conn.execute("SELECT * FROM tokens WHERE id = ?", (row["id"],)).fetchone()
        return _record(done)

    def verify(self, token: str) -> TokenRecord | None:
        """The live token ``token`` is, else None (unknown, malformed or revoked)."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        digest = token_hash(token)
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM tokens WHERE sha256 = ?", (digest,)).fetchone()
        if row is None or not hmac.compare_digest(row["sha256"], digest):
            return None
        if row["revoked_at"] is not None:
            return None
        self._touch(row)
        return _record(row)

    def _touch(self, row: sqlite3.Row) -> None:
        """Record the use, at most once per :data:`TOUCH_EVERY` (a write takes the lock)."""
        now = _now()
        last = row["last_used_at"]
        if last is not None and now - datetime.fromisoformat(last) < TOUCH_EVERY:
            return
        with self.db.write() as conn:
            conn.execute(
                "UPDATE tokens SET last_used_at = ? WHERE id = ?", (_stamp(now), row["id"])
            )

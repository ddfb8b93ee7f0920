"""The on-disk outbox: results waiting for the broker, kept in SQLite.

Why hand-written: paho-mqtt keeps unacknowledged QoS 1 messages in memory only, so a
restart would lose them; the edge hub's store is what this replaces. One file, WAL mode,
each batch in one transaction (its results and the ids of the inputs it answered), so a
kill at any moment leaves either the whole batch or none of it. ``synchronous=NORMAL``:
durable across a process or container kill (what the module must survive), not across a
power cut of the host, where the last transactions may be lost but the file stays whole.
Checkpoints (the only fsyncs in this mode, tens of milliseconds on a busy disk) run every
second on a thread of their own, off the message path, instead of inside a commit.

Rows leave the outbox when the broker acknowledges them (PUBACK), when their time to live
has passed (counted as expired), or, past the size bound, oldest first (counted as dropped).
The ``seen`` table remembers the message ids of answered inputs for one time to live, so
an input the broker delivers again (it was answered but not yet acknowledged when the
module or broker went down) is acknowledged without a second result.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

FILE_NAME = "outbox.sqlite"
CHECKPOINT_EVERY_S = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    props TEXT NOT NULL,
    enqueued REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seen (mid TEXT PRIMARY KEY, expires REAL NOT NULL);
"""


@dataclass(frozen=True)
class Outgoing:
    """A result to publish: topic, body and MQTT 5 user properties."""

    topic: str
    payload: bytes
    props: dict[str, str] = field(default_factory=dict)
    ttl_s: float | None = None
    """Its own time to live (from the input's message expiry), else the outbox's."""


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    payload: bytes
    props: dict[str, str]


class Outbox:
    """Results waiting for the broker, in order; one connection, one thread."""

    def __init__(
        self,
        folder: Path,
        *,
        ttl_s: float,
        max_rows: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self.ttl_s = ttl_s
        self.max_rows = max_rows
        self.clock = clock
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._rows = self.size()
        """Rows in the outbox, kept up to date here: the bound is checked on every batch
        without counting the table."""
        self._closed = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoints, name="outbox-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoints(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            while not self._closed.wait(CHECKPOINT_EVERY_S):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def close(self) -> None:
        self._closed.set()
        self._checkpointer.join(timeout=5)
        self._db.close()

    def add(
        self,
        items: Sequence[Outgoing],
        answered: Iterable[str] = (),
        sent: Sequence[int] = (),
    ) -> int:
        """Store ``items`` and the ids of the inputs they answer, and forget the rows in
        ``sent`` (the broker acknowledged them), in one transaction; returns how many of the
        oldest rows were dropped to stay within the bound."""
        now = self.clock()
        rows = [
            (
                item.topic,
                item.payload,
                json.dumps(item.props),
                now,
                now + min(self.ttl_s, item.ttl_s if item.ttl_s is not None else self.ttl_s),
            )
            for item in items
        ]
        seen = [(mid, now + self.ttl_s) for mid in answered]
        with self._transaction():
            if rows:
                self._db.executemany(
                    "INSERT INTO outbox (topic, payload, props, enqueued, expires) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                self._rows += len(rows)
            if seen:
                self._db.executemany("INSERT OR REPLACE INTO seen VALUES (?, ?)", seen)
            if sent:
                self._forget(sent)
            return self._drop_over_bound()

    def _drop_over_bound(self) -> int:
        over = self._rows - self.max_rows
        if over <= 0:
            return 0
        dropped = self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (over,)
        )
        self._rows -= dropped.rowcount
        return int(dropped.rowcount)

    def seen_among(self, mids: Sequence[str]) -> set[str]:
        """Which of these message ids belong to answered inputs (within the time to live):
        one query for a whole batch of inputs."""
        found: set[str] = set()
        now = self.clock()
        for start in range(0, len(mids), 500):
            chunk = mids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cursor = self._db.execute(
                f"SELECT mid FROM seen WHERE expires >= ? AND mid IN ({marks})", (now, *chunk)
            )
            found.update(str(mid) for (mid,) in cursor)
        return found

    def pending(self, after: int, limit: int) -> list[Row]:
        """Up to ``limit`` rows after id ``after``, oldest first (expired ones included:
        :meth:`trim` removes them)."""
        cursor = self._db.execute(
            "SELECT id, topic, payload, props FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [Row(int(i), str(t), bytes(p), json.loads(pr)) for i, t, p, pr in cursor]

    def trim(self, after: int = 0) -> int:
        """Remove rows after id ``after`` (those before were handed to the client already)
        that are past their time to live, and forget answered inputs past theirs; returns how
        many results expired."""
        now = self.clock()
        with self._transaction():
            expired = self._db.execute(
                "DELETE FROM outbox WHERE id > ? AND expires < ?", (after, now)
            )
            self._db.execute("DELETE FROM seen WHERE expires < ?", (now,))
            self._rows -= expired.rowcount
        return int(expired.rowcount)

    def _forget(self, ids: Sequence[int]) -> None:
        deleted = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        self._rows -= deleted.rowcount

    def size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._recount)

    def _recount(self) -> None:
        """After a rollback: the running count changed inside it, so count the table."""
        self._rows = self.size()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception, then
    ``rolled_back``, so counts kept in memory follow the file)."""

    def __init__(self, db: sqlite3.Connection, rolled_back: Callable[[], None]) -> None:
        self.db = db
        self.rolled_back = rolled_back

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_rest: object) -> None:
        if kind is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error:
                self._roll_back()
                raise
        self._roll_back()

    def _roll_back(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self.rolled_back()

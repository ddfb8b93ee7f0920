"""The workspace's SQLite metadata database: connections, transactions, migrations.

The schema is versioned with ``PRAGMA user_version``; every release only appends to
:data:`MIGRATIONS`, so an old workspace is upgraded in place when it is opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIGRATIONS: tuple[str, ...] = (
    # 1: models, environments, endpoints
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('file', 'dir')),
        root_name TEXT NOT NULL,
        framework TEXT NOT NULL,
        framework_version TEXT,
        description TEXT,
        run_id TEXT,
        tags TEXT NOT NULL DEFAULT '{}',
        properties TEXT NOT NULL DEFAULT '{}',
        size_bytes INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (name, version)
    );
    CREATE TABLE model_files (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        relpath TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        executable INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (model_id, relpath)
    );
    CREATE INDEX model_files_sha ON model_files(sha256);
    CREATE TABLE environments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        python TEXT NOT NULL,
        spec TEXT NOT NULL,
        source_text TEXT NOT NULL,
        source_name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (name, version)
    );
    CREATE TABLE endpoints (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        target TEXT NOT NULL,
        state TEXT NOT NULL,
        scoring_uri TEXT,
        swagger_uri TEXT,
        spec TEXT NOT NULL DEFAULT '{}',
        runtime TEXT NOT NULL DEFAULT '{}',
        keys TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE endpoint_models (
        endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
        model_id INTEGER NOT NULL REFERENCES models(id),
        PRIMARY KEY (endpoint_id, model_id)
    );
    """,
    # 2: built model images
    """
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        tag TEXT NOT NULL,
        image_id TEXT NOT NULL,
        build_key TEXT NOT NULL,
        env_hash TEXT NOT NULL,
        python TEXT NOT NULL,
        flavour TEXT NOT NULL,
        base_image TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        models TEXT NOT NULL DEFAULT '[]',
        entry_script TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        extra TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        UNIQUE (name, version)
    );
    CREATE INDEX images_build_key ON images(build_key)
    """,
    # 3: experiments and runs, datastores, compute targets
    """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        tags TEXT NOT NULL DEFAULT '{}',
        archived INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        number INTEGER NOT NULL,
        parent_id TEXT REFERENCES runs(id),
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        target TEXT NOT NULL,
        display_name TEXT,
        definition TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '{}',
        properties TEXT NOT NULL DEFAULT '{}',
        snapshot_id TEXT,
        supervisor TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        warnings TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT,
        UNIQUE (experiment_id, number)
    );
    CREATE INDEX runs_parent ON runs(parent_id);
    CREATE INDEX runs_target_status ON runs(target, status);
    CREATE TABLE datastores (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        is_default INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE computes (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        spec TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    )
    """,
    # 4: API tokens of the workspace server (only a SHA-256 of each token is kept), and
    # the index the paged runs listing walks (top-level or one parent's runs, by time)
    """
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL UNIQUE,
        read_only INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
    );
    CREATE UNIQUE INDEX tokens_live_name ON tokens(name) WHERE revoked_at IS NULL;
    CREATE INDEX runs_parent_created ON runs(parent_id, created_at, number, id)
    """,
    # 5: the workspace server's run-scoped tokens (a run on remote compute may write only
    # its own run), studio sign-in sessions (only a SHA-256 of the session id is kept), and
    # a per-run summary of each numeric metric so run tables sort by metric columns
    """
    ALTER TABLE tokens ADD COLUMN run_id TEXT;
    CREATE TABLE sessions (
        sha256 TEXT PRIMARY KEY,
        token_id INTEGER NOT NULL REFERENCES tokens(id),
        csrf TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE TABLE run_metric_summary (
        run_id TEXT NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL,
        count INTEGER NOT NULL,
        last REAL,
        min REAL,
        max REAL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
    );
    CREATE INDEX run_metric_summary_name_last ON run_metric_summary(name, last)
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


_VERSIONED_TABLES = frozenset({"models", "environments", "images"})


def versioned_row(
    conn: sqlite3.Connection, table: str, name: str, version: int | None
) -> sqlite3.Row | None:
    """The row of ``name`` at ``version`` in a name/version table (the latest when None)."""
    if table not in _VERSIONED_TABLES:
        raise ValueError(f"{table} is not a versioned table")
    if version is None:
        query = f"SELECT * FROM {table} WHERE name = ? ORDER BY version DESC LIMIT 1"
        row: sqlite3.Row | None = conn.execute(query, (name,)).fetchone()
    else:
        query = f"SELECT * FROM {table} WHERE name = ? AND version = ?"
        row = conn.execute(query, (name, version)).fetchone()
    return row


def next_version(conn: sqlite3.Connection, table: str, name: str) -> int:
    """max(version) + 1 for ``name`` (1 for a new name); call it inside a write transaction
    so no other writer can take the same number."""
    if table not in _VERSIONED_TABLES:
        raise ValueError(f"{table} is not a versioned table")
    row = conn.execute(
        f"SELECT COALESCE(MAX(version), 0) FROM {table} WHERE name = ?", (name,)
    ).fetchone()
    return int(row[0]) + 1


class Database:
    """A small wrapper over one SQLite file. Connections are opened per operation."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    def migrate(self) -> int:
        """Bring the schema up to :data:`SCHEMA_VERSION`; returns the version found before.

        A current schema is the common case (every command opens the workspace): it is
        answered by one read, without the write lock.
        """
        conn = self.connect()
        try:
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if found == SCHEMA_VERSION:
                return found
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if found > SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                from serving.errors import ConflictError

                raise ConflictError(
                    f"workspace database {self.path} has schema version {found}, "
                    f"newer than this serving ({SCHEMA_VERSION})",
                    hint="upgrade serving",
                )
            for version in range(found, SCHEMA_VERSION):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
            return found
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (``BEGIN IMMEDIATE``), so reads of max(version)
        inside it cannot race another writer."""
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

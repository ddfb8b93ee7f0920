"""Registered environments: versioned, resolved environment specs.

The registry stores the resolved spec as JSON (parsing lives in ``serving.environments``,
a peer layer); registering the same content as the latest version returns that version.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from serving.errors import NotFoundError
from serving.registry.db import Database, versioned_row
from serving.registry.names import Ref, check_model_name, latest_only


@dataclass(frozen=True)
class EnvironmentRecord:
    id: int
    name: str
    version: int
    content_hash: str
    python: str
    spec: dict[str, Any]
    source_text: str
    source_name: str
    created_at: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.ref,
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "python": self.python,
            "requirements": list(self.spec.get("requirements", [])),
            "pip_options": list(self.spec.get("pip_options", [])),
            "variables": dict(self.spec.get("variables", [])),
            "replaced": list(self.spec.get("replaced", [])),
            "source": self.source_name,
            "created_at": self.created_at,
        }


class EnvironmentRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(
        self,
        name: str,
        *,
        spec: dict[str, Any],
        content_hash: str,
        python: str,
        source_text: str,
        source_name: str,
    ) -> tuple[EnvironmentRecord, bool]:
        """Record a new version unless the latest has the same content hash.

        Returns the record and whether a new version was created.
        """
        check_model_name(name, "environment")
        with self.db.write() as conn:
            latest = versioned_row(conn, "environments", name, None)
            if latest is not None and latest["content_hash"] == content_hash:
                return self._record(latest), False
            version = 1 if latest is None else int(latest["version"]) + 1
            conn.execute(
                "INSERT INTO environments (name, version, content_hash, python, spec, "
                "source_text, source_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    version,
                    content_hash,
                    python,
                    json.dumps(spec, sort_keys=True),
                    source_text,
                    source_name,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
        return self.get(Ref(name, version)), True

    def get(self, ref: Ref) -> EnvironmentRecord:
        with self.db.read() as conn:
            row = versioned_row(conn, "environments", ref.name, ref.version)
        if row is None:
            raise NotFoundError(f"environment {ref} not found", hint="see 'serving envs list'")
        return self._record(row)

    def list(self, *, name: str | None = None, latest: bool = False) -> list[EnvironmentRecord]:
        query = "SELECT * FROM environments"
        args: list[Any] = []
        if name is not None:
            query += " WHERE name = ?"
            args.append(name)
        query += " ORDER BY name, version DESC"
        with self.db.read() as conn:
            records = [self._record(r) for r in conn.execute(query, args)]
        if latest:
            records = latest_only(records)
        return records

    @staticmethod
    def _record(row: sqlite3.Row) -> EnvironmentRecord:
        return EnvironmentRecord(
            id=row["id"],
            name=row["name"],
            version=row["version"],
            content_hash=row["content_hash"],
            python=row["python"],
            spec=json.loads(row["spec"]),
            source_text=row["source_text"],
            source_name=row["source_name"],
            created_at=row["created_at"],
        )

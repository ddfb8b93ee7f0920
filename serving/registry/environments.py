"""Registered environments: versioned, resolved environment specs.

The registry stores the resolved spec as JSON (parsing lives in ``serving.environments``,
a peer layer); registering the same content as the latest version returns that version.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from serving.errors import NotFoundError
from serving.registry import rows
from serving.registry.db import versioned_row
from serving.registry.names import Ref, check_model_name, latest_only


@dataclass(frozen=True)
class EnvironmentRecord(rows.VersionedRecord):
    content_hash: str
    python: str
    spec: dict[str, Any]
    source_text: str
    source_name: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return self.columns(skip=("spec", "source_text", "source_name", "created_at")) | {
            "requirements": list(self.spec.get("requirements", [])),
            "pip_options": list(self.spec.get("pip_options", [])),
            "variables": dict(self.spec.get("variables", [])),
            "replaced": list(self.spec.get("replaced", [])),
            "source": self.source_name,
            "created_at": self.created_at,
        }


class EnvironmentRegistry(rows.Table):
    """Environments registered in one workspace."""

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
            values = {
                "name": name,
                "version": version,
                "content_hash": content_hash,
                "python": python,
                "spec": rows.json_column(spec),
                "source_text": source_text,
                "source_name": source_name,
                "created_at": rows.now_text(),
            }
            rows.insert_row(conn, "environments", values)
        return self.get(Ref(name, version)), True

    def get(self, ref: Ref) -> EnvironmentRecord:
        with self.db.read() as conn:
            row = versioned_row(conn, "environments", ref.name, ref.version)
        if row is None:
            raise NotFoundError(f"environment {ref} not found", hint="see 'serving envs list'")
        return self._record(row)

    def list(self, *, name: str | None = None, latest: bool = False) -> list[EnvironmentRecord]:
        with self.db.read() as conn:
            records = [self._record(r) for r in rows.select_rows(conn, "environments", name=name)]
        if latest:
            records = latest_only(records)
        return records

    @staticmethod
    def _record(row: sqlite3.Row) -> EnvironmentRecord:
        return rows.from_row(EnvironmentRecord, row, {"spec": json.loads})

"""Endpoint records: what was deployed where, its state, URIs and keys."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from serving.errors import ConflictError, NotFoundError
from serving.registry import rows
from serving.registry.names import check_service_name


@dataclass(frozen=True)
class EndpointRecord:
    name: str
    target: str
    state: str
    scoring_uri: str | None
    swagger_uri: str | None
    spec: dict[str, Any]
    runtime: dict[str, Any]
    keys: tuple[str, ...]
    error: str | None
    created_at: str
    updated_at: str
    models: tuple[str, ...] = field(default=())

    def to_dict(self, *, with_keys: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "scoring_uri": self.scoring_uri,
            "swagger_uri": self.swagger_uri,
            "state": self.state,
            "target": self.target,
            "models": list(self.models),
            "auth_enabled": bool(self.keys),
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if with_keys:
            out["keys"] = list(self.keys)
        return out


class EndpointRegistry(rows.Table):
    """Endpoints recorded in one workspace."""

    def create(
        self, name: str, target: str, spec: dict[str, Any], keys: list[str], model_ids: list[int]
    ) -> EndpointRecord:
        check_service_name(name)
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM endpoints WHERE name = ?", (name,)).fetchone():
                raise ConflictError(
                    f"endpoint {name} already exists",
                    hint="use 'serving endpoints update', or delete it first",
                )
            now = rows.now_text()
            cur = conn.execute(
                "INSERT INTO endpoints (name, target, state, spec, keys, created_at, "
                "updated_at) VALUES (?, ?, 'Transitioning', ?, ?, ?, ?)",
                (name, target, rows.json_column(spec), rows.json_column(keys), now, now),
            )
            self._set_models(conn, int(cur.lastrowid or 0), model_ids)
        return self.get(name)

    def update(
        self, name: str, *, model_ids: Sequence[int] | None = None, **fields: Any
    ) -> EndpointRecord:
        """Set any of state, scoring_uri, swagger_uri, spec, runtime, keys, error."""
        allowed = {"state", "scoring_uri", "swagger_uri", "spec", "runtime", "keys", "error"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown endpoint fields {sorted(unknown)}")
        values = {
            k: rows.json_column(v) if k in ("spec", "runtime", "keys") else v
            for k, v in fields.items()
        }
        with self.db.write() as conn:
            row = conn.execute("SELECT id FROM endpoints WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"endpoint {name} not found")
            if values:
                assignments = ", ".join(f"{k} = ?" for k in values)
                conn.execute(
                    f"UPDATE endpoints SET {assignments}, updated_at = ? WHERE id = ?",
                    [*values.values(), rows.now_text(), row["id"]],
                )
            if model_ids is not None:
                self._set_models(conn, int(row["id"]), model_ids)
        return self.get(name)

    def get(self, name: str) -> EndpointRecord:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM endpoints WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(
                    f"endpoint {name} not found", hint="see 'serving endpoints list'"
                )
            return self._record(conn, row)

    def list(self) -> list[EndpointRecord]:
        with self.db.read() as conn:
            return [
                self._record(conn, r) for r in conn.execute("SELECT * FROM endpoints ORDER BY name")
            ]

    def delete(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM endpoints WHERE name = ?", (name,))

    @staticmethod
    def _set_models(conn: sqlite3.Connection, endpoint_id: int, model_ids: Sequence[int]) -> None:
        conn.execute("DELETE FROM endpoint_models WHERE endpoint_id = ?", (endpoint_id,))
        conn.executemany(
            "INSERT INTO endpoint_models (endpoint_id, model_id) VALUES (?, ?)",
            [(endpoint_id, m) for m in sorted(set(model_ids))],
        )

    @staticmethod
    def _record(conn: sqlite3.Connection, row: sqlite3.Row) -> EndpointRecord:
        models = tuple(
            f"{r[0]}:{r[1]}"
            for r in conn.execute(
                "SELECT m.name, m.version FROM endpoint_models em JOIN models m "
                "ON m.id = em.model_id WHERE em.endpoint_id = ? ORDER BY m.name, m.version",
                (row["id"],),
            )
        )
        decode: dict[str, Callable[[str], Any]] = {
            "spec": json.loads,
            "runtime": json.loads,
            "keys": lambda text: tuple(json.loads(text)),
        }
        return rows.from_row(EndpointRecord, row, decode, models=models)

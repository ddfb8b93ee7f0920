"""Rows and records: one way to write a row, read it back into a frozen record, list rows.

Every registry table maps column for column onto a frozen dataclass; the helpers here do
that mapping once, so a table's registry only names its table, its JSON columns and what
its records show.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from serving.registry.db import Database

R = TypeVar("R")


class Table:
    """A registry over the workspace database (connections are opened per operation)."""

    def __init__(self, db: Database) -> None:
        self.db = db


@dataclass(frozen=True)
class VersionedRecord:
    """A row of a name/version table: its database id, name and version."""

    id: int
    name: str
    version: int

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def columns(
        self, *, skip: tuple[str, ...] = (), rename: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The fields in order, ``id`` shown as ``name:version``: the start of ``to_dict``."""
        names = rename or {}
        out: dict[str, Any] = {"id": self.ref}
        for f in dataclasses.fields(self):
            if f.name != "id" and f.name not in skip:
                out[names.get(f.name, f.name)] = getattr(self, f.name)
        return out


def now_text() -> str:
    """The current UTC time as stored in ``created_at`` columns (whole seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_column(value: Any) -> str:
    """A dict or list as the stable JSON text stored in a column."""
    return json.dumps(value, sort_keys=True)


def from_row(
    cls: Callable[..., R],
    row: sqlite3.Row,
    decode: Mapping[str, Callable[[Any], Any]] | None = None,
    **extra: Any,
) -> R:
    """``cls`` built from the row's columns named like its fields; ``decode`` converts
    columns (JSON text to values), ``extra`` gives fields that are not columns."""
    columns = set(row.keys())  # a Row iterates over its values, not its names
    converters = decode or {}
    values = {
        f.name: converters[f.name](row[f.name]) if f.name in converters else row[f.name]
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in columns
    }
    return cls(**values, **extra)


def insert_row(conn: sqlite3.Connection, table: str, values: Mapping[str, Any]) -> int:
    """INSERT one row of ``values`` (column: value) into ``table``; returns its id."""
    columns = ", ".join(values)
    marks = ", ".join("?" * len(values))
    cur = conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values()))
    return int(cur.lastrowid or 0)


def select_rows(conn: sqlite3.Connection, table: str, **equal: object) -> list[sqlite3.Row]:
    """The rows of a name/version table whose columns equal the given values (a None
    value is no condition), by name and newest version first."""
    wanted = {key: value for key, value in equal.items() if value is not None}
    query = f"SELECT * FROM {table}"
    if wanted:
        query += " WHERE " + " AND ".join(f"{key} = ?" for key in wanted)
    query += " ORDER BY name, version DESC"
    return list(conn.execute(query, tuple(wanted.values())))

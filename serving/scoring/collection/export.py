"""Exporting what an endpoint collected (``serving endpoints data``): counts per model,
version and designation, and merged files per designation.

An export writes, per designation, one file that merges every writer's and every day's
records, sorted by time: ``<endpoint>-<designation>.jsonl`` (the records as stored, see
:mod:`.layout`) or ``<endpoint>-<designation>.csv`` (one line per data row: ``time``,
``correlation_id``, ``model_name``, ``model_version``, then one column per feature, the
union of the feature names seen, in first-seen order). Merged files rather than copies of
the partition folders: they are what a notebook, a spreadsheet or a drift baseline reads,
and the partitioned originals stay on the datastore. Each file is written to a temporary
name and renamed, so an interrupted export leaves no half file. Records are held in
memory per designation to sort them; the standard library's ``csv`` and ``json`` do the
writing (this module runs in the CLI, but imports nothing the runtime lacks).
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from serving.scoring.collection import layout

FORMATS = ("jsonl", "csv")
_FIXED = ("time", "correlation_id", "model_name", "model_version")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Count:
    """Records collected for one model version and designation."""

    model_name: str
    model_version: str | None
    designation: str
    records: int
    first: str
    last: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Exported:
    """One file an export wrote."""

    path: Path
    designation: str
    records: int
    rows: int


def load(
    root: Path, endpoint: str, *, designation: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """The records an export writes, sorted by time (then correlation id)."""
    found = list(layout.iter_records(root, endpoint, designation=designation, since=since))
    found.sort(key=lambda r: (str(r.get("time")), str(r.get("correlation_id"))))
    return found


def counts(
    root: Path, endpoint: str, *, designation: str | None = None, since: datetime | None = None
) -> list[Count]:
    """:func:`tally` of the records on disk, streamed (counting holds none of them)."""
    return tally(layout.iter_records(root, endpoint, designation=designation, since=since))


def tally(records: Iterable[dict[str, Any]]) -> list[Count]:
    """Records per (model, version, designation), with the first and last record's time."""
    seen: Counter[tuple[str, str | None, str]] = Counter()
    first: dict[tuple[str, str | None, str], str] = {}
    last: dict[tuple[str, str | None, str], str] = {}
    for record in records:
        key = (str(record.get("model_name")), record.get("model_version"),
               str(record.get("designation")))  # fmt: skip
        time = str(record.get("time"))
        seen[key] += 1
        first[key] = min(first.get(key, time), time)
        last[key] = max(last.get(key, time), time)
    return [
        Count(name, version, kind, n, first[(name, version, kind)], last[(name, version, kind)])
        for (name, version, kind), n in sorted(seen.items(), key=lambda kv: str(kv[0]))
    ]


def _write_atomic(path: Path, write: Callable[[Any], int]) -> int:
    """Write ``path`` through a temporary file in its folder; returns ``write``'s count.
    A fresh name opened exclusively rather than ``mkstemp``, whose 0600 would stick: the
    export gets the umask's mode, as ``monitor drift``'s reports do (a notebook or another
    user of the group reads it)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            count = write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _jsonl(records: list[dict[str, Any]]) -> Callable[[Any], int]:
    def write(handle: Any) -> int:
        for record in records:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        return len(records)

    return write


def _csv(records: list[dict[str, Any]]) -> Callable[[Any], int]:
    def write(handle: Any) -> int:
        rows = [
            ({k: record.get(k) for k in _FIXED}, layout.record_rows(record)) for record in records
        ]
        features: dict[str, None] = {}
        for _fixed, data_rows in rows:
            for row in data_rows:
                features.update(dict.fromkeys(str(k) for k in row))
        writer = csv.DictWriter(handle, [*_FIXED, *(f for f in features if f not in _FIXED)])
        writer.writeheader()
        written = 0
        for fixed, data_rows in rows:
            for row in data_rows:
                writer.writerow({**{str(k): _cell(v) for k, v in row.items()}, **fixed})
                written += 1
        return written

    return write


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def export(
    records: list[dict[str, Any]],
    endpoint: str,
    output: Path,
    *,
    fmt: str = "jsonl",
    progress: Progress | None = None,
) -> list[Exported]:
    """Write ``records`` (from :func:`load`) as one merged file per designation into
    ``output`` (see the module doc)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_kind.setdefault(str(record.get("designation")), []).append(record)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, group in sorted(by_kind.items()):
        path = output / f"{layout.segment(endpoint, '_')}-{layout.segment(kind, '_')}.{fmt}"
        if progress is not None:
            progress(f"writing {path.name} ({len(group)} records)")
        rows = _write_atomic(path, _csv(group) if fmt == "csv" else _jsonl(group))
        written.append(Exported(path, kind, len(group), rows))
    return written


def total(items: Iterable[Count]) -> int:
    return sum(item.records for item in items)


__all__ = ["FORMATS", "Count", "Exported", "counts", "export", "total"]

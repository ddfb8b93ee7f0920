"""Where collected model data lives on the default datastore, what one record holds, and
reading it back.

::

    <datastore>/modeldata/<endpoint>/<model_name>/<model_version>/<designation>/
        <YYYY>/<MM>/<DD>/<writer-id>.jsonl

One JSON object per line, one line per ``ModelDataCollector.collect()`` call::

    {"time": "2026-12-06T13:15:19.123456+00:00", "endpoint": "digits",
     "model_name": "digits", "model_version": "3", "designation": "inputs",
     "correlation_id": "...", "feature_names": ["f0", ...] | null,
     "data": [[...], ...]}

The writer (:mod:`serving.scoring.collection.writer`, inside model images) and the readers
(``serving endpoints data``, ``serving monitor drift``) share this module, so it imports
only the standard library and ``orjson`` (a runtime requirement of every deployment): numpy
and pandas values are recognised by their methods, never imported. Records are encoded with
``orjson``, which writes numpy arrays natively and NaN/infinity as ``null`` (strict JSON),
several times faster than the standard library: encoding runs in the scoring process. A
model without a version is filed under ``unversioned``. Each writer (one per scoring
process) appends to its own file per day, so no two processes share a file; a reader may see
a last line still being written and skips a line that does not parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from serving.errors import UserInputError

MODELDATA_DIR = "modeldata"
"""The folder on the datastore that holds every endpoint's collected data."""
UNVERSIONED = "unversioned"
"""The version folder of a model collected without a version."""
SUFFIX = ".jsonl"
PROGRESS_STEP = 1 << 20
"""How many bytes :func:`read_file` reads between two calls of its ``advance``."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_DURATIONS = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def segment(value: str | None, fallback: str) -> str:
    """``value`` as one safe path segment (other characters become ``_``)."""
    text = _UNSAFE.sub("_", str(value)) if value not in (None, "") else fallback
    return fallback if text in (".", "..") else text


def endpoint_dir(root: Path, endpoint: str) -> Path:
    """The folder of everything ``endpoint`` collected on the datastore folder ``root``."""
    return Path(root) / MODELDATA_DIR / segment(endpoint, "_")


def day_dir(
    root: Path,
    endpoint: str,
    model_name: str,
    model_version: str | None,
    designation: str,
    day: date,
) -> Path:
    """The partition folder of one model's ``designation`` records on ``day``."""
    return (
        endpoint_dir(root, endpoint)
        / segment(model_name, "_")
        / segment(model_version, UNVERSIONED)
        / segment(designation, "_")
        / f"{day.year:04d}"
        / f"{day.month:02d}"
        / f"{day.day:02d}"
    )


def record_file(
    root: Path,
    endpoint: str,
    model_name: str,
    model_version: str | None,
    designation: str,
    day: date,
    writer_id: str,
) -> Path:
    """The file one writer appends ``designation`` records of one model to on ``day``."""
    folder = day_dir(root, endpoint, model_name, model_version, designation, day)
    return folder / f"{segment(writer_id, 'writer')}{SUFFIX}"


# -- records ---------------------------------------------------------------------------
_DATA_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_OPTIONS = _DATA_OPTIONS | orjson.OPT_APPEND_NEWLINE


def _jsonable(value: Any) -> Any:
    """``orjson`` default: what it does not write itself (numpy arrays it cannot take as
    they are, numpy scalars, pandas objects, sets, bytes); else the value's ``str``."""
    if hasattr(value, "columns") and hasattr(value, "to_numpy"):  # a DataFrame inside data
        return value.to_numpy(dtype=object).tolist()
    if hasattr(value, "tolist"):  # numpy array or scalar, pandas Series / Index
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def normalise(data: Any, feature_names: list[str] | None) -> tuple[Any, list[str] | None]:
    """(data, feature names) as recorded: a DataFrame becomes its rows, named by its columns
    unless names were given; anything else is kept for :func:`encode` to convert."""
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):
        columns = feature_names or [str(c) for c in data.columns]
        return data.to_numpy(dtype=object).tolist(), [str(n) for n in columns]
    return data, None if feature_names is None else [str(n) for n in feature_names]


def make_record(
    *,
    endpoint: str,
    model_name: str,
    model_version: str | None,
    designation: str,
    correlation_id: str,
    data: Any,
    feature_names: list[str] | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """One record for :func:`encode` (``time`` defaults to now, UTC); ``data`` may still
    hold numpy values, converted when encoded."""
    value, names = normalise(data, feature_names)
    return {
        "time": (time or datetime.now(UTC)).astimezone(UTC).isoformat(),
        "endpoint": endpoint,
        "model_name": model_name,
        "model_version": None if model_version is None else str(model_version),
        "designation": designation,
        "correlation_id": correlation_id,
        "feature_names": names,
        "data": value,
    }


def encode(record: dict[str, Any]) -> bytes:
    """One JSON Lines line (with its newline, UTF-8) for ``record``."""
    return orjson.dumps(record, default=_jsonable, option=_OPTIONS)


def record_head(
    endpoint: str, model_name: str, model_version: str | None, designation: str
) -> bytes:
    """The fields every record of one model and designation shares, encoded once (for
    :func:`encode_parts`)."""
    version = None if model_version is None else str(model_version)
    fields = {"endpoint": endpoint, "model_name": model_name, "model_version": version,
              "designation": designation}  # fmt: skip
    return orjson.dumps(fields)[1:-1]


def encode_names(feature_names: list[str]) -> bytes:
    """``feature_names`` as recorded, encoded (for :func:`encode_parts`'s ``names_json``)."""
    return orjson.dumps([str(n) for n in feature_names])


def encode_parts(
    time: datetime,
    head: bytes,
    correlation_id: str,
    feature_names: list[str] | None,
    data: Any,
    names_json: bytes | None = None,
) -> bytes:
    """The same line as ``encode(make_record(...))`` (``time`` aware), built around a
    :func:`record_head`: the writer's per-record path, which skips the dict and re-encoding
    the shared fields. ``names_json`` is :func:`encode_names` of ``feature_names`` when the
    caller has it (the writer keeps it per model and designation: converting 64 names per
    record cost more than the data); a DataFrame's names are still taken from it. The time
    is written by ``orjson`` itself, the same text as ``isoformat()``, ~8 times faster."""
    if names_json is None or (
        type(data) is not list and hasattr(data, "columns") and hasattr(data, "to_numpy")
    ):
        data, names = normalise(data, feature_names)
        names_json = orjson.dumps(names)
    stamp = time if time.tzinfo is UTC else time.astimezone(UTC)
    return b"".join(
        (
            b'{"time":',
            orjson.dumps(stamp),
            b",",
            head,
            b',"correlation_id":',
            orjson.dumps(correlation_id),
            b',"feature_names":',
            names_json,
            b',"data":',
            orjson.dumps(data, default=_jsonable, option=_DATA_OPTIONS),
            b"}\n",
        )
    )


# -- reading ---------------------------------------------------------------------------
def record_time(record: dict[str, Any]) -> datetime:
    """The record's ``time`` as an aware UTC datetime."""
    return datetime.fromisoformat(record["time"]).astimezone(UTC)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``/``--window`` text as an aware UTC datetime: an ISO date or time
    (``2026-12-06``, ``2026-12-06T10:00``; no zone means UTC) or a duration back from now
    (``30m``, ``6h``, ``1d``, ``2w``, ``1d12h``)."""
    clean = text.strip()
    compact = clean.replace(" ", "")
    if _DURATIONS.fullmatch(compact):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(compact))
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(clean)
    except ValueError:
        raise UserInputError(
            f"cannot read time {text!r}",
            hint="use an ISO date or time (2026-12-06, 2026-12-06T10:00) or a duration "
            "back from now (30m, 6h, 1d, 2w)",
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _day_of(path: Path, base: Path) -> date | None:
    """The date of a ``.../<YYYY>/<MM>/<DD>/<file>`` path (None when not laid out so)."""
    parts = path.relative_to(base).parts
    try:
        return date(int(parts[-4]), int(parts[-3]), int(parts[-2]))
    except (IndexError, ValueError):
        return None


def record_files(
    root: Path,
    endpoint: str,
    *,
    designation: str | None = None,
    since: datetime | None = None,
) -> list[Path]:
    """The record files of ``endpoint`` (sorted), only ``designation``'s when given and only
    days on or after ``since``'s (UTC) when given."""
    base = endpoint_dir(root, endpoint)
    if not base.is_dir():
        return []
    first = since.astimezone(UTC).date() if since is not None else None
    wanted = segment(designation, "_") if designation is not None else None
    found = []
    for path in sorted(base.rglob(f"*{SUFFIX}")):
        parts = path.relative_to(base).parts
        if len(parts) != 7 or (wanted is not None and parts[2] != wanted):
            continue
        day = _day_of(path, base)
        if day is None or (first is not None and day < first):
            continue
        found.append(path)
    return found


def read_file(
    path: Path,
    since: datetime | None = None,
    advance: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The records of one file (lines that do not parse, such as a line still being
    written, are skipped), from ``since`` on when given. Read as bytes: a line torn inside
    a multi-byte character is skipped like any other torn line, not a decoding error.
    ``advance``, when given, gets the bytes read, a MiB at a time and the rest at the end,
    so that a reader's progress moves inside a big file (one writer writes one file a day)."""
    pending = 0
    with open(path, "rb") as handle:
        for line in handle:
            if advance is not None:
                pending += len(line)
                if pending >= PROGRESS_STEP:
                    advance(pending)
                    pending = 0
            try:
                record = orjson.loads(line)
                if since is not None and record_time(record) < since:
                    continue
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(record, dict):
                yield record
    if advance is not None:
        advance(pending)


def iter_records(
    root: Path,
    endpoint: str,
    *,
    designation: str | None = None,
    since: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Every record ``endpoint`` collected on the datastore folder ``root``, file by file
    (not sorted by time across files), optionally only ``designation``'s and from ``since``."""
    cut = since.astimezone(UTC) if since is not None else None
    for path in record_files(root, endpoint, designation=designation, since=cut):
        yield from read_file(path, cut)


def _names(record: dict[str, Any], width: int) -> list[str]:
    given = record.get("feature_names") or []
    return [str(given[i]) if i < len(given) else f"f{i}" for i in range(width)]


def record_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's data as rows keyed by feature name (its ``feature_names``, else
    ``f0``, ``f1``...): a list of lists is one row per list; a list of dicts is used as it
    is; a dict of lists is columns; a flat list is one row when feature names of the same
    length were given, else one single-value row per item (predictions); a scalar or a dict
    of scalars is one row. ``{"data": ...}`` (the request body shape) is unwrapped."""
    data = record.get("data")
    if isinstance(data, dict) and set(data) == {"data"}:
        data = data["data"]
    if isinstance(data, dict):
        if data and all(isinstance(v, list) for v in data.values()):
            length = max(len(v) for v in data.values())
            return [{k: (v[i] if i < len(v) else None) for k, v in data.items()}
                    for i in range(length)]  # fmt: skip
        return [dict(data)]
    if not isinstance(data, list):
        return [{_names(record, 1)[0]: data}]
    if not data:
        return []
    if all(isinstance(row, dict) for row in data):
        return [dict(row) for row in data]
    if all(isinstance(row, list) for row in data):
        width = max(len(row) for row in data)
        names = _names(record, width)
        return [dict(zip(names, row, strict=False)) for row in data]
    names = record.get("feature_names") or []
    if len(names) == len(data) and len(names) > 1:
        return [dict(zip(_names(record, len(data)), data, strict=True))]
    name = _names(record, 1)[0]
    return [{name: item} for item in data]


__all__ = [
    "MODELDATA_DIR",
    "SUFFIX",
    "UNVERSIONED",
    "day_dir",
    "encode",
    "encode_names",
    "encode_parts",
    "endpoint_dir",
    "iter_records",
    "make_record",
    "normalise",
    "parse_since",
    "read_file",
    "record_file",
    "record_files",
    "record_head",
    "record_rows",
    "record_time",
    "segment",
]

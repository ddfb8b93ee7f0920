"""A run's metrics: an append-only JSON-lines file, written cheaply and read into Azure ML
v1's shapes.

Writing (:class:`MetricsWriter`): ``run.log`` appends a tuple to an in-memory list and
returns; a daemon thread turns the list into lines and appends them to the file every
``FLUSH_INTERVAL_S`` and at exit (or on :meth:`MetricsWriter.flush`). One ``write`` per
batch on an ``O_APPEND`` descriptor, so a killed process loses at most its last batch and
never leaves a torn line in the middle of the file (a partial last line is skipped by the
reader, and the next writer starts on a new line). MLflow's synchronous logging stalling
training loops is the known complaint this avoids.

Reading (:func:`read_metrics`): v1's ``get_metrics()`` shapes: a name logged once maps to
a bare value, logged more often to a list; ``log_list`` gives a list; rows and tables give
``{column: [values]}`` (``{column: value}`` after a single ``log_row``); image and other
artifact-backed metrics give their ``aml://`` location.

Standard library only: training scripts import it.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FLUSH_INTERVAL_S = 0.25
BATCH_RECORDS = 20_000
"""Records waiting that wake the flushing thread before its interval (bounded memory, and
bounded batches for a writer that sends them to a server)."""

SCALAR, LIST, ROW, TABLE = "scalar", "list", "row", "table"
ARTIFACT_KINDS = frozenset(
    {"image", "confusion_matrix", "accuracy_table", "residuals", "predictions"}
)

_PLAIN = (int, float, str, bool, type(None))
_now = time.time


class MetricValueError(TypeError):
    """A value that cannot be a metric (v1: UserErrorException / InvalidArgumentType)."""


def to_plain(value: Any) -> Any:
    """``value`` as a JSON scalar: numpy scalars become numbers (never strings, unlike v1's
    ``repr`` of ``np.int64``); anything else that is not a scalar is refused."""
    if type(value) in _PLAIN:
        return value
    item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
    if item is not None and getattr(value, "ndim", 0) == 0:
        try:
            plain = item()
        except (TypeError, ValueError):
            plain = None
        if isinstance(plain, _PLAIN):
            return plain
    if isinstance(value, (int, float, str, bool)):  # subclasses (IntEnum, ...)
        return value.__class__.__mro__[-2](value) if isinstance(value, bool) else _base(value)
    raise MetricValueError(
        f"metric values must be numbers, strings or booleans, not {type(value).__name__}"
    )


def _base(value: Any) -> Any:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _json_safe(value: Any) -> Any:
    """NaN and infinities as strings JSON can hold; read back as floats."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and "__float__" in value:
        return float(value["__float__"])
    return value


_writers: weakref.WeakSet[MetricsWriter] = weakref.WeakSet()


def flush_all() -> None:
    """Flush every writer of this process (at exit, and before a run sends its outputs)."""
    for writer in list(_writers):
        writer.flush()


atexit.register(flush_all)


class MetricsWriter:
    """Buffered appends to one metrics file, flushed by a background thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pending: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._count = 0
        _writers.add(self)

    def add(
        self, name: str, kind: str, value: Any, step: Any = None, description: str = ""
    ) -> None:
        """Queue one record (the caller has checked and converted ``value``)."""
        pending = self._pending
        pending.append((name, kind, value, step, time.time(), description))
        if self._thread is None:
            self._start()
        elif len(pending) >= BATCH_RECORDS:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="serving-metrics", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            self.flush()

    @property
    def written(self) -> int:
        return self._count

    def flush(self) -> None:
        """Write everything queued so far (safe from any thread)."""
        with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            lines = [_line(*record) for record in batch]
            self._append("".join(lines).encode("utf-8"))
            self._count += len(batch)

    def _append(self, data: bytes) -> None:
        append(self.path, data)


def append(path: Path, data: bytes) -> None:
    """Append whole lines under an exclusive ``flock``: writers in other processes (the
    server's workers) never interleave, and the torn-line check below never sees another
    writer's batch half-copied (the file grows page by page during a large write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a killed writer's torn line stays on its own
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)  # releases the lock


KINDS = frozenset({SCALAR, LIST, ROW, TABLE}) | ARTIFACT_KINDS


def check_lines(data: bytes) -> int:
    """How many records ``data`` (JSON lines as :func:`_line` writes them) holds; raises
    :class:`MetricValueError` naming the first line that is not a record."""
    count = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise MetricValueError(f"metrics line {number} is not JSON") from None
        if not (
            isinstance(record, dict)
            and isinstance(record.get("n"), str)
            and record.get("k", SCALAR) in KINDS
            and isinstance(record.get("t", 0.0), (int, float))
        ):
            raise MetricValueError(f"metrics line {number} is not a metric record")
        count += 1
    return count


@functools.lru_cache(maxsize=1024)
def _name_json(name: str) -> str:
    return json.dumps(name)


def _line(name: str, kind: str, value: Any, step: Any, stamp: float, description: str) -> str:
    kind_of = type(value)
    if (
        kind == SCALAR
        and not description
        and (kind_of is int or (kind_of is float and math.isfinite(value)))
        and (step is None or type(step) is int)
    ):  # the common case, formatted without building a dict (repr is valid JSON here)
        at = "" if step is None else f',"s":{step}'
        return f'{{"n":{_name_json(name)},"k":"scalar","v":{value!r}{at},"t":{stamp:.6f}}}\n'
    record: dict[str, Any] = {"n": name, "k": kind, "v": value, "t": round(stamp, 6)}
    if step is not None:
        record["s"] = step
    if description:
        record["d"] = description
    try:
        return json.dumps(record, default=str, allow_nan=False) + "\n"
    except ValueError:  # NaN or infinity somewhere inside
        if isinstance(value, dict):
            record["v"] = {
                k: [_json_safe(x) for x in v] if isinstance(v, list) else _json_safe(v)
                for k, v in value.items()
            }
        elif isinstance(value, list):
            record["v"] = [_json_safe(x) for x in value]
        else:
            record["v"] = _json_safe(value)
        return json.dumps(record, default=str) + "\n"


def _parse_lines(data: bytes) -> Iterator[dict[str, Any]]:
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "n" in record:
            yield record


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a metrics file in order (torn lines of killed writers skipped)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return
    yield from _parse_lines(data)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(x) for x in value]
    if isinstance(value, dict) and "__float__" not in value:
        return {k: _decode(v) for k, v in value.items()}
    return _from_json(value)


class _Shaper:
    """Accumulates one name's records into its v1 shape."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.cells: list[Any] = []
        self.columns: dict[str, list[Any]] = {}
        self.rows = 0

    def add(self, kind: str, value: Any) -> None:
        value = _decode(value)
        if kind in (ROW, TABLE) and isinstance(value, dict):
            for col, cell in value.items():
                cells = cell if kind == TABLE and isinstance(cell, list) else [cell]
                self.columns.setdefault(col, []).extend(cells)
            self.rows += 1 if kind == ROW else 2
        elif kind == LIST and isinstance(value, list):
            self.cells.extend(value)
            self.kind = LIST
        else:
            self.cells.append(value)

    def shape(self) -> Any:
        if self.columns:
            if self.rows == 1:
                return {
                    col: cells[0] if len(cells) == 1 else cells
                    for col, cells in self.columns.items()
                }
            return self.columns
        if self.kind == LIST:
            return list(self.cells)
        return self.cells[0] if len(self.cells) == 1 else list(self.cells)


def read_metrics(path: Path, name: str | None = None) -> dict[str, Any]:
    """``get_metrics()`` of the run whose metrics file is ``path``."""
    shapers: dict[str, _Shaper] = {}
    for record in records(path):
        if name is not None and record["n"] != name:
            continue
        kind = str(record.get("k", SCALAR))
        shaper = shapers.get(record["n"])
        if shaper is None:
            shaper = shapers[record["n"]] = _Shaper(kind)
        shaper.add(kind, record.get("v"))
    return {key: shaper.shape() for key, shaper in shapers.items()}


Points = list[tuple[Any, Any, float]]


def numbers(record: dict[str, Any]) -> Iterator[int | float]:
    """The numeric values of a scalar or list record (text, booleans and other kinds
    skipped; the file's own encoding of NaN and infinities decoded)."""
    if record.get("k", SCALAR) not in (SCALAR, LIST):
        return
    values = record.get("v")
    for value in values if isinstance(values, list) else [values]:
        value = _from_json(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield value


def _add_points(out: dict[str, Points], record: dict[str, Any]) -> None:
    if record.get("k", SCALAR) not in (SCALAR, LIST):
        return
    series = out.setdefault(record["n"], [])
    for value in numbers(record):
        step = record.get("s", len(series))
        series.append((step, value, float(record.get("t", 0.0))))


def history(path: Path) -> dict[str, Points]:
    """Each numeric scalar metric's values in order as ``(step or index, value, time)``."""
    out: dict[str, Points] = {}
    for record in records(path):
        _add_points(out, record)
    return {key: series for key, series in out.items() if series}


class SeriesReader:
    """:func:`history` and, for the names without a numeric series, :func:`read_metrics`,
    kept up to date by reading only what was appended since the last :meth:`read`: a
    server polled for a running run's chart parses each record once. A file that shrank
    (rewritten) is read again from the start; a line not yet ended waits for its newline.
    Not thread-safe: the caller holds a lock around :meth:`read` and the use of its result.
    """

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path, self.name = Path(path), name
        self._reset()

    def _reset(self) -> None:
        self.offset = 0
        self._points: dict[str, Points] = {}
        self._shapers: dict[str, _Shaper] = {}

    def _add(self, record: dict[str, Any]) -> None:
        if self.name is not None and record["n"] != self.name:
            return
        _add_points(self._points, record)
        kind = str(record.get("k", SCALAR))
        if kind in (SCALAR, LIST) and self._points.get(record["n"]):
            return  # a numeric series: its values are in ``_points``
        shaper = self._shapers.get(record["n"])
        if shaper is None:
            shaper = self._shapers[record["n"]] = _Shaper(kind)
        shaper.add(kind, record.get("v"))

    def read(self) -> tuple[dict[str, Points], dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                if os.fstat(fh.fileno()).st_size < self.offset:
                    self._reset()
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            self._reset()
            data = b""
        end = data.rfind(b"\n") + 1
        for record in _parse_lines(data[:end]):
            self._add(record)
        self.offset += end
        series = {key: points for key, points in self._points.items() if points}
        values = {key: s.shape() for key, s in self._shapers.items() if key not in series}
        return series, values


def history_and_values(
    path: Path, name: str | None = None
) -> tuple[dict[str, Points], dict[str, Any]]:
    """:func:`history` and, for the names without a numeric series, :func:`read_metrics`,
    in one pass over the file (a chart and a table of one run read it once)."""
    return SeriesReader(path, name).read()

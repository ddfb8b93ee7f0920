"""The background writer of collected model data: one per scoring process.

``collect()`` hands a record to :meth:`Writer.submit`, which only appends it to a bounded
in-memory buffer (a ``deque``; appending is atomic and takes no lock): a full buffer drops
the record and counts it, so collection never slows or fails a request. One daemon thread
wakes every :data:`DRAIN_INTERVAL_S`, takes what the buffer holds, frames the records
around their data (:mod:`.collector` encodes it in ``collect()``) and appends them to one
JSON Lines file per model, designation and day for this writer, then flushes.
:meth:`Writer.stop` (gunicorn's ``worker_exit`` hook and ``atexit``: SIGTERM, a graceful
reload, an endpoint stopped or deleted) wakes it at once, waits for everything buffered to
be written and closes the files.

The thread is not woken per record (as a ``queue.Queue`` consumer would be): each wake-up
costs the request thread a lock, a notify and a GIL hand-off, which measured as most of the
cost of collection. Written here rather than with ``logging.handlers.QueueListener`` for the
same reason, and because the listener's queue blocks or raises when full and it has no
notion of per-partition files, day rollover or drop counting, which are the whole job. Drops
and writes are Prometheus counters (``serving_model_data_dropped_total{reason}``,
``serving_model_data_written_total``) that the server's ``/metrics`` sums across workers in
multiprocess mode; ``prometheus_client`` is imported only when collection is on.

Files and folders are made group-writable (folders ``2770``, files ``0660``): in a
container the server runs as its own user with the host user's group added, and the
host user must be able to read, export and delete what it wrote.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

from serving.scoring.collection import layout

log = logging.getLogger("serving.model_data")

DEFAULT_CAPACITY = 10000
"""Records a writer queues before it drops (SERVING_MODEL_DATA_QUEUE)."""
STOP_TIMEOUT_S = 10.0
"""Longest :meth:`Writer.stop` waits for the buffer to be written."""
DRAIN_INTERVAL_S = 0.2
"""How often the writer's thread takes what the buffer holds (and flushes its files)."""
_YIELD_EVERY = 256
"""Records the writer's thread frames and appends before it offers the GIL to the request
thread (about 1 us each: ``collect()`` already encoded the data). Every offer costs the
request thread a forced GIL hand-off: offering every 32 records cost more than all the
rest of collection (in-process, digits model, inputs and predictions collected: 180 us
CPU per request offering every 32 records, 145-150 every 256 or never, 122-135 off)."""
_FILE_BUFFER = 1 << 20
"""Bytes a file buffers between writes (flushed after each drain anyway)."""
_DIR_MODE = 0o2770
_FILE_MODE = 0o660

Counted = Callable[[str, int], None]
"""Called as ``counted(reason_or_"written", n)``."""


class Item(NamedTuple):
    """One ``collect()`` call, as queued: :mod:`.collector` queues ``data`` already encoded
    (an ``orjson.Fragment``), other data is encoded by the writer's thread; a named tuple:
    made in the request, so it should cost little."""

    time: datetime
    model_name: str
    designation: str
    feature_names: list[str] | None
    correlation_id: str
    data: Any


def model_versions(app_root: Path) -> dict[str, str]:
    """``{model name: version}`` of the models laid out in an app folder
    (``azureml-models/<name>/<version>/``), as deployments have them."""
    from serving.scoring.layout import MODELS_FOLDER

    found: dict[str, str] = {}
    models = Path(app_root) / MODELS_FOLDER
    if models.is_dir():
        for model in sorted(models.iterdir()):
            versions = sorted(p.name for p in model.iterdir()) if model.is_dir() else []
            if versions:
                found[model.name] = versions[-1]
    return found


def _make_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents group-writable (see the module doc)."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # another worker made it meanwhile
            continue
        os.chmod(path, _DIR_MODE)


def _open_append(path: Path) -> IO[bytes]:
    """Open this writer's file for appending. A file that ends inside a line (an earlier
    process of the same replica and pid was killed mid-write: pids repeat in a restarted
    container) gets its newline first, so the torn line does not swallow the next record."""
    _make_dirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "ab", buffering=_FILE_BUFFER)


def _take_all(buffer: deque[Item]) -> list[Item]:
    """What ``buffer`` holds now, each record taken once even if another thread takes
    from it at the same time."""
    taken = []
    while buffer:
        try:
            taken.append(buffer.popleft())
        except IndexError:  # the other thread took the last one
            break
    return taken


class Writer:
    """Queues records and appends them to this writer's files on ``root`` (see the module
    doc); ``counted`` receives drops by reason and writes (for the metrics)."""

    def __init__(
        self,
        root: Path,
        endpoint: str,
        *,
        versions: Mapping[str, str] | None = None,
        capacity: int = DEFAULT_CAPACITY,
        writer_id: str | None = None,
        counted: Counted | None = None,
    ) -> None:
        self.root = Path(root)
        self.endpoint = endpoint
        self.versions = dict(versions or {})
        self.writer_id = writer_id or f"{socket.gethostname()}-{os.getpid()}"
        self.dropped = 0
        self.written = 0
        self._counted = counted
        self._capacity = max(1, capacity)
        self._buffer: deque[Item] = deque()
        self._files: dict[tuple[str, str, date], IO[bytes]] = {}
        self._heads: dict[tuple[str, str], bytes] = {}
        self._names: dict[tuple[str, str], tuple[list[str], bytes]] = {}
        self._stopped = False
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._warned = False
        self._thread = threading.Thread(target=self._drain, name="model-data-writer", daemon=True)
        self._thread.start()

    # -- the request side ------------------------------------------------------------------
    def submit(self, item: Item) -> bool:
        """Buffer ``item`` without waiting; False (and counted) when it was dropped. The
        bound is checked before appending, so threads of one process racing may overshoot
        it by at most their number."""
        if self._stopped:
            self._drop("stopped", 1)
            return False
        if len(self._buffer) >= self._capacity:
            self._drop("queue_full", 1)
            return False
        self._buffer.append(item)
        return True

    def count_failure(self) -> None:
        """Count a record that could not even be queued (its data failed to convert)."""
        self._drop("encode_error", 1)

    def _drop(self, reason: str, count: int) -> None:
        with self._lock:
            self.dropped += count
        if self._counted is not None:
            self._counted(reason, count)

    # -- the writer thread -----------------------------------------------------------------
    def _drain(self) -> None:
        """Every :data:`DRAIN_INTERVAL_S` (at once when stopping) write what the buffer
        holds; once stopping and drained, close the files (here, not in :meth:`stop`: a
        stop that timed out leaves the thread the only one using them)."""
        while True:
            stopping = self._wake.wait(DRAIN_INTERVAL_S)
            batch = _take_all(self._buffer)
            if batch:
                self._write(batch)
            if stopping and not self._buffer:
                break
        for handle in self._files.values():
            try:
                handle.close()
            except OSError as exc:
                self._warn(exc)
        self._files.clear()

    def _write(self, items: list[Item]) -> None:
        written = 0
        for count, item in enumerate(items, start=1):
            if count % _YIELD_EVERY == 0:
                time.sleep(0)  # let a waiting request thread have the GIL between chunks
            try:
                line = self._line(item)
            except Exception as exc:  # the script's data, whatever it raises: not the thread
                self._drop("encode_error", 1)
                self._warn(exc, "cannot encode a record")
                continue
            try:
                self._handle(item).write(line)
                written += 1
            except OSError as exc:
                self._drop("write_error", 1)
                self._warn(exc)
        try:
            for handle in self._files.values():
                handle.flush()
        except OSError as exc:
            self._warn(exc)
        if written:
            self.written += written
            if self._counted is not None:
                self._counted("written", written)

    def _line(self, item: Item) -> bytes:
        key = (item.model_name, item.designation)
        head = self._heads.get(key)
        if head is None:
            version = self.versions.get(item.model_name)
            head = layout.record_head(self.endpoint, item.model_name, version, item.designation)
            self._heads[key] = head
        names = item.feature_names
        names_json = None
        if names is not None:
            known = self._names.get(key)
            if known is None or known[0] != names:  # a list compare: ~0.2 us for 64 names
                known = self._names[key] = (names, layout.encode_names(names))
            names_json = known[1]
        return layout.encode_parts(
            item.time, head, item.correlation_id, names, item.data, names_json
        )

    def _handle(self, item: Item) -> IO[bytes]:
        day = item.time.date()
        key = (item.model_name, item.designation, day)
        handle = self._files.get(key)
        if handle is None:
            for old in [k for k in self._files if k[2] < day]:  # yesterday's files are done
                self._files.pop(old).close()
            version = self.versions.get(item.model_name)
            path = layout.record_file(
                self.root, self.endpoint, item.model_name, version, item.designation, day,
                self.writer_id,
            )  # fmt: skip
            handle = self._files[key] = _open_append(path)
        return handle

    def _warn(self, exc: BaseException, what: str = "") -> None:
        if not self._warned:  # once per process: a full disk would flood the log
            self._warned = True
            what = what or f"cannot write records under {self.root}"
            log.warning("model data collection: %s: %r", what, exc)

    # -- stopping --------------------------------------------------------------------------
    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Write everything buffered, close the files; later records are dropped."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._wake.set()
        self._thread.join(timeout_s)
        # a hung disk kept the thread, or a collect() raced the stop: lost, but counted
        # (taken one by one: a record the still-running thread takes is not counted twice)
        if left := len(_take_all(self._buffer)):
            self._drop("stopped", left)
        if self.dropped:
            log.warning(
                "model data collection: %d records written, %d dropped", self.written, self.dropped
            )


# -- the process's writer ------------------------------------------------------------------
_current: Writer | None = None
_guard = threading.Lock()


def _forget() -> None:
    """In a forked child: the parent's writer (and its thread) is not this process's, and
    the guard may have been held by a parent's thread that the child does not have."""
    global _current, _guard
    _current = None
    _guard = threading.Lock()


os.register_at_fork(after_in_child=_forget)  # cheaper than comparing pids per collect()


def prometheus_counter() -> Counted:
    """Counts into the server's Prometheus metrics (summed across workers by /metrics)."""
    from prometheus_client import Counter

    dropped = Counter(
        "serving_model_data_dropped",
        "Collected model data records dropped (queue_full, write_error, encode_error, stopped).",
        ("reason",),
        registry=None,
    )
    written = Counter(
        "serving_model_data_written",
        "Collected model data records written to the datastore.",
        registry=None,
    )
    dropped.labels("queue_full")  # shown as 0 before the first drop

    def counted(reason: str, count: int) -> None:
        if reason == "written":
            written.inc(count)
        else:
            dropped.labels(reason).inc(count)

    return counted


def current(make: Callable[[], Writer]) -> Writer:
    """This process's writer, made by ``make`` on first use (again after a fork)."""
    global _current
    writer = _current
    if writer is not None:
        return writer
    with _guard:
        if _current is None:
            _current = make()
            atexit.register(stop_current)
        return _current


def stop_current(timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Flush and stop this process's writer, if it has one (idempotent)."""
    writer = _current
    if writer is not None:
        writer.stop(timeout_s)


def now() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "DEFAULT_CAPACITY",
    "Item",
    "Writer",
    "current",
    "model_versions",
    "now",
    "prometheus_counter",
    "stop_current",
]

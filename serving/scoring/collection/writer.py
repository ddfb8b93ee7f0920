"""The background writer of collected model data: one per scoring process.

``collect()`` hands a record to :meth:`Writer.add`, which encodes and frames it as its
JSON line right there (a few microseconds for a 64-feature row) and appends the bytes to
the pending buffer of its file (a ``bytearray`` per model, designation and day), under a
lock no one holds for longer than an append or a swap. A full buffer
(:data:`DEFAULT_CAPACITY` records waiting) drops the record and counts it, so collection
never slows or fails a request. One daemon thread wakes every :data:`DRAIN_INTERVAL_S`,
swaps the buffers for empty ones and appends each to one JSON Lines file per model,
designation and day for this writer, then flushes: its work is a few ``write`` calls, which
release the GIL. :meth:`Writer.stop` (gunicorn's ``worker_exit`` hook and ``atexit``:
SIGTERM, a graceful reload, an endpoint stopped or deleted) wakes it at once, waits for
everything buffered to be written and closes the files.

Why bytes and not a queue of records for the thread to frame: measured in-process (digits
inputs and predictions, two records per request), queueing records for the thread cost
~15 us of CPU per request and framing into bytes in the request ~9 us, all threads
counted. Records queued as objects are what the garbage collector walks, and every batch the
thread framed held the GIL against the request thread; bytes are neither. The thread is
not woken per record (as a ``queue.Queue`` consumer would be): each wake-up costs the
request thread a lock, a notify and a GIL hand-off. Written here rather than with
``logging.handlers.QueueListener`` for the same reasons, and because the listener's queue
blocks or raises when full and it has no notion of per-partition files, day rollover or
drop counting, which are the whole job. Drops and writes are Prometheus counters
(``serving_model_data_dropped_total{reason}``, ``serving_model_data_written_total``) that
the server's ``/metrics`` sums across workers in multiprocess mode; ``prometheus_client``
is imported only when collection is on.

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
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from serving.scoring.collection import layout

log = logging.getLogger("serving.model_data")

DEFAULT_CAPACITY = 10000
"""Records a writer queues before it drops (SERVING_MODEL_DATA_QUEUE)."""
STOP_TIMEOUT_S = 10.0
"""Longest :meth:`Writer.stop` waits for the buffer to be written."""
DRAIN_INTERVAL_S = 0.2
"""How often the writer's thread takes what the buffer holds (and flushes its files)."""
_FILE_BUFFER = 1 << 20
"""Bytes a file buffers between writes (flushed after each drain anyway)."""
_DIR_MODE = 0o2770
_FILE_MODE = 0o660

Counted = Callable[[str, int], None]
"""Called as ``counted(reason_or_"written", n)``."""


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


Key = tuple[str, str, date]
"""A file of this writer: model name, designation, day."""


class Pending:
    """The framed lines waiting for one file, and how many records they are."""

    __slots__ = ("data", "records")

    def __init__(self) -> None:
        self.data = bytearray()
        self.records = 0


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
        self._pending: dict[Key, Pending] = {}
        self._waiting = 0
        self._files: dict[Key, IO[bytes]] = {}
        self._heads: dict[tuple[str, str], bytes] = {}
        self._names: dict[tuple[str, str], tuple[list[str], bytes]] = {}
        self._stopped = False
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._warned = False
        self._thread = threading.Thread(target=self._drain, name="model-data-writer", daemon=True)
        self._thread.start()

    # -- the request side ------------------------------------------------------------------
    def add(
        self,
        time: datetime,
        model_name: str,
        designation: str,
        feature_names: list[str] | None,
        correlation_id: str,
        data: Any,
    ) -> bool:
        """Frame one ``collect()`` call's record and buffer its line without waiting; False
        (and counted) when it was dropped. The bound is checked before appending, so
        threads of one process racing may overshoot it by at most their number."""
        if self._stopped:
            self._drop("stopped", 1)
            return False
        if self._waiting >= self._capacity:
            self._drop("queue_full", 1)
            return False
        try:
            line = self._line(time, model_name, designation, feature_names, correlation_id, data)
        except Exception as exc:  # the script's data, whatever it raises: not the request
            self._drop("encode_error", 1)
            self._warn(exc, "cannot encode a record")
            return False
        key = (model_name, designation, time.date())
        with self._lock:  # held for an append: the thread swaps under it
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = Pending()
            pending.data += line
            pending.records += 1
            self._waiting += 1
        return True

    def count_failure(self) -> None:
        """Count a record that could not even be queued (its data failed to convert)."""
        self._drop("encode_error", 1)

    def _drop(self, reason: str, count: int) -> None:
        with self._lock:
            self.dropped += count
        if self._counted is not None:
            self._counted(reason, count)

    def _take(self) -> dict[Key, Pending]:
        """Everything buffered now, leaving empty buffers to the request threads."""
        with self._lock:
            taken, self._pending, self._waiting = self._pending, {}, 0
        return taken

    # -- the writer thread -----------------------------------------------------------------
    def _drain(self) -> None:
        """Every :data:`DRAIN_INTERVAL_S` (at once when stopping) write what is buffered;
        once stopping and drained, close the files (here, not in :meth:`stop`: a stop that
        timed out leaves the thread the only one using them)."""
        while True:
            stopping = self._wake.wait(DRAIN_INTERVAL_S)
            batch = self._take()
            if batch:
                self._write(batch)
            if stopping and not self._waiting:
                break
        for handle in self._files.values():
            try:
                handle.close()
            except OSError as exc:
                self._warn(exc)
        self._files.clear()

    def _write(self, batch: dict[Key, Pending]) -> None:
        written = 0
        for key in sorted(batch, key=lambda k: k[2]):  # days in order: rollover closes old
            pending = batch[key]
            try:
                self._handle(key).write(pending.data)
                written += pending.records
            except OSError as exc:
                self._drop("write_error", pending.records)
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

    def _line(
        self,
        time: datetime,
        model_name: str,
        designation: str,
        names: list[str] | None,
        correlation_id: str,
        data: Any,
    ) -> bytes:
        key = (model_name, designation)
        head = self._heads.get(key)
        if head is None:
            version = self.versions.get(model_name)
            head = layout.record_head(self.endpoint, model_name, version, designation)
            self._heads[key] = head
        names_json = None
        if names is not None:
            known = self._names.get(key)
            if known is None or known[0] != names:  # a list compare: ~0.2 us for 64 names
                known = self._names[key] = (list(names), layout.encode_names(names))
            names_json = known[1]
        return layout.encode_parts(time, head, correlation_id, names, data, names_json)

    def _handle(self, key: Key) -> IO[bytes]:
        handle = self._files.get(key)
        if handle is None:
            model_name, designation, day = key
            for old in [k for k in self._files if k[2] < day]:  # yesterday's files are done
                self._files.pop(old).close()
            version = self.versions.get(model_name)
            path = layout.record_file(
                self.root, self.endpoint, model_name, version, designation, day, self.writer_id
            )
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
        # (taken under the lock: what the still-running thread takes is not counted twice)
        if left := sum(p.records for p in self._take().values()):
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


def made() -> Writer | None:
    """This process's writer if it was made (None before the first ``collect()``)."""
    return _current


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
    "Writer",
    "current",
    "made",
    "model_versions",
    "now",
    "prometheus_counter",
    "stop_current",
]

"""Batched requests answered later by the one-thread keep-alive worker.

With dynamic batching on, the worker's single thread must have many requests waiting on
the batcher at once, or no batch ever holds more than one. So a batchable request
(no-code ``POST``/``GET /score``, ``POST /v2/models/.../infer``) is served in two halves:

1. the worker offers deferral (:data:`DEFER` in the environ); the handler parses,
   authenticates and validates the request, queues its arrays on the batcher and returns
   a :class:`Deferred` in place of a body, without calling ``start_response``;
2. the worker parks the connection (nothing more of it is parsed: pipelined requests
   wait their turn) and serves other connections; when the batch item's future
   completes, a done-callback (on the batcher thread) wakes the loop through
   :class:`Wakeup`, and the worker calls :meth:`Deferred.finish`, which builds the
   response exactly as the synchronous path does (status, headers, metrics, access
   line), writes it and resumes the connection.

An item whose deadline (the scoring timeout) passes is answered 504 even while its batch
runs; a parked connection whose client goes away is closed and its item dropped if still
queued. Everything but the model call stays on the worker's thread. Hand-written: the
worker is a hand-written selector loop (:mod:`serving.server.worker`), and a wake-up
socket is the usual way to hand a thread's completion to such a loop (asyncio does the
same inside ``call_soon_threadsafe``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from serving.scoring.batching import BatchItem
from serving.server.http import Outcome

if TYPE_CHECKING:
    from serving.server.wire import Conn

DEFER = "serving.defer"
"""WSGI environ key set by the keep-alive worker: the handler may return a :class:`Deferred`."""


class Pending(NamedTuple):
    """The handler's first half of a batched request: its queued item and how to turn
    the item's result into the response (run once the item is done)."""

    item: BatchItem
    outcome: Callable[[], Outcome]


class Deferred:
    """What the handler returns for a request whose answer waits on a batch.

    It is not a WSGI body: only a caller that set :data:`DEFER` receives one.
    """

    __slots__ = ("finish", "item")

    def __init__(self, item: BatchItem, finish: Callable[[], Iterable[bytes]]) -> None:
        self.item = item
        self.finish = finish
        """Calls ``start_response`` and returns the body (never waits; not done: 504)."""

    @property
    def deadline(self) -> float:
        """``time.monotonic()`` after which the request is answered 504 (inf: none)."""
        return self.item.deadline

    def cancel(self) -> None:
        """The client went away: the batcher drops the item if it is still queued."""
        self.item.future.cancel()


class Parked:
    """A request answered later: its connection, the handler's :class:`Deferred` and
    what the worker needs to write the answer as it writes any other."""

    __slots__ = ("conn", "deferred", "environ", "exact", "req", "request_start", "resp", "unsure")

    def __init__(
        self,
        conn: Conn,
        deferred: Deferred,
        req: Any,
        resp: Any,
        environ: dict[str, Any],
        request_start: datetime,
    ) -> None:
        self.conn = conn
        self.deferred = deferred
        self.req = req
        self.resp = resp
        self.environ = environ
        self.request_start = request_start
        self.exact = True
        self.unsure = False


class Wakeup:
    """A socket pair that wakes the worker's selector when a batch item completes.

    :meth:`watch` has a callback run on the completing thread that records the future and
    writes one byte; the loop, woken, calls :meth:`take` for the completed futures. (The
    callback holds no reference to the request: a future -> callback -> request -> future
    cycle per request would be left to the garbage collector.)
    """

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._done: deque[Future[Any]] = deque()
        self._lock = threading.Lock()
        self._signalled = False

    def fileno(self) -> int:
        """The readable end, for the selector."""
        return self._reader.fileno()

    def watch(self, future: Future[Any]) -> None:
        """Have ``future`` returned by :meth:`take` once it completes."""
        future.add_done_callback(self._signal)

    def _signal(self, future: Future[Any]) -> None:
        self._done.append(future)
        with self._lock:  # one byte per wake-up, not one per item
            if self._signalled:
                return
            self._signalled = True
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            self._writer.send(b"\0")

    def take(self) -> list[Future[Any]]:
        """The futures completed since the last call."""
        with self._lock:
            self._signalled = False
            with contextlib.suppress(OSError):
                while self._reader.recv(4096):
                    pass
        done = self._done
        return [done.popleft() for _ in range(len(done))]

    def close(self) -> None:
        """Close both ends."""
        self._reader.close()
        self._writer.close()

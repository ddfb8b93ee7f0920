"""Dynamic batching: concurrent ``infer`` calls in one worker served by one model call.

:class:`BatchingModel` is itself a :class:`~serving.scoring.tensors.TensorModel` that wraps
the real one, so the V2 routes and the no-code ``/score`` keep calling ``infer`` once per
request; :func:`install_batching` swaps it into ``scorer.tensor_model`` when
``max_batch_size`` is above 1. Requests are queued without waiting
(:meth:`BatchingModel.submit`: the keep-alive worker parks their connections meanwhile,
:mod:`serving.server.deferred`) or by threads that wait (:meth:`BatchingModel.infer`). One
batcher thread per worker process, started on the first call (so after the fork), takes
up to ``max_batch_size`` requests of the same batch key, waiting at most
``max_batch_delay_ms`` counted from the first one's arrival, concatenates them on axis 0,
makes one model call and hands each request its own rows back, in order.

Policy (hand-written rather than taken from a library: MLServer, BentoML and Ray batch on
asyncio in their own servers, and all of them fail a whole batch when its call raises):

* a request is checked against the model's signature before it is queued
  (:mod:`serving.scoring.batching_items`): a bad one gets its own 400 and joins nothing;
  requests whose shapes after the first axis or dtypes differ go to separate batches;
* if a batched call raises (or returns outputs that are not row-aligned), each of its
  requests is run alone, so one bad input fails only its own request;
* the queue is bounded: a full queue answers 503 (:class:`BatchQueueFullError`) at once;
* each request has a deadline, the scoring timeout: one that expires while queued is
  dropped before it runs (its future fails with :class:`ScoringTimeoutError`), and its
  caller gets 504 either way;
* every model call runs on the batcher thread, one at a time, as without batching.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from serving.config import ServerSettings
from serving.scoring.batching_items import (
    BatchKey,
    NotRowAlignedError,
    batch_key,
    merge,
    row_count,
    split,
)
from serving.scoring.batching_metrics import BatchingMetrics, batching_metrics
from serving.scoring.exceptions import ScoringError, ScoringTimeoutError
from serving.scoring.tensors import TensorModel, TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from serving.scoring.scorer import Scorer

_log = logging.getLogger("serving.scoring")

Outputs = dict[str, "np.ndarray"]


@runtime_checkable
class BatchAware(Protocol):
    """A tensor model that also answers ``/score`` itself (a no-code model): told the
    batching wrapper, its ``run()`` calls go through the batcher too."""

    def use_batcher(self, batched: TensorModel) -> None:
        """From now on make model calls through ``batched``."""
        ...


QUEUE_PER_BATCH = 32
"""A worker's queue holds this many batches' worth of requests before it answers 503: the
keep-alive worker parks waiting requests without a thread each, so a deep queue costs only
their arrays, and clients with more connections than one batch wait rather than fail."""


class BatchQueueFullError(ScoringError):
    """The worker's batch queue is full: the request is refused at once (503)."""

    http_status = 503

    def __init__(self) -> None:
        super().__init__("The server is busy (batch queue full); retry the request shortly.")


def batching_enabled(settings: ServerSettings) -> bool:
    """Dynamic batching is on: ``max_batch_size`` above 1."""
    return settings.max_batch_size > 1


def server_threads(settings: ServerSettings) -> int:
    """Request threads per worker: ``settings.threads``. Batching needs no threads: the
    one-thread keep-alive worker parks a batched request's connection until its batch
    is done and serves other connections meanwhile (:mod:`serving.server.deferred`)."""
    return settings.threads


class BatchItem:
    """One queued request: its arrays, batch key, row count, future and times."""

    __slots__ = ("deadline", "enqueued", "future", "inputs", "key", "rows")

    def __init__(
        self, inputs: Mapping[str, np.ndarray], key: BatchKey | None, timeout_s: float
    ) -> None:
        self.inputs = inputs
        self.key = key
        self.rows = row_count(inputs) if key is not None else 0
        self.future: Future[Outputs] = Future()
        self.enqueued = time.monotonic()
        self.deadline = self.enqueued + timeout_s if timeout_s > 0 else float("inf")


class BatchingModel:
    """A :class:`TensorModel` whose ``infer`` calls, made from many threads, are batched."""

    def __init__(
        self,
        inner: TensorModel,
        *,
        max_batch_size: int,
        max_delay_ms: float = 0.0,
        max_queue: int = 0,
        timeout_ms: int = 0,
        metrics: BatchingMetrics | None = None,
    ) -> None:
        """``max_queue``: requests waiting at most (0: ``2 * max_batch_size``);
        ``timeout_ms``: each request's deadline (0: none)."""
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.platform = inner.platform
        self.max_batch_size = max_batch_size
        self.max_delay_s = max(0.0, max_delay_ms) / 1000.0
        self.max_queue = max_queue or 2 * max_batch_size
        self.timeout_ms = timeout_ms
        self.metrics = metrics or batching_metrics()
        self._queue: deque[BatchItem] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._row_aligned = True

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The wrapped model's, read through (a no-code model knows them after init())."""
        return self.inner.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The wrapped model's, read through."""
        return self.inner.outputs

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Queue the request, wait for its batch and return its own rows of the outputs.

        Raises what the model raised for this request alone, :class:`BadInputError` for a
        request that breaks the signature, :class:`BatchQueueFullError` or
        :class:`ScoringTimeoutError`.
        """
        return self._wait(self.submit(inputs))

    def submit(self, inputs: Mapping[str, np.ndarray]) -> BatchItem:
        """Queue the request without waiting (the event-loop worker's way): its future
        completes with the outputs, the exception, or :class:`ScoringTimeoutError` once
        its deadline passes while queued. Read it with :meth:`collect`.

        Raises :class:`BadInputError` or :class:`BatchQueueFullError` at once.
        """
        item = BatchItem(inputs, batch_key(inputs, self.inputs), self.timeout_ms / 1000.0)
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if len(self._queue) >= self.max_queue:
                self.metrics.rejected.labels("full").inc()
                raise BatchQueueFullError()
            self._queue.append(item)
            self._start_thread()
            if len(self._queue) == 1 or len(self._queue) >= self.max_batch_size:
                self._cond.notify()  # a new oldest request, or maybe a full batch: else the
                # batcher sleeps until the oldest one's delay ends (fewer thread switches)
        return item

    def collect(self, item: BatchItem) -> Outputs:
        """A submitted request's outputs, without waiting: raises what its future holds,
        or :class:`ScoringTimeoutError` (and gives it up) when it is not done yet."""
        if item.future.done():
            return item.future.result()
        return self._give_up(item)

    def _wait(self, item: BatchItem) -> Outputs:
        timeout = None if item.deadline == float("inf") else item.deadline - time.monotonic()
        try:
            return item.future.result(timeout=timeout)
        except FutureTimeout:
            return self._give_up(item)

    def _give_up(self, item: BatchItem) -> Outputs:
        # still queued: the batcher drops it; running: its result goes unused
        if not item.future.cancel() and item.future.done():
            return item.future.result()  # completed meanwhile (or failed by the batcher)
        self.metrics.rejected.labels("timeout").inc()
        raise ScoringTimeoutError(self.timeout_ms) from None

    def close(self, timeout: float = 5.0) -> None:
        """Stop the batcher thread after the queued requests are served (tests, shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _start_thread(self) -> None:
        # under self._cond; lazily, so a thread never crosses a fork
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="serving-batcher", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if not batch:
                continue
            try:
                self._run(batch)
            except BaseException as exc:  # never leave a caller waiting on a dead thread
                _log.exception("batcher failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    def _next_batch(self) -> list[BatchItem] | None:
        """Wait for the next batch: the oldest request and up to ``max_batch_size - 1``
        later ones of its key, taken when the batch is full or its delay has passed."""
        with self._cond:
            while True:
                self._drop_dead()
                if not self._queue:
                    if self._closed:
                        return None
                    self._cond.wait()
                    continue
                first = self._queue[0]
                size = 1 if first.key is None or not self._row_aligned else self.max_batch_size
                members = [i for i in self._queue if i.key == first.key][:size]
                wait = first.enqueued + self.max_delay_s - time.monotonic()
                if len(members) >= size or wait <= 0 or self._closed:
                    break
                self._cond.wait(wait)
            taken = {id(i) for i in members}
            self._queue = deque(i for i in self._queue if id(i) not in taken)
        now = time.monotonic()
        started = [i for i in members if i.future.set_running_or_notify_cancel()]
        for item in started:
            self.metrics.queue_wait.observe(now - item.enqueued)
        return started

    def _drop_dead(self) -> None:
        """Forget requests whose callers gave up; fail those whose deadline has passed
        with :class:`ScoringTimeoutError` (under lock: their callbacks must be quick)."""
        now = time.monotonic()
        if not any(i.future.cancelled() or i.deadline <= now for i in self._queue):
            return
        expired = [i for i in self._queue if i.deadline <= now and not i.future.cancelled()]
        self._queue = deque(
            i for i in self._queue if not (i.future.cancelled() or i.deadline <= now)
        )
        for item in expired:
            if item.future.set_running_or_notify_cancel():
                self.metrics.rejected.labels("timeout").inc()
                item.future.set_exception(ScoringTimeoutError(self.timeout_ms))

    def _run(self, batch: list[BatchItem]) -> None:
        if len(batch) == 1:
            self._run_alone(batch[0])
            return
        try:
            outputs = self._call([i.inputs for i in batch], merged=True)
            parts = split(outputs, [i.rows for i in batch])
        except NotRowAlignedError as exc:
            _log.warning("batching off for model %s: %s", self.name, exc)
            self._row_aligned = False
            self._run_each(batch)
        except Exception:
            _log.warning(
                "a batch of %d requests failed; running each alone", len(batch), exc_info=True
            )
            self.metrics.retried.inc()
            self._run_each(batch)
        else:
            for item, part in zip(batch, parts, strict=True):
                item.future.set_result(part)

    def _run_each(self, batch: list[BatchItem]) -> None:
        for item in batch:
            self._run_alone(item)

    def _run_alone(self, item: BatchItem) -> None:
        try:
            outputs = self._call([item.inputs], merged=False)
        except BaseException as exc:
            item.future.set_exception(exc)
        else:
            item.future.set_result(outputs)

    def _call(self, requests: list[Mapping[str, np.ndarray]], *, merged: bool) -> Outputs:
        feeds = merge(requests) if merged else requests[0]
        start = time.perf_counter()
        try:
            return self.inner.infer(feeds)
        finally:
            self.metrics.exec_time.observe(time.perf_counter() - start)
            self.metrics.batch_size.observe(len(requests))


def install_batching(scorer: Scorer, settings: ServerSettings, registry: Any = None) -> bool:
    """Wrap ``scorer.tensor_model`` in a :class:`BatchingModel` when the settings turn
    batching on and the scorer has a tensor model; True if installed (or already there).

    Call it once per worker after ``scorer.initialize()``, with the server's metrics
    registry (``ServerMetrics.registry``) so the batch metrics show on ``/metrics`` also
    without gunicorn. The queue holds ``2 * max_batch_size`` requests (or as many as the
    worker has threads, if more: one batch fills while the previous one runs). A
    :class:`BatchAware` model is told the wrapper, so its ``run()`` batches too.
    """
    model = scorer.tensor_model
    if model is None or not batching_enabled(settings):
        return False
    if isinstance(model, BatchingModel):
        return True
    scorer.tensor_model = wrapped = BatchingModel(
        model,
        max_batch_size=settings.max_batch_size,
        max_delay_ms=settings.max_batch_delay_ms,
        max_queue=max(server_threads(settings), QUEUE_PER_BATCH * settings.max_batch_size),
        timeout_ms=settings.scoring_timeout_ms,
        metrics=batching_metrics(registry),
    )
    if isinstance(model, BatchAware):
        model.use_batcher(wrapped)
        scorer.allow_concurrent_runs()
    _log.info(
        "dynamic batching on: up to %d requests per call, %.1f ms delay",
        settings.max_batch_size,
        settings.max_batch_delay_ms,
    )
    return True

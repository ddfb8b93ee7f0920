"""Prometheus metrics of dynamic batching: batch sizes, queue wait, model-call time, rejections.

Registered like :mod:`serving.server.metrics`: under gunicorn (``PROMETHEUS_MULTIPROC_DIR``
set by the master before the fork) every worker writes its values to files in that folder
and the server's ``/metrics`` sums all of them, whichever registry they were created in; in
a single process they show on ``/metrics`` only when created in the server's own registry,
so :func:`batching_metrics` takes it. ``prometheus_client`` is imported inside the function
(it reads the multiprocess variable at first import, and ``serving.scoring`` stays light).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256)
"""Requests per model call."""
TIME_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass(frozen=True)
class BatchingMetrics:
    """The batcher's instruments (prometheus_client objects)."""

    batch_size: Any
    """Histogram ``serving_batch_size``: requests per model call (retries alone count 1)."""
    queue_wait: Any
    """Histogram ``serving_batch_queue_seconds``: from a request's enqueue to its batch's start."""
    exec_time: Any
    """Histogram ``serving_batch_exec_seconds``: one model call (a batch or a retry alone)."""
    rejected: Any
    """Counter ``serving_batch_rejected``: requests refused, by ``reason`` (full, timeout)."""
    retried: Any
    """Counter ``serving_batch_failures``: batched calls that raised (their requests ran alone)."""


_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[Any, BatchingMetrics] = weakref.WeakKeyDictionary()
_default: list[BatchingMetrics] = []


def batching_metrics(registry: Any = None) -> BatchingMetrics:
    """The batching metrics in ``registry`` (a ``CollectorRegistry``; None: a private one),
    created once per registry so several batchers in one process share them."""
    with _lock:
        if registry is None:
            if _default:
                return _default[0]
        elif (found := _by_registry.get(registry)) is not None:
            return found
        made = _create(registry)
        if registry is None:
            _default.append(made)
        else:
            _by_registry[registry] = made
        return made


def _create(registry: Any) -> BatchingMetrics:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    reg = CollectorRegistry(auto_describe=True) if registry is None else registry
    return BatchingMetrics(
        batch_size=Histogram(
            "serving_batch_size",
            "Requests served by one model call under dynamic batching.",
            buckets=SIZE_BUCKETS,
            registry=reg,
        ),
        queue_wait=Histogram(
            "serving_batch_queue_seconds",
            "Time a request waited in the batch queue before its model call started.",
            buckets=TIME_BUCKETS,
            registry=reg,
        ),
        exec_time=Histogram(
            "serving_batch_exec_seconds",
            "Time of one batched model call.",
            buckets=TIME_BUCKETS,
            registry=reg,
        ),
        rejected=Counter(
            "serving_batch_rejected",
            "Requests refused by the batcher: queue full (503) or timed out waiting (504).",
            ("reason",),
            registry=reg,
        ),
        retried=Counter(
            "serving_batch_failures",
            "Batched model calls that raised; each of their requests was then run alone.",
            registry=reg,
        ),
    )

"""Prometheus metrics of one server, aggregated across gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn's master sets it before forking, see
:mod:`serving.server.gunicorn_hooks`) every worker writes its values to files there and
``/metrics`` sums them; without it (tests, a single process) values live in memory.
``prometheus_client`` decides this when it is first imported, so the variable must be set
before that.

In multiprocess mode every update of a value asks ``os.getpid()`` (to notice a fork), a
system call per update since glibc stopped caching it: about 7 % of a worker's time on a
small model's requests. :func:`cache_process_id` gives prometheus_client a pid cached per
process instead (``MultiProcessValue``'s ``process_identifier``), refreshed in the child
after every fork.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"})
"""Values of the ``method`` label; any other method is counted as ``OTHER``."""

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def _process_id() -> int:
    return _PID[0]


def cache_process_id() -> None:
    """Have multiprocess metric values read a cached pid (see the module's docstring).

    Call it in a process before it creates any metric: values made before and after it
    would keep two maps of the same file.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and values.ValueClass is not _CACHED[0]:
        _CACHED[0] = values.ValueClass = values.MultiProcessValue(_process_id)  # type: ignore[no-untyped-call]


_CACHED: list[object] = [None]


class ServerMetrics:
    """Request count by status, request latency and run() time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "serving_requests",
            "HTTP requests answered, by route, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "serving_request_duration_seconds",
            "Time from receiving a request to returning its response.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scoring = Histogram(
            "serving_scoring_duration_seconds",
            "Time spent in the entry script's run().",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency.

        Labels come from fixed sets, so clients cannot create series: ``route`` is one of
        the server's routes or ``<unmatched>`` (the caller's job), ``method`` one of
        :data:`METHODS` else ``OTHER``, ``status`` a code from 100 to 599 else ``other``.
        """
        if method not in METHODS:
            method = "OTHER"
        if not 100 <= status <= 599:
            status = 0
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status) if status else "other"),
                self.latency.labels(route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_scoring(self, seconds: float) -> None:
        """Record one run() duration."""
        self.scoring.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of all workers (or of this process alone)."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory and os.path.isdir(directory):
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

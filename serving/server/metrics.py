"""Prometheus metrics of one server, aggregated across gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn's master sets it before forking, see
:mod:`serving.server.gunicorn_hooks`) every worker writes its values to files there and
``/metrics`` sums them; without it (tests, a single process) values live in memory.
``prometheus_client`` decides this when it is first imported, so the variable must be set
before that.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"})
"""Values of the ``method`` label; any other method is counted as ``OTHER``."""

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


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

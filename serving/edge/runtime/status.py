"""The module's metrics and health, on the same routes and port as the HTTP server
(``/metrics``, ``/health/live``, ``/health/ready`` on ``SERVING_PORT``, 5001), so the
image's Docker health check and a Prometheus scrape work unchanged in edge mode.

Hand-written on :mod:`http.server` because three read-only routes do not need Flask and
gunicorn in the module process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EdgeMetrics:
    """Messages in, out, failed, expired and dropped; latency; run() time; outbox depth."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter("serving_edge_messages_received", "Inputs received.", registry=r)
        self.sent = Counter(
            "serving_edge_messages_sent", "Results the broker acknowledged.", registry=r
        )
        self.failed = Counter(
            "serving_edge_messages_failed", "Inputs answered on the error output.", registry=r
        )
        self.expired = Counter(
            "serving_edge_messages_expired", "Results dropped past their TTL.", registry=r
        )
        self.dropped = Counter(
            "serving_edge_messages_dropped", "Results dropped: outbox full.", registry=r
        )
        self.duplicates = Counter(
            "serving_edge_messages_duplicate",
            "Inputs delivered again, answered before.",
            registry=r,
        )
        self.latency = Histogram(
            "serving_edge_latency_seconds",
            "From receiving an input to its result stored for sending.",
            buckets=_BUCKETS,
            registry=r,
        )
        self.scoring = Histogram(
            "serving_scoring_duration_seconds",
            "Time spent in the entry script's run().",
            buckets=_BUCKETS,
            registry=r,
        )
        self.outbox = Gauge("serving_edge_outbox_depth", "Results waiting.", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def start_status_server(
    port: int, metrics: EdgeMetrics, ready: Callable[[], bool], host: str = "0.0.0.0"
) -> ThreadingHTTPServer:
    """Serve the three routes from a daemon thread; returns the server (``shutdown()``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, metrics.render(), CONTENT_TYPE)
            elif path in ("/", "/health/live"):
                self._answer(200, b"Healthy\n", "text/plain")
            elif path == "/health/ready":
                ok = ready()
                self._answer(200 if ok else 503, b"Ready\n" if ok else b"Not ready\n", "text/plain")
            else:
                self._answer(404, b'{"message": "not found"}', "application/json")

        def _answer(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # health checks every 10 s would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="edge-status", daemon=True).start()
    return server

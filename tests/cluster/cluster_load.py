"""A bounded load generator for the cluster tests: client threads on loopback, each with a
keep-alive connection, POSTing the same body until stopped or a time limit; every answer is
counted by status, socket errors by exception type, and the replica header and body are
kept for the last answers."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    replicas: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    samples: list[str] = field(default_factory=list)
    """Bodies of non-200 answers and error messages (the first few)."""

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def failed(self) -> int:
        """Socket errors and answers other than 200."""
        return self.total - self.statuses[200]

    def summary(self) -> str:
        return (
            f"{self.total} requests in {self.seconds:.1f} s, {self.failed} failed; "
            f"statuses {dict(self.statuses)}, errors {dict(self.errors)}, "
            f"samples {self.samples[:3]}"
        )


class Load:
    """``with Load(uri, body, headers, clients=3, limit_s=60) as load: ...``; the result is
    in ``load.result`` after the block."""

    def __init__(
        self,
        uri: str,
        body: bytes,
        headers: dict[str, str],
        *,
        clients: int = 3,
        limit_s: float = 60.0,
        timeout_s: float = 30.0,
    ) -> None:
        parts = urlsplit(uri)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.body = body
        self.headers = {"Content-Type": "application/json", **headers}
        self.clients = clients
        self.limit_s = limit_s
        self.timeout_s = timeout_s
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _record(
        self, status: int | None, error: str | None, replica: str | None, text: str
    ) -> None:
        with self._lock:
            if status is not None:
                self.result.statuses[status] += 1
            if error is not None:
                self.result.errors[error] += 1
            if replica:
                self.result.replicas[replica] += 1
            if (error or status != 200) and len(self.result.samples) < 10:
                self.result.samples.append(f"{status or error}: {text[:200]}")

    def _client(self) -> None:
        conn: http.client.HTTPConnection | None = None
        deadline = self._started + self.limit_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
                conn.request("POST", self.path, body=self.body, headers=self.headers)
                response = conn.getresponse()
                text = response.read().decode("utf-8", errors="replace")
                replica = response.getheader("x-serving-replica")
                self._record(response.status, None, replica, text)
                if (response.getheader("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                self._record(None, type(exc).__name__, None, str(exc))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def __enter__(self) -> Load:
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._client, name=f"load-{i}", daemon=True)
            for i in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 5)
        self.result.seconds = time.monotonic() - self._started

    def snapshot(self) -> LoadResult:
        """A copy of the counts so far."""
        with self._lock:
            copy = LoadResult(
                Counter(self.result.statuses),
                Counter(self.result.errors),
                Counter(self.result.replicas),
                time.monotonic() - self._started,
                list(self.result.samples),
            )
        return copy

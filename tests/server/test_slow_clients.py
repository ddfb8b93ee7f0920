"""Slow clients cannot take a worker: real gunicorn, real sockets, a low client timeout."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from tests.server.conftest import ServerProcess

pytestmark = pytest.mark.slow

Factory = Callable[..., "ServerProcess"]
WORKERS = 2
CLIENT_TIMEOUT_S = 4
HEAD = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


BUFFER_LIMIT = 1_000_000
ONE_WORKER_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def server(server_factory: Factory) -> ServerProcess:
    return server_factory("ok.py", workers=WORKERS, client_timeout_s=CLIENT_TIMEOUT_S)


@pytest.fixture(scope="module")
def one_worker(server_factory: Factory) -> ServerProcess:
    """One worker, the default client timeout, a 1 MB cap on unfinished requests."""
    return server_factory(
        "ok.py",
        workers=1,
        client_timeout_s=ONE_WORKER_TIMEOUT_S,
        buffer_limit_bytes=BUFFER_LIMIT,
    )


class SlowClient(threading.Thread):
    """Sends a request one byte every ``interval`` seconds; records when it was cut off."""

    def __init__(
        self, port: int, request: bytes, interval: float = 2.0, prefix: bytes = b""
    ) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.prefix = prefix
        """Sent at once, before the slow bytes."""
        self.request = request
        self.interval = interval
        self.first_byte = 0.0
        self.closed_after = -1.0
        self.answer = b""

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            conn.settimeout(self.interval)
            self.first_byte = time.monotonic()
            conn.sendall(self.prefix)
            for byte in self.request:  # too slow to finish: the server must cut it off
                try:
                    conn.sendall(bytes([byte]))
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue  # nothing from the server yet: send the next byte
                except OSError:
                    break  # reset: the server closed the connection
                if not chunk:
                    break
                self.answer += chunk
            self.closed_after = time.monotonic() - self.first_byte


def _latency(url: str, session: requests.Session) -> float:
    started = time.perf_counter()
    response = session.post(f"{url}/score", data="[1]", timeout=10)
    assert response.status_code == 200
    return time.perf_counter() - started


def test_slow_clients_do_not_stall_normal_clients(server: ServerProcess) -> None:
    port = server.settings.port
    body = b'{"data": [1, 2, 3]}' * 10
    slow = [
        SlowClient(port, HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        for _ in range(WORKERS + 1)
    ]
    for client in slow:
        client.start()
    latencies: list[float] = []
    with requests.Session() as session:
        stop = time.monotonic() + CLIENT_TIMEOUT_S + 1
        while time.monotonic() < stop:
            latencies.append(_latency(server.url, session))
    for client in slow:
        client.join(timeout=3 * CLIENT_TIMEOUT_S)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"normal clients during {WORKERS + 1} slow ones: {len(latencies)} requests, "
        f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )
    assert len(latencies) > 50
    assert p99 < 0.5
    for client in slow:
        assert not client.is_alive()
        assert client.answer.startswith(b"HTTP/1.1 408"), client.answer
        assert CLIENT_TIMEOUT_S - 0.5 < client.closed_after < CLIENT_TIMEOUT_S + 1.5


def test_slow_headers_are_cut_off_too(server: ServerProcess) -> None:
    client = SlowClient(server.settings.port, HEAD + b"X-Padding: " + b"a" * 100, interval=0.5)
    client.start()
    client.join(timeout=3 * CLIENT_TIMEOUT_S)
    assert client.answer.startswith(b"HTTP/1.1 408"), client.answer
    assert b'"message"' in client.answer
    assert CLIENT_TIMEOUT_S - 0.5 < client.closed_after < CLIENT_TIMEOUT_S + 1.5


def test_a_request_in_pieces_within_the_deadline_is_served(server: ServerProcess) -> None:
    request = HEAD + b"Content-Length: 3\r\n\r\n[5]"
    with socket.create_connection(("127.0.0.1", server.settings.port), timeout=10) as conn:
        for piece in (request[:10], request[10:40], request[40:-1], request[-1:]):
            conn.sendall(piece)
            time.sleep(0.3)
        answer = _read_answer(conn)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b'"echo": [5]' in answer
        conn.sendall(request)  # the connection stays usable
        assert b'"echo": [5]' in _read_answer(conn)


def test_chunked_body_in_pieces(server: ServerProcess) -> None:
    request = (
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n[7\r\n1;ext=1\r\n]\r\n0\r\nX-T: 1\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.settings.port), timeout=10) as conn:
        for start in range(0, len(request), 7):
            conn.sendall(request[start : start + 7])
            time.sleep(0.02)
        answer = _read_answer(conn)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b'"echo": [7]' in answer


def test_expect_100_continue_gets_an_interim_answer(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.settings.port), timeout=10) as conn:
        conn.sendall(HEAD + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        conn.sendall(b"[9]")
        answer = _read_answer(conn)
        assert b"HTTP/1.1 200 OK" in answer
        assert b'"echo": [9]' in answer


def test_garbage_gets_400_not_a_hang(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.settings.port), timeout=10) as conn:
        conn.sendall(b"NOT HTTP AT ALL\n\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 400")


def _read_answer(conn: socket.socket) -> bytes:
    """One response with a Content-Length body."""
    answer = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        head, sep, rest = answer.partition(b"\r\n\r\n")
        if sep and b"100 Continue" not in head:
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                return answer
        elif sep:
            answer = rest
            continue
        chunk = conn.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    return answer


def _latencies_for(url: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    with requests.Session() as session:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            latencies.append(_latency(url, session))
    return latencies


TOO_LARGE_HEADS = {
    "chunk-size": HEAD + b"Transfer-Encoding: chunked\r\n\r\n7FFFFFFF\r\n",
    "content-length": HEAD + b"Content-Length: 200000000\r\n\r\n",
}


@pytest.mark.parametrize("kind", sorted(TOO_LARGE_HEADS))
def test_a_declared_body_over_the_limit_gets_413_at_once(
    one_worker: ServerProcess, kind: str
) -> None:
    """A few bytes declare a body over the limit, then one byte a second: a 413 comes at
    once (not at the 30 s deadline), and the only worker serves others meanwhile."""
    client = SlowClient(
        one_worker.settings.port, b"x" * 20, interval=1.0, prefix=TOO_LARGE_HEADS[kind]
    )
    client.start()
    latencies = _latencies_for(one_worker.url, 2.0)
    client.join(timeout=10)
    assert not client.is_alive()
    assert client.answer.startswith(b"HTTP/1.1 413"), client.answer
    head, _, body = client.answer.partition(b"\r\n\r\n")
    assert b"\r\nconnection: close\r\n" in head.lower()
    assert b"\r\ncontent-type: application/json\r\n" in head.lower()
    assert b"\r\nx-ms-run-function-failed: false\r\n" in head.lower()
    limit = one_worker.settings.max_body_bytes
    assert body == b'{"message": "Request body is larger than the limit of %d bytes."}' % limit
    assert client.closed_after < 3, client.closed_after
    assert len(latencies) > 10
    assert max(latencies) < 1.0


def test_expect_with_a_body_over_the_limit_gets_413_not_continue(
    one_worker: ServerProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", one_worker.settings.port), timeout=5) as conn:
        conn.sendall(HEAD + b"Expect: 100-continue\r\nContent-Length: 200000000\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize(
    "prefix",
    [
        HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 5000,
    ],
)
def test_a_request_the_framing_cannot_judge_gets_400_at_once(
    one_worker: ServerProcess, prefix: bytes
) -> None:
    """gunicorn judges the bytes received so far; the worker never waits for more."""
    client = SlowClient(one_worker.settings.port, b"1" * 20, interval=1.0, prefix=prefix)
    client.start()
    client.join(timeout=10)
    assert not client.is_alive()
    assert client.answer.startswith(b"HTTP/1.1 400"), client.answer
    assert client.closed_after < 3, client.closed_after


def _worker_pid(master: int) -> int:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == master:
            children.append(int(stat.parent.name))
    assert len(children) == 1, children
    return children[0]


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _send_until_answered(port: int, declared: int, seconds: float = 10.0) -> bytes:
    """Send a body of ``declared`` bytes as fast as the server reads it; stop at its answer
    (or after ``seconds``) and return what it answered."""
    piece = b"x" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % declared)
        conn.setblocking(False)
        sent, stop = 0, time.monotonic() + seconds
        while sent < declared and time.monotonic() < stop:
            readable, writable, _ = select.select([conn], [conn], [], 0.5)
            if readable:
                break
            if writable:
                try:
                    sent += conn.send(piece[: declared - sent])
                except (BlockingIOError, InterruptedError):
                    continue
        conn.settimeout(5)
        try:
            return conn.recv(4096)
        except OSError:
            return b""


HOLD_BODY = b'"' + b"x" * 99998 + b'"'


@pytest.fixture
def holders(one_worker: ServerProcess) -> Iterator[list[socket.socket]]:
    """Connections holding an unfinished small request each (60 KB of a 100 KB body):
    together more than the worker's buffer limit."""
    conns: list[socket.socket] = []
    try:
        for _ in range(20):
            conn = socket.create_connection(("127.0.0.1", one_worker.settings.port), timeout=5)
            conns.append(conn)
            conn.sendall(HEAD + b"Content-Length: 100000\r\n\r\n" + HOLD_BODY[:60000])
        time.sleep(0.5)  # the worker has read them all
        yield conns
    finally:
        for conn in conns:
            conn.close()


def test_the_buffer_limit_bounds_memory_not_small_requests(
    one_worker: ServerProcess, holders: list[socket.socket]
) -> None:
    """Over the cap, large unfinished requests get 503 and free their bytes; small ones are
    still served, and the worker's memory stays bounded."""
    assert one_worker.process is not None
    worker = _worker_pid(one_worker.process.pid)
    before = _memory_kb(worker, "VmRSS")
    assert _latencies_for(one_worker.url, 0.5)  # small requests: served
    answers: list[bytes] = []
    big = [
        threading.Thread(
            target=lambda: answers.append(_send_until_answered(one_worker.settings.port, 50 << 20))
        )
        for _ in range(8)
    ]
    for thread in big:
        thread.start()
    latencies = _latencies_for(one_worker.url, 1.0)
    for thread in big:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in big)
    assert len(answers) == 8
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"Retry-After: 1" in answer
    assert max(latencies) < 1.0
    assert _latencies_for(one_worker.url, 0.5)
    growth_mb = (_memory_kb(worker, "VmHWM") - before) / 1024
    print(f"worker memory: {before / 1024:.0f} MB, peak growth {growth_mb:.1f} MB")
    assert growth_mb < 200, growth_mb
    for conn in holders[1:]:
        conn.close()
    time.sleep(0.3)  # their bytes are freed: under the limit again
    holders[0].sendall(HOLD_BODY[60000:])  # a small unfinished request was kept: it finishes
    assert _read_answer(holders[0]).startswith(b"HTTP/1.1 200")

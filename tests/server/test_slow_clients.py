"""Slow clients cannot take a worker: real gunicorn, real sockets, a low client timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
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


@pytest.fixture(scope="module")
def server(server_factory: Factory) -> ServerProcess:
    return server_factory("ok.py", workers=WORKERS, client_timeout_s=CLIENT_TIMEOUT_S)


class SlowClient(threading.Thread):
    """Sends a request one byte every ``interval`` seconds; records when it was cut off."""

    def __init__(self, port: int, request: bytes, interval: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.request = request
        self.interval = interval
        self.first_byte = 0.0
        self.closed_after = -1.0
        self.answer = b""

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            conn.settimeout(self.interval)
            self.first_byte = time.monotonic()
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

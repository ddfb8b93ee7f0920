"""Batched requests parked by the one-thread keep-alive worker (``serving.server.deferred``).

A real gunicorn server with batching on serves a ``run_v2`` script whose model sleeps on
a marked row. Checked on raw sockets: pipelined requests on one connection are answered
in order (the second is not started before the first is answered); a request whose batch
outlives the scoring timeout gets 504 while other connections are served; a client that
goes away while its request waits leaves the worker serving, and one that only shuts its
sending side still gets its answer; a keep-alive connection is reused after each parked
request.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from tests.server.conftest import ServerProcess, start_server

pytestmark = pytest.mark.slow

SCRIPT = """
import time

V2_INPUTS = [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]
V2_OUTPUTS = [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]


def init():
    pass


def run(data):
    return {}


def run_v2(inputs):
    x = inputs["x"]
    if (x[:, 0] == -2).any():
        time.sleep(1.5)
    return {"y": x.sum(axis=1, keepdims=True)}
"""

PATH = "/v2/models/pair/infer"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("parked")
    script = base / "pair_v2.py"
    script.write_text(SCRIPT)
    env = {
        "SERVING_MODEL_NAME": "pair",
        "SERVING_MAX_BATCH_SIZE": "4",
        "SERVING_MAX_BATCH_DELAY_MS": "20",
        "SCORING_TIMEOUT_MS": "600",
    }
    proc = start_server(base, script, extra_env=env)
    try:
        yield proc
    finally:
        proc.stop()


def body(a: float, b: float) -> bytes:
    tensor = {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [a, b]}
    return json.dumps({"inputs": [tensor]}).encode()


def request(a: float, b: float) -> bytes:
    payload = body(a, b)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def read_responses(sock: socket.socket, count: int) -> list[tuple[str, bytes]]:
    """``count`` HTTP responses (head, body) read from ``sock``, in arrival order."""
    buf = b""
    found: list[tuple[str, bytes]] = []
    while len(found) < count:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1")
            match = re.search(r"(?im)^content-length:\s*(\d+)", head)
            length = int(match.group(1)) if match else 0
            if len(buf) >= end + 4 + length:
                found.append((head, buf[end + 4 : end + 4 + length]))
                buf = buf[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(found)} responses"
        buf += chunk
    return found


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.settings.port), timeout=10)
    return sock


def y_of(response_body: bytes) -> list[float]:
    (tensor,) = json.loads(response_body)["outputs"]
    return [float(v) for v in tensor["data"]]


def test_pipelined_requests_are_answered_in_order(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(request(1, 2) + request(10, 20) + request(100, 200))
        responses = read_responses(sock, 3)
    assert [head.split()[1] for head, _ in responses] == ["200", "200", "200"]
    assert [y_of(b) for _, b in responses] == [[3.0], [30.0], [300.0]]


def test_a_batch_past_the_scoring_timeout_answers_504_and_others_are_served(
    server: ServerProcess,
) -> None:
    with connect(server) as slow:
        start = time.monotonic()
        slow.sendall(request(-2, 0))
        time.sleep(0.05)
        with requests.Session() as session:  # another connection: the loop is not blocked
            health = session.get(f"{server.url}/v2/health/live", timeout=10)
        assert health.status_code == 200
        assert time.monotonic() - start < 1.0
        ((head, payload),) = read_responses(slow, 1)
        elapsed = time.monotonic() - start
    assert head.split()[1] == "504", head
    assert "timeout" in json.loads(payload)["error"].lower()
    assert elapsed < 1.4  # answered at the deadline, not when the model call ended
    time.sleep(1.6)  # the slow call ends; the next request runs at once
    response = requests.post(f"{server.url}{PATH}", data=body(2, 3), timeout=10)
    assert response.status_code == 200 and y_of(response.content) == [5.0]


def test_a_client_that_goes_away_while_parked_leaves_the_worker_serving(
    server: ServerProcess,
) -> None:
    for _ in range(5):
        with connect(server) as sock:
            sock.sendall(request(4, 5))
        # closed before the answer: the worker drops the request and its connection
    with requests.Session() as session:
        for i in range(3):  # one keep-alive connection, reused after each parked request
            response = session.post(f"{server.url}{PATH}", data=body(i, 1), timeout=10)
            assert response.status_code == 200 and y_of(response.content) == [i + 1.0]
    assert "Traceback" not in server.log()


def test_a_client_that_shuts_its_sending_side_still_gets_its_answer(
    server: ServerProcess,
) -> None:
    with connect(server) as sock:
        sock.sendall(request(7, 8))
        sock.shutdown(socket.SHUT_WR)
        ((head, payload),) = read_responses(sock, 1)
        assert sock.recv(1) == b""  # then the worker closes the connection
    assert head.split()[1] == "200" and y_of(payload) == [15.0]

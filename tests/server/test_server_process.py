"""The contract where it needs a real gunicorn process started from gunicorn_argv: HTTP
framing, keep-alive, body limits on the wire, startup failures, timeouts in workers, logs,
metrics across workers, SIGTERM. The rest of the contract is tested in-process in
tests/contract."""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from tests.server.conftest import ServerProcess

pytestmark = pytest.mark.slow

Factory = Callable[..., "ServerProcess"]
RUN_FAILED = "x-ms-run-function-failed"


def _post(server: ServerProcess, data: Any = None, **kwargs: Any) -> requests.Response:
    return requests.post(f"{server.url}/score", data=data, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def ok_server(server_factory: Factory) -> ServerProcess:
    return server_factory("ok.py", max_body_bytes=1000)


class TestOk:
    def test_score_and_headers(self, ok_server: ServerProcess) -> None:
        response = _post(ok_server, '{"data": [1, 2, 3]}')
        assert response.status_code == 200
        assert response.json() == {"sum": 6}
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers[RUN_FAILED] == "False"
        assert re.fullmatch(r"\d+\.\d{3}", response.headers["x-ms-run-fn-exec-ms"])
        assert len(response.headers["x-request-id"]) == 36
        assert response.headers["x-ms-request-id"] == response.headers["x-request-id"]
        assert response.headers["x-ms-server-version"].startswith("serving/")
        assert response.headers["x-serving-replica"] == "replica-1"

    def test_health_and_readiness(self, ok_server: ServerProcess) -> None:
        health = requests.get(f"{ok_server.url}/", timeout=10)
        assert (health.status_code, health.text) == (200, "Healthy")
        assert requests.get(f"{ok_server.url}/health/live", timeout=10).status_code == 200
        assert requests.get(f"{ok_server.url}/health/ready", timeout=10).status_code == 200

    def test_keep_alive(self, ok_server: ServerProcess) -> None:
        with requests.Session() as session:
            for i in range(20):
                response = session.post(f"{ok_server.url}/score", data=f"[{i}]", timeout=10)
                assert response.json()["echo"] == [i]
                assert response.headers.get("Connection", "keep-alive").lower() != "close"

    def test_client_ids(self, ok_server: ServerProcess) -> None:
        headers = {"x-request-id": "r-1", "x-ms-client-request-id": "c-1"}
        response = _post(ok_server, "1", headers=headers)
        assert response.headers["x-request-id"] == "r-1"
        assert response.headers["x-ms-client-request-id"] == "c-1"
        too_long = _post(ok_server, "1", headers={"x-request-id": "x" * 101})
        assert too_long.status_code == 431

    def test_oversize_bodies(self, ok_server: ServerProcess) -> None:
        too_big = _post(ok_server, b"1" * 1001)
        assert too_big.status_code == 413
        assert too_big.json() == {"message": "Request body is larger than the limit of 1000 bytes."}
        chunked = _post(ok_server, (b"1" * 500 for _ in range(4)))
        assert chunked.status_code == 413
        small_chunked = _post(ok_server, (part for part in [b"[1,", b"2]"]))
        assert small_chunked.json() == {"echo": [1, 2], "raw": "[1,2]"}

    def test_pipelined_requests_on_one_connection(self, ok_server: ServerProcess) -> None:
        request = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n[7]"
        with socket.create_connection(("127.0.0.1", ok_server.settings.port), timeout=10) as conn:
            conn.sendall(request * 2)
            received = b""
            while received.count(b'"echo": [7]') < 2:
                chunk = conn.recv(65536)
                assert chunk, received
                received += chunk
        assert received.count(b"HTTP/1.1 200 OK") == 2

    def test_unread_body_does_not_stall_the_worker(self, ok_server: ServerProcess) -> None:
        port = ok_server.settings.port
        with socket.create_connection(("127.0.0.1", port), timeout=10) as first:
            first.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
            first.sendall(b"1" * 2000)  # the client stalls mid-body and keeps the socket open
            assert first.recv(65536).startswith(b"HTTP/1.1 413")
            started = time.monotonic()
            assert _post(ok_server, "[1]").json() == {"echo": [1], "raw": "[1]"}
            assert time.monotonic() - started < 2

    def test_non_utf8_body(self, ok_server: ServerProcess) -> None:
        response = _post(ok_server, b"\xff\xfe")
        assert response.status_code == 400
        assert response.json()["message"].startswith("Input cannot be decoded as UTF-8")

    def test_method_not_allowed(self, ok_server: ServerProcess) -> None:
        response = requests.put(f"{ok_server.url}/score", data="1", timeout=10)
        assert response.status_code == 405
        assert "message" in response.json()

    def test_access_log_lines(self, ok_server: ServerProcess) -> None:
        _post(ok_server, "1", headers={"x-request-id": "access-log-id"})
        time.sleep(0.2)
        lines = [line for line in ok_server.log().splitlines() if '"access-log-id"' in line]
        assert len(lines) == 1
        entry = json.loads(lines[0])
        assert entry["status"] == 200
        assert entry["route"] == "/score"
        assert "duration_ms" in entry


@pytest.mark.parametrize("script", ["init_raises.py", "syntax_error.py", "missing_run.py"])
def test_startup_failure_exits_3_with_the_traceback(server_factory: Factory, script: str) -> None:
    server = server_factory(script, wait=False)
    assert server.wait_exit(60) == 3
    log = server.log()
    assert "Worker failed to boot" in log
    assert "AZUREML_MODEL_DIR" in log
    expected = {
        "init_raises.py": "RuntimeError: init exploded: model file missing",
        "syntax_error.py": "SyntaxError",
        "missing_run.py": "does not define a module-level run() function",
    }[script]
    assert expected in log


def test_run_raises(server_factory: Factory) -> None:
    server = server_factory("run_raises.py")
    response = _post(server, "1")
    assert response.status_code == 500
    assert response.json() == {
        "message": "An unexpected error occurred in scoring script. Check the logs for more info."
    }
    assert response.headers[RUN_FAILED] == "True"
    time.sleep(0.2)
    assert "ValueError: secret detail that must not reach the client" in server.log()


@pytest.mark.parametrize("threads", [1, 4], ids=["keepalive-worker", "gthread"])
def test_scoring_timeout_is_504_and_the_worker_recovers(
    server_factory: Factory, threads: int
) -> None:
    server = server_factory("slow_run.py", scoring_timeout_ms=500, threads=threads)
    started = time.monotonic()
    slow = _post(server, '{"sleep": 2}')
    assert time.monotonic() - started < 1.8
    assert slow.status_code == 504
    assert slow.json() == {"message": "Scoring timeout after 500 ms"}
    assert slow.headers[RUN_FAILED] == "True"
    fast = _post(server, '{"sleep": 0.05}')
    assert fast.status_code == 200
    assert fast.json() == {"slept": 0.05}


def test_prints_reach_the_log(server_factory: Factory) -> None:
    server = server_factory("prints.py")
    assert _post(server, "payload").json() == {"ok": True}
    time.sleep(0.2)
    log = server.log()
    assert "azmlinfsrv.print: PRINTED-IN-INIT" in log
    assert "azmlinfsrv.print: PRINTED-IN-RUN payload" in log


def test_metrics_are_aggregated_across_two_workers(server_factory: Factory) -> None:
    server = server_factory("slow_run.py", workers=2)
    # two concurrent slow calls: each worker serves one request at a time, so both serve one
    threads = [threading.Thread(target=_post, args=(server, '{"sleep": 0.5}')) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for _ in range(6):
        assert _post(server, '{"sleep": 0}').status_code == 200
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert 'serving_requests_total{method="POST",route="/score",status="200"} 8.0' in text
    assert "serving_scoring_duration_seconds_count 8.0" in text
    assert len(list(server.settings.metrics_dir.glob("counter_*.db"))) == 2  # type: ignore[union-attr]


def test_sigterm_lets_an_in_flight_request_finish(server_factory: Factory) -> None:
    server = server_factory("slow_run.py")
    box: dict[str, requests.Response] = {}
    thread = threading.Thread(target=lambda: box.update(r=_post(server, '{"sleep": 1.5}')))
    thread.start()
    time.sleep(0.5)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    thread.join(30)
    assert box["r"].status_code == 200
    assert box["r"].json() == {"slept": 1.5}
    assert server.wait_exit(30) == 0

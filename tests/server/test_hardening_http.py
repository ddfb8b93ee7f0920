"""Every request gets an answer, every 405 an Allow header, and metric labels stay bounded."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import requests
from flask.testing import FlaskClient

from serving.server.metrics import ServerMetrics

if TYPE_CHECKING:
    from tests.server.conftest import ServerProcess

Factory = Callable[..., "ServerProcess"]
ClientFor = Callable[..., FlaskClient]


@pytest.fixture(scope="module")
def server(server_factory: Factory) -> ServerProcess:
    return server_factory("ok.py")


def _raw(server: ServerProcess, request: bytes) -> bytes:
    """Send one request; the answer's head (raises if none comes within 5 s)."""
    with socket.create_connection(("127.0.0.1", server.settings.port), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            assert chunk, answer
            answer += chunk
    return answer.partition(b"\r\n\r\n")[0]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/", "/health/live", "/health/ready", "/metrics", "/score"])
@pytest.mark.parametrize("method", ["OPTIONS", "HEAD"])
def test_bodiless_answers_arrive(server: ServerProcess, method: str, path: str) -> None:
    head = _raw(server, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 405")), head
    if method == "OPTIONS" and path != "/score":
        assert b"\r\nAllow: " in head


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/score", "GET, OPTIONS, POST"),
        ("DELETE", "/score", "GET, OPTIONS, POST"),
        ("HEAD", "/score", "GET, OPTIONS, POST"),
        ("POST", "/", "GET, HEAD, OPTIONS"),
        ("POST", "/swagger.json", "GET, HEAD, OPTIONS"),
        ("PATCH", "/metrics", "GET, HEAD, OPTIONS"),
    ],
)
def test_every_405_says_allow(server: ServerProcess, method: str, path: str, allow: str) -> None:
    response = requests.request(method, f"{server.url}{path}", timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    if method != "HEAD":
        assert "message" in response.json()


@pytest.mark.slow
def test_unknown_methods_do_not_create_series(server: ServerProcess) -> None:
    for method in ("FOOA", "FOOB", "PROPFIND"):
        head = _raw(server, f"{method} /score HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert head.startswith((b"HTTP/1.1 405", b"HTTP/1.1 400")), head
    assert requests.get(f"{server.url}/nope-{'x' * 20}", timeout=10).status_code == 404
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    series = [line for line in text.splitlines() if line.startswith("serving_requests_total{")]
    assert series
    for line in series:
        labels = line[line.index("{") + 1 : line.index("}")]
        method = labels.split('method="')[1].split('"')[0]
        assert method in ("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "OTHER")
    assert 'method="OTHER",route="/score",status="405"} 3.0' in text
    assert "FOO" not in text
    assert "nope" not in text


def test_metric_labels_are_bounded() -> None:
    metrics = ServerMetrics()
    for method, status in (("FOO1", 200), ("FOO2", 999), ("GET", 42), ("GET", 200)):
        metrics.observe_request("/score", method, status, 0.001)
    text = metrics.render().decode()
    assert 'method="OTHER",route="/score",status="200"} 1.0' in text
    assert 'method="OTHER",route="/score",status="other"} 1.0' in text
    assert 'method="GET",route="/score",status="other"} 1.0' in text
    assert "FOO" not in text
    assert 'status="999"' not in text and 'status="42"' not in text


def test_flask_405_and_options_carry_allow(client_for: ClientFor) -> None:
    client = client_for("ok.py")
    assert client.put("/score", data="x").headers["Allow"] == "GET, OPTIONS, POST"
    assert client.post("/health/live").headers["Allow"] == "GET, HEAD, OPTIONS"
    options = client.options("/")
    assert options.status_code == 200
    assert set(options.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    rawhttp = client_for("raw_http.py")
    assert rawhttp.put("/score", data="x").headers["Allow"] == "GET, HEAD, OPTIONS, POST"

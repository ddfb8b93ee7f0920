"""Loopback targets ignore HTTP_PROXY: httpclient, the preflight check and the locust child.

The proxy is set to ``http://127.0.0.1:9`` (the discard port: nothing answers there), so a
request that went through it would fail.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from serving import httpclient
from serving.loadtest.runner import locust_env
from serving.loadtest.target import Target, fetch_example, preflight
from tests.helpers import serve_in_thread, serving_cmd

DEAD_PROXY = "http://127.0.0.1:9"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
SWAGGER = {
    "swagger": "2.0",
    "paths": {"/score": {"post": {"parameters": [{"in": "body", "schema": {"example": [1]}}]}}},
}


class _Handler(BaseHTTPRequestHandler):
    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._json(SWAGGER if self.path == "/swagger.json" else {"ok": True})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._json([0])

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), _Handler)) as url:
        yield url


@pytest.fixture()
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.setenv(name, DEAD_PROXY)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5001/score",
        "http://127.9.8.7/x",
        "http://localhost:80/",
        "https://LOCALHOST/",
        "http://api.localhost:1/",
        "http://[::1]:5001/score",
    ],
)
def test_is_loopback(url: str) -> None:
    assert httpclient.is_loopback(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://0.0.0.0:5001/",
        "http://example.com/",
        "http://localhost.example.com/",
        "http://[::2]/",
        "not a url",
        "",
    ],
)
def test_is_not_loopback(url: str) -> None:
    assert not httpclient.is_loopback(url)


@pytest.mark.usefixtures("dead_proxy")
def test_httpclient_bypasses_the_proxy_for_loopback(base: str) -> None:
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get(base + "/", timeout=10)  # the proxy setting is in force...
    resp = httpclient.get(base + "/", timeout=10)  # ...but not for loopback here
    assert resp.json() == {"ok": True}
    assert httpclient.post(base + "/score", json=[1], timeout=10).json() == [0]


@pytest.mark.usefixtures("dead_proxy")
def test_loadtest_target_check_bypasses_the_proxy(base: str) -> None:
    target = Target(label=base, host=base, path="/score")
    body = fetch_example(target)
    assert json.loads(body) == [1]
    assert 0 < preflight(target, body) < 10_000  # a latency in ms: it was answered


def test_locust_env_adds_loopback_to_no_proxy() -> None:
    base = {"HTTP_PROXY": DEAD_PROXY, "NO_PROXY": "corp.example", "LOCUST_X": "1"}
    env = locust_env(Target(label="t", host="http://127.3.4.5:5001", path="/score"), base)
    for name in ("NO_PROXY", "no_proxy"):
        entries = env[name].split(",")
        assert {"corp.example", "127.0.0.1", "localhost", "::1", "127.3.4.5"} <= set(entries)
    assert "LOCUST_X" not in env and env["HTTP_PROXY"] == DEAD_PROXY
    remote = locust_env(Target(label="t", host="http://10.1.1.1:80", path="/score"), base)
    assert remote["NO_PROXY"] == "corp.example" and "no_proxy" not in remote


@pytest.mark.usefixtures("dead_proxy")
def test_serving_loadtest_reaches_a_loopback_target_through_a_proxy_setting(
    base: str, tmp_path: Path
) -> None:
    """A real `serving loadtest` (locust child included) with every proxy variable set."""
    args = ("--users", "1", "--spawn-rate", "1", "--duration", "2s", "--report", tmp_path / "r")
    result = subprocess.run(
        serving_cmd("loadtest", f"{base}/score", *map(str, args), "-o", "json"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["requests"] > 0 and summary["failures"] == 0, summary

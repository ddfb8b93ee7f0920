"""The gunicorn lower bound is real: the oldest allowed release runs the worker and serves.

The bound is the first release with every gunicorn API the server uses; in 26.2 came
``wsgi.create(response_class=)`` and ``Response._emit_body`` (:class:`KeepAliveWorker`'s
coalescing response), ``--no-control-socket`` (in ``gunicorn_argv``) came in 25.3.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from serving.environments.runtime import RUNTIME_REQUIREMENTS
from tests.server.conftest import start_server

ROOT = Path(__file__).resolve().parents[2]


def _minimum() -> str:
    (minimum,) = re.findall(
        r'^ +"gunicorn>=([0-9.]+)",$', (ROOT / "pyproject.toml").read_text(), re.M
    )
    return str(minimum)


def test_the_runtime_pins_the_same_minimum() -> None:
    assert f"gunicorn>={_minimum()}" in [r.split("#")[0].strip() for r in RUNTIME_REQUIREMENTS]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_minimum_gunicorn_serves(tmp_path: Path) -> None:
    minimum = _minimum()
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--disable-pip-version-check", "--target", str(target), f"gunicorn=={minimum}"],
        check=True,
        timeout=300,
    )  # fmt: skip
    # PYTHONPATH comes before site-packages: the server runs this gunicorn, not the venv's
    server = start_server(tmp_path, "ok.py", extra_env={"PYTHONPATH": str(target)}, workers=1)
    try:
        with requests.Session() as session:
            for i in range(3):  # keep-alive: one connection, several requests
                response = session.post(f"{server.url}/score", data=f"[{i}]", timeout=10)
                assert response.json()["echo"] == [i]
        options = requests.options(f"{server.url}/", timeout=10)
        assert options.status_code == 200
        assert "GET" in options.headers["Allow"]
        with socket.create_connection(("127.0.0.1", server.settings.port), timeout=10) as conn:
            conn.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n[4]" * 2)
            received = b""
            while received.count(b'"echo": [4]') < 2:
                chunk = conn.recv(65536)
                assert chunk, received
                received += chunk
    finally:
        server.stop()
    version = minimum if minimum.count(".") == 2 else f"{minimum}.0"
    assert f"Starting gunicorn {version}" in server.log()

"""The scoring server with ``--certfile``/``--keyfile``, both worker kinds: the one-thread
keep-alive worker (handshakes and reads driven by its event loop, without waiting) and
gthread workers. Real gunicorn processes, a trustme CA."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests

from serving.server.gunicorn import KEEPALIVE_WORKER, gunicorn_argv
from tests.server.conftest import ServerProcess, start_server
from tests.tls.certs import CaFiles, make_ca

pytestmark = pytest.mark.slow


def _https(server: ServerProcess) -> str:
    return f"https://127.0.0.1:{server.settings.port}"


def _wait_ready(server: ServerProcess, ca: CaFiles) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            answer = requests.get(f"{_https(server)}/health/ready", verify=str(ca.ca_pem))
            if answer.status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(server.log())


@pytest.fixture(scope="module", params=[1, 4], ids=["keepalive-worker", "gthread"])
def tls_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ServerProcess, CaFiles]:
    base = tmp_path_factory.mktemp("tls-server")
    ca = make_ca(base / "ca")
    server = start_server(
        base, "ok.py", wait=False, threads=request.param, max_body_bytes=4 * 2**20,
        ssl_cert_file=ca.good.cert, ssl_key_file=ca.good.key,
    )  # fmt: skip
    request.addfinalizer(server.stop)
    _wait_ready(server, ca)
    return server, ca


def test_worker_kind(tls_server: tuple[ServerProcess, CaFiles]) -> None:
    server, _ = tls_server
    argv = gunicorn_argv(server.settings)
    assert argv[argv.index("--certfile") + 1] == str(server.settings.ssl_cert_file)
    assert (KEEPALIVE_WORKER in argv) == (server.settings.threads == 1)


def test_keep_alive_large_bodies_and_limits_over_tls(
    tls_server: tuple[ServerProcess, CaFiles],
) -> None:
    server, ca = tls_server
    verify = str(ca.ca_pem)  # per call: REQUESTS_CA_BUNDLE would override session.verify
    with requests.Session() as session:
        for n in range(20):
            answer = session.post(f"{_https(server)}/score", json={"data": [n, 1]}, verify=verify)
            assert answer.json() == {"sum": n + 1}
        big = {"data": [1] * 600_000}  # ~1.8 MB: many TLS records in one request
        answer = session.post(f"{_https(server)}/score", json=big, verify=verify)
        assert answer.json() == {"sum": 600_000}
        if server.settings.threads > 1:
            return  # gthread closes on a body over the limit before reading it: no 413
        too_big = session.post(f"{_https(server)}/score", data=b"x" * (5 * 2**20), verify=verify)
        assert too_big.status_code == 413  # the keep-alive worker's own answer, encrypted


def test_plain_http_refused_and_a_stalled_handshake_blocks_nobody(
    tls_server: tuple[ServerProcess, CaFiles],
) -> None:
    server, ca = tls_server
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.settings.port}/health/ready", timeout=10)
    with socket.create_connection(("127.0.0.1", server.settings.port)) as stalled:
        stalled.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        started = time.monotonic()
        answer = requests.post(
            f"{_https(server)}/score", json={"data": [2]}, verify=str(ca.ca_pem), timeout=10
        )
        assert answer.json() == {"sum": 2} and time.monotonic() - started < 5
    assert "Traceback" not in server.log()


def test_wrong_host_and_unknown_ca_refused(
    tls_server: tuple[ServerProcess, CaFiles], tmp_path: Path
) -> None:
    server, _ = tls_server
    other = make_ca(tmp_path / "other")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{_https(server)}/health/ready", verify=str(other.ca_pem), timeout=10)

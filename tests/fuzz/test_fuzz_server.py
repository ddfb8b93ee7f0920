"""Deeply nested JSON against real gunicorn: a 400 JSON answer on the fast path (schema
mode) and on the Flask path (rawhttp run() calling request.get_json()), no traceback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.fuzz.conftest import DEEP_KINDS, FUZZ_SCRIPTS, deep_json
from tests.helpers import FIXTURES
from tests.server.conftest import ServerProcess, start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["schema", "rawhttp"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    script = FIXTURES / "schema_decorated.py"
    if request.param == "rawhttp":
        script = FUZZ_SCRIPTS / "raw_json.py"
    started = start_server(tmp_path_factory.mktemp(request.param), script)
    yield started
    assert started.stop() == 0


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("kind", DEEP_KINDS)
def test_deep_json_is_a_400(server: ServerProcess, kind: str, chunked: bool) -> None:
    body = deep_json(kind)
    response = requests.post(
        f"{server.url}/score",
        data=_chunks(body) if chunked else body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-ms-run-function-failed"] == "False"
    message = response.json()["message"]
    assert isinstance(message, str) and message
    if server.settings.entry_script == "schema_decorated.py":  # the fast path says why
        assert message == "POST body could not be decoded as JSON: JSON is nested too deeply"
    # the worker is fine afterwards, and nothing was logged as a crash
    ok = requests.post(
        f"{server.url}/score",
        json={"data": [[1.0, 2.0, 3.0]]},
        timeout=30,
    )
    assert ok.status_code == 200
    log = server.log()
    assert "Traceback" not in log and "RecursionError" not in log, log[-3000:]


def test_deep_query_value_is_a_400(server: ServerProcess) -> None:
    depth = 1300  # "%5B" each: within gunicorn's request-line limit, deeper than json goes
    response = requests.get(f"{server.url}/score?data=" + "[" * depth, timeout=30)
    if server.settings.entry_script == "raw_json.py":
        # rawhttp: run() reads no query and decodes a GET without a JSON Content-Type
        assert response.status_code == 415, response.text
        assert "request Content-Type was not 'application/json'" in response.json()["message"]
    else:
        assert response.status_code == 400, response.text
        assert response.json()["message"].startswith("A query parameter could not be decoded")
    assert "Traceback" not in server.log()

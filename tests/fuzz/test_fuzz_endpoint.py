"""schemathesis against the swagger of a deployed endpoint of the scikit-learn template
(inference-schema decorated run()), on the local target, with auth off and on.

Bounded: ``MAX_EXAMPLES`` cases per operation and per document, a 10 s timeout per
request (a request that gets no answer is a failure), the whole run well under 90 s.
Case counts are printed (``-s``).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis import Case

from tests.fuzz.fuzzing import RUN_FAILED, fuzz_schema, header
from tests.helpers import SKLEARN, cli_env, serving_cmd

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 60
REQUEST_TIMEOUT_S = 10.0
FUZZ_BUDGET_S = 90.0
UNDOCUMENTED_METHODS = ("OPTIONS", "PUT", "DELETE", "PATCH")


class Endpoint:
    """A deployed endpoint: its base URL and keys (none without auth)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.name = str(data["name"])
        self.base = str(data["scoring_uri"]).rsplit("/score", 1)[0]
        self.keys: list[str] = list(data.get("keys") or [])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[0]}"} if self.keys else {}


def _cli(ws: Path, envs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(ws), "SERVING_ENVS_DIR": str(envs)}
    return subprocess.run(
        serving_cmd(*args), env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="module")
def endpoints(
    tmp_path_factory: pytest.TempPathFactory, template_model: Path
) -> Iterator[dict[bool, Endpoint]]:
    """The template deployed twice from one workspace: without and with auth."""
    ws = tmp_path_factory.mktemp("fuzz-ws") / "ws"
    envs = tmp_path_factory.mktemp("fuzz-envs")
    registered = _cli(ws, envs, "models", "register", str(template_model), "--name", "digits")
    assert registered.returncode == 0, registered.stderr
    deployed: dict[bool, Endpoint] = {}
    try:
        for auth in (False, True):
            name = "fuzz-auth" if auth else "fuzz-open"
            result = _cli(
                ws, envs, "deploy", name, "--model", "digits:1",
                "--entry-script", str(SKLEARN / "score.py"), "--env", str(SKLEARN / "env.yml"),
                "--auth" if auth else "--no-auth", "-o", "json",
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            deployed[auth] = Endpoint(json.loads(result.stdout))
        yield deployed
    finally:
        for endpoint in deployed.values():
            _cli(ws, envs, "endpoints", "delete", endpoint.name)


def _caller(endpoint: Endpoint) -> Any:
    def call(case: Case) -> Any:
        return case.call(
            base_url=endpoint.base, headers=endpoint.headers, timeout=REQUEST_TIMEOUT_S
        )

    return call


@pytest.mark.parametrize("auth", [False, True], ids=["no-auth", "auth"])
@pytest.mark.parametrize("version", ["2", "3"])
def test_schemathesis_against_the_deployed_template(
    endpoints: dict[bool, Endpoint], auth: bool, version: str
) -> None:
    endpoint = endpoints[auth]
    url = f"{endpoint.base}/swagger.json?version={version}"
    schema = schemathesis.openapi.from_url(url, headers=endpoint.headers, timeout=30)
    declared = "securityDefinitions" in schema.raw_schema or "securitySchemes" in (
        schema.raw_schema.get("components") or {}
    )
    assert declared == auth
    report = fuzz_schema(schema, max_examples=MAX_EXAMPLES, call=_caller(endpoint))
    print("\n" + report.line(f"deployed sklearn template, swagger {version}, auth={auth}"))
    assert set(report.cases) == {"GET /", "POST /score", "GET /swagger.json"}
    assert report.statuses[200] > 0 and report.statuses[400] > 0  # valid and refused cases
    assert report.seconds < FUZZ_BUDGET_S


def test_missing_key_gets_the_documented_401(endpoints: dict[bool, Endpoint]) -> None:
    endpoint = endpoints[True]
    doc = requests.get(
        f"{endpoint.base}/swagger.json?version=3", headers=endpoint.headers, timeout=10
    ).json()
    for path, method in (("/score", "post"), ("/swagger.json", "get")):
        assert "401" in doc["paths"][path][method]["responses"], path
        for headers in ({}, {"Authorization": "Bearer not-a-key"}):
            response = requests.request(
                method, f"{endpoint.base}{path}", headers=headers, json={"data": []}, timeout=10
            )
            assert response.status_code == 401, (path, headers)
            assert "message" in response.json()
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(f"{endpoint.base}/", timeout=10).status_code == 200  # documented open


@pytest.mark.parametrize("auth", [False, True], ids=["no-auth", "auth"])
def test_every_method_on_every_path_gets_an_answer(
    endpoints: dict[bool, Endpoint], auth: bool
) -> None:
    """Methods the document does not list: answered at once; a 405 names what is allowed."""
    endpoint = endpoints[auth]
    for path in ("/", "/score", "/swagger.json"):
        for method in UNDOCUMENTED_METHODS:
            start = time.monotonic()
            response = requests.request(
                method,
                f"{endpoint.base}{path}",
                headers=endpoint.headers,
                timeout=REQUEST_TIMEOUT_S,
            )
            assert time.monotonic() - start < REQUEST_TIMEOUT_S
            assert response.status_code < 500 or header(response, RUN_FAILED) == "True", (
                method, path, response.status_code
            )  # fmt: skip
            if response.status_code == 405:
                assert response.headers.get("Allow"), (method, path)

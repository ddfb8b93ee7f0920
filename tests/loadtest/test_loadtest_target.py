"""Target resolution and the preflight check, against a tiny stand-in server (unit level)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from serving.errors import NotFoundError, UserInputError
from serving.loadtest import TargetError
from serving.loadtest.target import Target, fetch_example, preflight, resolve_target, split_url
from serving.workspace import Workspace
from tests.helpers import serve_in_thread

SWAGGER = {
    "swagger": "2.0",
    "paths": {
        "/score": {
            "post": {
                "parameters": [{"in": "body", "schema": {"$ref": "#/definitions/ServiceInput"}}]
            }
        }
    },
    "definitions": {"ServiceInput": {"type": "object", "example": {"data": [[1.0]]}}},
}


def stand_in() -> Flask:
    app = Flask("stand_in")

    @app.post("/score")
    def score() -> Response | tuple[Response, int]:
        if request.headers.get("Authorization") != "Bearer good":
            return jsonify(message="Unauthorized"), 401
        return jsonify([0])

    @app.get("/swagger.json")
    def swagger() -> Response | tuple[Response, int]:
        if request.headers.get("Authorization") != "Bearer good":
            return jsonify(message="Unauthorized"), 401
        return jsonify(SWAGGER)

    @app.post("/fails/score")
    def fails() -> tuple[Response, int]:
        return jsonify(message="division by zero"), 500

    @app.post("/text/score")
    def text() -> str:
        return "not json"

    @app.post("/moved/score")
    def moved() -> tuple[str, int, dict[str, str]]:
        return "", 307, {"Location": "http://elsewhere.example/score"}

    return app


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve_in_thread(make_server("127.0.0.1", 0, stand_in(), threaded=True)) as url:
        yield url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_split_url() -> None:
    assert split_url("http://h:1") == ("http://h:1", "/score")
    assert split_url("http://h:1/") == ("http://h:1", "/score")
    assert split_url("https://h/api/score?x=1") == ("https://h", "/api/score?x=1")
    for bad in ("ftp://h/score", "http:///score", "http://h:99999/score"):
        with pytest.raises(UserInputError):
            split_url(bad)


def test_swagger_uri_follows_the_path() -> None:
    assert Target("t", "http://h", "/score").swagger_uri == "http://h/swagger.json"
    assert Target("t", "http://h", "/p/score?a=1").swagger_uri == "http://h/p/swagger.json"


def test_resolve_a_name_from_the_registry(ws: Workspace) -> None:
    ws.endpoints.create("digits-svc", "local", {}, ["pk", "sk"], [])
    ws.endpoints.update("digits-svc", scoring_uri="http://127.0.0.1:5001/score", state="Healthy")
    target = resolve_target("digits-svc", workspace=ws)
    assert (target.host, target.path, target.key, target.endpoint) == (
        "http://127.0.0.1:5001",
        "/score",
        "pk",
        "digits-svc",
    )
    assert resolve_target("digits-svc", workspace=ws, key="mine").key == "mine"


def test_unknown_names_and_unreachable_records(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="endpoint nope not found"):
        resolve_target("nope", workspace=ws)
    with pytest.raises(NotFoundError) as info:
        resolve_target("localhost:5001", workspace=ws)
    assert "http://" in (info.value.hint or "")
    ws.endpoints.create("pending", "local", {}, [], [])
    with pytest.raises(TargetError, match="no scoring URI"):
        resolve_target("pending", workspace=ws)


def test_preflight_and_example_with_the_key(base: str) -> None:
    target = resolve_target(f"{base}/score", key="good")
    body = fetch_example(target)
    assert body == b'{"data":[[1.0]]}'
    assert preflight(target, body) > 0


@pytest.mark.parametrize(
    ("path", "key", "needle"),
    [
        ("/score", None, "requires a key (401)"),
        ("/score", "bad", "rejected the key (401)"),
        ("/fails/score", None, "answered 500: division by zero"),
        ("/text/score", None, "answered 200 but not JSON"),
        ("/moved/score", None, "redirect (307) to http://elsewhere.example/score"),
        ("/missing/score", None, "answered 404"),
    ],
)
def test_preflight_failures_are_one_line(
    base: str, path: str, key: str | None, needle: str
) -> None:
    target = resolve_target(f"{base}{path}", key=key)
    with pytest.raises(TargetError) as info:
        preflight(target, b"{}")
    assert needle in info.value.one_line()
    assert "\n" not in info.value.one_line()
    assert info.value.exit_code == 6


def test_example_needs_the_key_and_a_swagger(base: str) -> None:
    with pytest.raises(TargetError, match="requires a key"):
        fetch_example(resolve_target(f"{base}/score"))
    with pytest.raises(TargetError, match="no swagger document") as info:
        fetch_example(resolve_target(f"{base}/fails/score"))
    assert "--payload" in (info.value.hint or "")


def test_refused_connection() -> None:
    target = resolve_target(f"http://127.0.0.1:{closed_port()}/score")
    with pytest.raises(TargetError, match=r"connection refused at http://127\.0\.0\.1"):
        preflight(target, b"{}")


def test_no_workspace_needed_for_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVING_WORKSPACE", str(tmp_path / "never"))
    resolve_target("http://127.0.0.1:1/score")
    assert not (tmp_path / "never").exists()

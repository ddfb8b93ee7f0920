"""The HTTP contract (AZUREML_CONTRACT.md section 2) through Flask's test client."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

ClientFor = Callable[..., FlaskClient]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RUN_FAILED = "x-ms-run-function-failed"


def test_health_probe(client_for: ClientFor) -> None:
    response = client_for("ok.py").get("/")
    assert response.status_code == 200
    assert response.get_data() == b"Healthy"
    assert response.mimetype == "text/html"


def test_plain_post_and_headers(client_for: ClientFor) -> None:
    response = client_for("ok.py").post("/score", data='{"data": [1, 2, 3]}')
    assert response.status_code == 200
    assert response.get_json() == {"sum": 6}
    assert response.mimetype == "application/json"
    assert response.headers[RUN_FAILED] == "False"
    assert re.fullmatch(r"\d+\.\d{3}", response.headers["x-ms-run-fn-exec-ms"])
    request_id = response.headers["x-request-id"]
    assert UUID.match(request_id)
    assert response.headers["x-ms-request-id"] == request_id
    assert "x-ms-client-request-id" not in response.headers
    assert response.headers["x-ms-server-version"].startswith("serving/")
    assert response.headers["x-serving-replica"] == "test-replica"


def test_generated_ids_differ(client_for: ClientFor) -> None:
    client = client_for("ok.py")
    ids = {client.get("/").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_client_ids_are_echoed(client_for: ClientFor) -> None:
    client = client_for("ok.py")
    response = client.post(
        "/score",
        data="1",
        headers={"x-request-id": "rid", "x-ms-client-request-id": "cid", "TraceId": "t-1"},
    )
    assert response.headers["x-request-id"] == "rid"
    assert response.headers["x-ms-request-id"] == "cid"
    assert response.headers["x-ms-client-request-id"] == "cid"
    assert response.headers["TraceId"] == "t-1"
    legacy = client.post("/score", data="1", headers={"x-ms-request-id": "legacy"})
    assert legacy.headers["x-ms-request-id"] == "legacy"
    assert legacy.headers["x-ms-client-request-id"] == "legacy"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("x-request-id", "x-request-id must not exceed 100 characters"),
        (
            "x-ms-request-id",
            "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters",
        ),
        (
            "x-ms-client-request-id",
            "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters",
        ),
    ],
)
def test_long_ids_are_rejected(client_for: ClientFor, header: str, message: str) -> None:
    client = client_for("ok.py")
    assert client.post("/score", data="1", headers={header: "x" * 100}).status_code == 200
    response = client.post("/score", data="1", headers={header: "x" * 101})
    assert response.status_code == 431
    assert response.get_json() == {"message": message}


def test_version_header_can_be_turned_off(client_for: ClientFor) -> None:
    response = client_for("ok.py", version_header=False).get("/")
    assert "x-ms-server-version" not in response.headers


def test_plain_get_passes_the_query_as_json(client_for: ClientFor) -> None:
    response = client_for("ok.py").get("/score?a=1&b=x&b=y")
    assert response.get_json()["echo"] == {"a": 1, "b": ["x", "y"]}


def test_form_bodies_arrive_empty(client_for: ClientFor) -> None:
    response = client_for("ok.py").post("/score", data={"field": "value"})
    assert response.get_json() == {"echo": None, "raw": ""}


def test_non_utf8_body_is_400(client_for: ClientFor) -> None:
    response = client_for("ok.py").post("/score", data=b"\xff\xfe\xfa")
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("Input cannot be decoded as UTF-8: ")
    assert response.headers[RUN_FAILED] == "False"


def test_run_raising_is_500_without_details(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    response = client_for("run_raises.py").post("/score", data="1")
    assert response.status_code == 500
    assert response.get_json() == {
        "message": "An unexpected error occurred in scoring script. Check the logs for more info."
    }
    assert response.headers[RUN_FAILED] == "True"
    assert "secret detail" not in response.get_data(as_text=True)
    assert "ValueError: secret detail that must not reach the client" in caplog.text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("array", [[0, 1, 2], [3, 4, 5]]),
        ("scalar", 7),
        ("nested", {"probs": [0.25, 0.75], "label": 1}),
    ],
)
def test_numpy_results(client_for: ClientFor, body: str, expected: object) -> None:
    response = client_for("returns_numpy.py").post("/score", data=body)
    assert response.status_code == 200
    assert response.get_json() == expected


@pytest.mark.parametrize(
    ("script", "body"), [("returns_none.py", b"{}"), ("returns_str.py", b'"hello"')]
)
def test_none_and_str_results(client_for: ClientFor, script: str, body: bytes) -> None:
    response = client_for(script).post("/score", data="x")
    assert response.status_code == 200
    assert response.get_data() == body


def test_unserialisable_result_is_500_not_run_failed(client_for: ClientFor) -> None:
    response = client_for("returns_bytes.py").post("/score", data="x")
    assert response.status_code == 500
    assert response.get_json() == {
        "message": "An unexpected internal error occurred. Check the logs for more info."
    }
    assert response.headers[RUN_FAILED] == "False"


def test_generators_are_streamed(client_for: ClientFor) -> None:
    response = client_for("returns_generator.py").post("/score", data="x")
    assert response.status_code == 200
    assert response.get_data() == b"part1,part2"


def test_request_headers_parameter(client_for: ClientFor) -> None:
    response = client_for("request_headers.py").post(
        "/score", data="d", headers={"X-Custom-Header": "hello"}
    )
    assert response.get_json()["custom"] == "hello"
    assert response.get_json()["data"] == "d"


def test_options_and_other_methods(client_for: ClientFor) -> None:
    client = client_for("ok.py")
    options = client.options("/score")
    assert options.status_code == 200
    assert options.get_data() == b""
    put = client.put("/score", data="x")
    assert put.status_code == 405
    assert "message" in put.get_json()
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert "message" in missing.get_json()


class TestSchemaMode:
    def test_good_call(self, client_for: ClientFor) -> None:
        response = client_for("schema_decorated.py").post(
            "/score", json={"data": [[1, 2, 3], [4, 5, 6]], "factor": 2}
        )
        assert response.status_code == 200
        assert response.get_json() == [12.0, 30.0]

    def test_get_binds_the_query(self, client_for: ClientFor) -> None:
        response = client_for("schema_decorated.py").get("/score?data=[[1,1,1]]")
        assert response.get_json() == [3.0]

    @pytest.mark.parametrize(
        ("kwargs", "status", "message"),
        [
            ({"json": {"factor": 2}}, 400, "A value is not provided for the 'data' parameter."),
            ({"json": [1, 2]}, 400, "POST body should be a JSON dictionary."),
            (
                {"data": "", "content_type": "application/json"},
                400,
                "POST body is empty. Expecting a JSON dictionary.",
            ),
            ({"data": '{"data": [[1, 2, 3]]}'}, 415, "Expects Content-Type to be application/json"),
        ],
    )
    def test_input_errors(
        self, client_for: ClientFor, kwargs: dict[str, object], status: int, message: str
    ) -> None:
        response = client_for("schema_decorated.py").post("/score", **kwargs)
        assert response.status_code == status
        assert response.get_json() == {"message": message}
        assert response.headers[RUN_FAILED] == "False"

    def test_conversion_errors_are_run_failures(self, client_for: ClientFor) -> None:
        response = client_for("schema_decorated.py").post("/score", json={"data": [1, 2, 3]})
        assert response.status_code == 500
        assert response.headers[RUN_FAILED] == "True"


class TestSwagger:
    def test_versions(self, client_for: ClientFor) -> None:
        client = client_for("schema_decorated.py", service_name="svc", service_path_prefix="/api/x")
        v2 = client.get("/swagger.json").get_json()
        assert v2["swagger"] == "2.0"
        assert v2["info"]["title"] == "svc"
        assert set(v2["paths"]) == {"/api/x/", "/api/x/score", "/api/x/swagger.json"}
        service_input = v2["definitions"]["ServiceInput"]
        assert set(service_input["properties"]) == {"data", "factor"}
        assert service_input["example"]["data"] == [[1.0, 2.0, 3.0]]
        assert v2["definitions"]["ServiceOutput"]["type"] == "array"
        assert client.get("/swagger.json?version=2.0").get_json() == v2
        v3 = client.get("/swagger.json?version=3").get_json()
        assert v3["openapi"] == "3.0.3"
        assert v3["components"]["schemas"]["ServiceInput"] == service_input
        assert client.get("/swagger.json?version=3.0").get_json() == v3
        assert client.get("/swagger.json?version=3.1").get_json()["openapi"] == "3.1.0"

    def test_unknown_version(self, client_for: ClientFor) -> None:
        response = client_for("schema_decorated.py").get("/swagger.json?version=4")
        assert response.status_code == 404
        assert response.get_json() == {
            "message": "Swagger version [4] is not valid. Supported versions: [2, 3, 3.1]."
        }

    def test_undecorated_run(self, client_for: ClientFor) -> None:
        doc = client_for("ok.py").get("/swagger.json?version=3").get_json()
        assert doc["components"]["schemas"]["ServiceInput"] == {"type": "object", "example": {}}

    def test_user_files_win(self, client_for: ClientFor, tmp_path: Path, scripts_dir: Path) -> None:
        (tmp_path / "score.py").write_text((scripts_dir / "ok.py").read_text())
        (tmp_path / "swagger.json").write_text('{"mine": 2}')
        (tmp_path / "swagger3.json").write_text('{"mine": 3}')
        client = client_for("score.py", app_root=tmp_path)
        assert client.get("/swagger.json").get_json() == {"mine": 2}
        assert client.get("/swagger.json?version=3").get_json() == {"mine": 3}
        assert client.get("/swagger.json?version=3.1").get_json()["openapi"] == "3.1.0"


class TestRawHttp:
    def test_post_gets_the_request_and_returns_aml_response(self, client_for: ClientFor) -> None:
        response = client_for("raw_http.py").post("/score", data=b"abc")
        assert response.status_code == 201
        assert response.get_data() == b"cba"
        assert response.headers.getlist("x-custom") == ["a", "b"]
        assert response.headers["Content-Type"] == "text/plain"
        assert response.headers[RUN_FAILED] == "False"
        assert "x-ms-run-fn-exec-ms" in response.headers
        assert "x-request-id" in response.headers

    def test_get_options_and_failures(self, client_for: ClientFor) -> None:
        client = client_for("raw_http.py")
        assert client.get("/score?q=1").get_json() == {"method": "GET", "args": {"q": "1"}}
        assert client.options("/score").get_data() == b"options seen"
        failed = client.post("/score", data=b"fail")
        assert failed.status_code == 500
        assert failed.headers[RUN_FAILED] == "True"
        assert client.post("/score", data=b"plain").get_json() == {"plain": True}


class TestLimits:
    def test_content_length_over_the_limit(self, client_for: ClientFor) -> None:
        response = client_for("ok.py", max_body_bytes=10).post("/score", data=b"x" * 11)
        assert response.status_code == 413
        assert response.get_json() == {
            "message": "Request body is larger than the limit of 10 bytes."
        }
        assert (
            client_for("ok.py", max_body_bytes=10).post("/score", data=b"1" * 10).status_code == 200
        )

    def test_chunked_body_over_the_limit(self, client_for: ClientFor) -> None:
        client = client_for("ok.py", max_body_bytes=1000)
        response = client.post(
            "/score",
            input_stream=io.BytesIO(b"1" * 5000),
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert response.status_code == 413
        small = client.post(
            "/score",
            input_stream=io.BytesIO(b"[1]"),
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert small.get_json() == {"echo": [1], "raw": "[1]"}

    def test_rawhttp_content_length_over_the_limit(self, client_for: ClientFor) -> None:
        response = client_for("raw_http.py", max_body_bytes=10).post("/score", data=b"x" * 11)
        assert response.status_code == 413

    def test_timeout_is_504_and_the_next_request_works(self, client_for: ClientFor) -> None:
        client = client_for("slow_run.py", scoring_timeout_ms=300)
        slow = client.post("/score", data='{"sleep": 2}')
        assert slow.status_code == 504
        assert slow.get_json() == {"message": "Scoring timeout after 300 ms"}
        assert slow.headers[RUN_FAILED] == "True"
        assert client.post("/score", data='{"sleep": 0}').get_json() == {"slept": 0.0}


class TestAuth:
    def test_keys(self, client_for: ClientFor) -> None:
        client = client_for("ok.py", keys=("key-one", "key-two"), auth="key")
        missing = client.post("/score", data="1")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert "message" in missing.get_json()
        wrong = client.post("/score", data="1", headers={"Authorization": "Bearer key-three"})
        assert wrong.status_code == 401
        for key in ("key-one", "key-two"):
            ok = client.post("/score", data="1", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200
        assert client.get("/swagger.json").status_code == 401
        bearer = {"Authorization": "bearer key-two"}
        assert client.get("/swagger.json", headers=bearer).status_code == 200
        for path in ("/", "/health/live", "/health/ready", "/metrics"):
            assert client.get(path).status_code == 200, path


def test_readiness_follows_init(client_for: ClientFor) -> None:
    client = client_for("ok.py", init=False)
    assert client.get("/health/live").status_code == 200
    not_ready = client.get("/health/ready")
    assert not_ready.status_code == 503
    assert "message" in not_ready.get_json()
    client.application.extensions["serving"].scorer.initialize()
    assert client.get("/health/ready").get_json() == {"status": "ready"}


def test_metrics(client_for: ClientFor) -> None:
    client = client_for("ok.py")
    client.post("/score", data="[1]")
    client.post("/score", data=b"\xff")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'serving_requests_total{method="POST",route="/score",status="200"} 1.0' in text
    assert 'serving_requests_total{method="POST",route="/score",status="400"} 1.0' in text
    assert "serving_request_duration_seconds_bucket" in text
    assert "serving_scoring_duration_seconds_count 1.0" in text


def test_access_log_is_one_json_line(
    client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for("ok.py", access_log=True)
    client.post("/score", data="1", headers={"x-request-id": 'quote"id'})
    lines = [r.getMessage() for r in caplog.records if r.name == "serving.access"]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["request_id"] == 'quote"id'
    assert entry["method"] == "POST"
    assert entry["route"] == "/score"
    assert entry["status"] == 200
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] < 5000


def test_cors(client_for: ClientFor) -> None:
    client = client_for("ok.py", cors_origins="http://allowed.example")
    allowed = client.options("/score", headers={"Origin": "http://allowed.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://allowed.example"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    other = client.post("/score", data="1", headers={"Origin": "http://other.example"})
    assert "Access-Control-Allow-Origin" not in other.headers

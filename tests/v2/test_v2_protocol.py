"""The V2 routes over plain HTTP against real servers, every response checked against the
protocol's OpenAPI document: JSON tensors nested and flat, version paths, id echo, output
subsets, the binary extension by hand, and the errors (400, 401, 404, 405, 413, 500, 503)."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
import requests

from tests.server.conftest import ServerProcess
from tests.v2.conftest import KEY, SCRIPTS
from tests.v2.openapi import check

ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def infer(
    server: ServerProcess, body: Any, path: str = "/v2/models/summer/infer"
) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=10)


def x_input(data: Any, shape: list[int] | None = None, datatype: str = "FP32") -> dict[str, Any]:
    return {"name": "x", "shape": shape or [2, 3], "datatype": datatype, "data": data}


@pytest.mark.parametrize("data", [ROWS, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], ids=["nested", "flat"])
def test_nested_and_flat_data(sum_server: ServerProcess, data: list[Any]) -> None:
    body = check(infer(sum_server, {"id": "abc", "inputs": [x_input(data)]}))
    assert body == {
        "model_name": "summer",
        "id": "abc",
        "outputs": [
            {"name": "sum", "datatype": "FP32", "shape": [2], "data": [6.0, 15.0]},
            {
                "name": "double",
                "datatype": "FP32",
                "shape": [2, 3],
                "data": [2.0, 4.0, 6.0, 8.0, 10.0, 12.0],
            },
        ],
    }


def test_outputs_subset_and_no_id(sum_server: ServerProcess) -> None:
    body = check(infer(sum_server, {"inputs": [x_input(ROWS)], "outputs": [{"name": "sum"}]}))
    assert "id" not in body and [o["name"] for o in body["outputs"]] == ["sum"]


def test_metadata_and_health(sum_server: ServerProcess) -> None:
    url = sum_server.url
    assert check(requests.get(url + "/v2", timeout=5))["extensions"] == ["binary_tensor_data"]
    assert check(requests.get(url + "/v2/health/live", timeout=5)) == {"live": True}
    assert check(requests.get(url + "/v2/health/ready", timeout=5)) == {"ready": True}
    ready = check(requests.get(url + "/v2/models/summer/ready", timeout=5))
    assert ready == {"name": "summer", "ready": True}
    meta = check(requests.get(url + "/v2/models/summer", timeout=5))
    assert meta == {
        "name": "summer",
        "platform": "python_score",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [
            {"name": "sum", "datatype": "FP32", "shape": [-1]},
            {"name": "double", "datatype": "FP32", "shape": [-1, 3]},
        ],
    }
    head = requests.head(url + "/v2/models/summer", timeout=5)
    assert head.status_code == 200 and head.content == b""


def test_version_path(echo_server: ServerProcess) -> None:
    body = {"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["a", "bé"]}]}
    for path in ("/v2/models/echo/infer", "/v2/models/echo/versions/3/infer"):
        out = check(infer(echo_server, body, path))
        assert out["model_version"] == "3"
        assert out["outputs"] == [
            {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a", "bé"]}
        ]
    missing = check(infer(echo_server, body, "/v2/models/echo/versions/4/infer"))
    assert "no version 4" in missing["error"]
    assert check(requests.get(echo_server.url + "/v2/models/echo/versions/3", timeout=5))[
        "versions"
    ] == ["3"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": [x_input(ROWS, [3, 3])]}, r"shape \[3, 3\] holds 9 elements but 'data' has 6"),
        ({"inputs": [x_input([[1.0, 2.0], [3.0]])]}, "ragged"),
        ({"inputs": [x_input(ROWS, datatype="FP16")]}, "FP16 cannot be sent as JSON"),
        ({"inputs": [x_input(ROWS, datatype="INT8")]}, "must hold INT8 values"),
        ({"inputs": [x_input([[1, 2, 3], [4, 5, 300]], datatype="UINT8")]}, "UINT8"),
        ({"inputs": [x_input(ROWS, datatype="FLOAT")]}, "datatype 'FLOAT' is not one of"),
        ({"inputs": [x_input(ROWS, [2, -3])]}, "non-negative integers"),
        ({"inputs": []}, "non-empty list"),
        ({"inputs": [{**x_input(ROWS), "name": "y"}]}, "unknown input y"),
        ({"inputs": [x_input([[1.0, 2.0]], [1, 2])]}, r"shape \[1, 2\] does not fit \[-1, 3\]"),
        (
            {"inputs": [x_input(["a"] * 6, datatype="BYTES")]},
            "datatype BYTES; the model takes FP32",
        ),
        ({"inputs": [x_input(ROWS)], "outputs": [{"name": "max"}]}, "unknown output max"),
        ({"inputs": [x_input(ROWS)], "id": 7}, "'id' must be a string"),
    ],
)
def test_bad_requests_are_400(sum_server: ServerProcess, body: Any, message: str) -> None:
    response = infer(sum_server, body)
    assert response.status_code == 400, response.text
    assert re.search(message, check(response)["error"])


def test_bad_json_is_400(sum_server: ServerProcess) -> None:
    response = requests.post(sum_server.url + "/v2/models/summer/infer", data=b"{", timeout=5)
    assert response.status_code == 400 and "not valid JSON" in check(response)["error"]


def test_binary_extension_by_hand(sum_server: ServerProcess) -> None:
    x = np.array(ROWS, dtype=np.float32)
    header = json.dumps(
        {
            "inputs": [{**x_input(None), "parameters": {"binary_data_size": x.nbytes}}],
            "outputs": [{"name": "sum", "parameters": {"binary_data": True}}, {"name": "double"}],
        }
    ).encode()
    headers = {"Inference-Header-Content-Length": str(len(header))}
    url = sum_server.url + "/v2/models/summer/infer"
    response = requests.post(url, data=header + x.tobytes(), headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/octet-stream"
    length = int(response.headers["Inference-Header-Content-Length"])
    meta = json.loads(response.content[:length])
    assert meta["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert meta["outputs"][1]["data"] == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    assert np.frombuffer(response.content[length:], dtype="<f4").tolist() == [6.0, 15.0]
    short = requests.post(url, data=header + x.tobytes()[:-4], headers=headers, timeout=5)
    assert short.status_code == 400 and "does not fit the body" in short.json()["error"]
    extra = requests.post(url, data=header + x.tobytes() + b"!", headers=headers, timeout=5)
    assert extra.status_code == 400 and "belong to no input" in extra.json()["error"]


def test_unknown_model_route_and_method(sum_server: ServerProcess) -> None:
    url = sum_server.url
    unknown = requests.post(url + "/v2/models/other/infer", json={"inputs": []}, timeout=5)
    assert unknown.status_code == 404 and "Model other not found" in check(unknown)["error"]
    assert requests.get(url + "/v2/models/summer/stats", timeout=5).status_code == 404
    get = requests.get(url + "/v2/models/summer/infer", timeout=5)
    assert get.status_code == 405 and get.headers["Allow"] == "OPTIONS, POST"
    assert "error" in get.json()
    post = requests.post(url + "/v2/models/summer", timeout=5)
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_headers_ids_and_metrics_as_score(sum_server: ServerProcess) -> None:
    response = infer(sum_server, {"inputs": [x_input(ROWS)]})
    assert response.headers["x-request-id"] and response.headers["x-serving-replica"] == "replica-1"
    assert float(response.headers["x-ms-run-fn-exec-ms"]) >= 0
    mine = requests.post(
        sum_server.url + "/v2/models/summer/infer",
        json={"inputs": [x_input(ROWS)]},
        headers={"x-request-id": "my-id"},
        timeout=5,
    )
    assert mine.headers["x-request-id"] == "my-id"
    metrics = requests.get(sum_server.url + "/metrics", timeout=5).text
    assert 'route="/v2/models/{model}/infer"' in metrics
    assert '"route": "/v2/models/{model}/infer"' in sum_server.log()


def test_a_body_over_the_limit_is_413(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.server.conftest import start_server

    server = start_server(
        tmp_path_factory.mktemp("small"),
        SCRIPTS / "v2_sum.py",
        extra_env={"SERVICE_NAME": "summer", "SERVING_MAX_BODY_BYTES": "100"},
    )
    try:
        # the worker answers from Content-Length before the request reaches /v2's code, in
        # the server's shape ({"message"}); the handler's own check ({"error"}) is a backstop
        response = infer(server, {"inputs": [x_input(ROWS)], "pad": "x" * 200})
        assert response.status_code == 413 and "limit of 100 bytes" in response.text
    finally:
        server.stop()


def test_keys(keyed_server: ServerProcess) -> None:
    url = keyed_server.url
    body = {"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}]}
    denied = requests.post(url + "/v2/models/echo/infer", json=body, timeout=5)
    assert denied.status_code == 401 and denied.headers["WWW-Authenticate"] == "Bearer"
    assert "error" in denied.json()
    assert requests.get(url + "/v2/models/echo", timeout=5).status_code == 401
    assert requests.get(url + "/v2", timeout=5).status_code == 401
    assert requests.get(url + "/v2/health/live", timeout=5).status_code == 200
    assert requests.get(url + "/v2/health/ready", timeout=5).status_code == 200
    auth = {"Authorization": f"Bearer {KEY}"}
    allowed = requests.post(url + "/v2/models/echo/infer", json=body, headers=auth, timeout=5)
    assert check(allowed)["outputs"][0]["data"] == [1]


def test_a_plain_score_py_has_no_v2(plain_server: ServerProcess) -> None:
    for path in ("/v2", "/v2/health/live", "/v2/models/x/infer"):
        response = requests.get(plain_server.url + path, timeout=5)
        assert response.status_code == 404 and "defines no run_v2" in check(response)["error"]
    assert requests.post(plain_server.url + "/score", data="{}", timeout=5).status_code == 200

"""In-process checks: readiness before init() (503 with a body), the run_v2 declarations a
server refuses at start, the no-code swagger input, and V2 path parsing."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from serving.scoring import Scorer, ScriptLoadError
from serving.scoring.tensors import TensorSpec
from serving.server.app import create_app
from serving.server.swagger import build_swagger, nocode_input
from serving.server.v2 import parse_route
from tests.inprocess import settings_for
from tests.v2.conftest import SCRIPTS

BODY = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}


def test_before_init_the_model_is_not_ready() -> None:
    settings = settings_for("v2_sum.py", app_root=SCRIPTS, service_name="summer")
    scorer = Scorer.from_settings(settings)
    client = create_app(settings, scorer).test_client()
    for path in ("/v2/health/ready", "/v2/models/summer/ready"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.json is not None and response.json["ready"] is False
        assert "init()" in response.json["error"]
    assert client.get("/v2/health/live").status_code == 200
    infer = client.post("/v2/models/summer/infer", json=BODY)
    assert infer.status_code == 503 and "not ready" in infer.json["error"]  # type: ignore[index]
    scorer.initialize()
    assert client.post("/v2/models/summer/infer", json=BODY).json["outputs"][0]["data"] == [6.0]  # type: ignore[index]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("run_v2 = 3", "run_v2 is not a function"),
        ("def run_v2(a, b): pass", "must take one argument"),
        ("def run_v2(x): pass\nV2_INPUTS = {'name': 'x'}", "must be a list of dicts"),
        (
            "def run_v2(x): pass\nV2_INPUTS = [{'name': 'x', 'datatype': 'F32', 'shape': [1]}]",
            "datatype 'F32'",
        ),
        (
            "def run_v2(x): pass\nV2_OUTPUTS = [{'name': 'y', 'datatype': 'FP32', 'shape': [-2]}]",
            "'shape' of ints",
        ),
        (
            "def run_v2(x): pass\nV2_INPUTS = [{'name': 'x', 'datatype': 'FP32', 'shape': []}] * 2",
            "declared twice",
        ),
        (
            "def run_v2(x): pass\nV2_INPUTS = [{'name': 'x', 'dtype': 'FP32', 'shape': []}]",
            "not a dict of name",
        ),
    ],
)
def test_bad_run_v2_scripts_stop_the_start(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "score.py").write_text(f"def init(): pass\ndef run(data): pass\n{source}\n")
    with pytest.raises(ScriptLoadError, match=message):
        Scorer.from_settings(settings_for("score.py", app_root=tmp_path))


def test_names_and_versions_come_from_the_settings() -> None:
    settings = settings_for("v2_echo.py", app_root=SCRIPTS, model_name="m", model_version="2")
    model = Scorer.from_settings(settings).tensor_model
    assert model is not None and (model.name, model.version, model.inputs) == ("m", "2", ())
    plain = settings_for("v2_sum.py", app_root=SCRIPTS, service_name="svc")
    model = Scorer.from_settings(plain).tensor_model
    assert model is not None and (model.name, model.version) == ("svc", "")
    assert model.inputs == (TensorSpec("x", "FP32", (-1, 3)),)


@pytest.mark.parametrize(
    ("spec", "example"),
    [
        (TensorSpec("x", "FP32", (-1, 4)), {"data": [[0.0, 0.0, 0.0, 0.0]]}),
        (TensorSpec("x", "INT64", (-1,)), {"data": [0]}),
        (TensorSpec("x", "BYTES", (-1, -1)), {"data": [[""]]}),
        (TensorSpec("x", "BOOL", (-1, 2, 1)), {"data": [[[False], [False]]]}),
    ],
)
def test_the_nocode_swagger_example_is_a_valid_request(spec: TensorSpec, example: object) -> None:
    schema = nocode_input(spec)
    assert schema["example"] == example
    jsonschema.validate(example, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"data": [[0.0] * 5]} if spec.shape == (-1, 4) else {}, schema)


def test_the_nocode_swagger_document(tmp_path: Path) -> None:
    docs = build_swagger(
        lambda data: None,
        tmp_path,
        title="digits",
        service_version="1",
        path_prefix="",
        tensor_inputs=(TensorSpec("float_input", "FP32", (-1, 64)),),
    )
    doc = docs.get("3")
    service_in = doc["components"]["schemas"]["ServiceInput"]
    assert service_in["example"] == {"data": [[0.0] * 64]}
    assert docs.get("2")["definitions"]["ServiceInput"] == service_in


@pytest.mark.parametrize(
    ("path", "kind", "label", "model", "version"),
    [
        ("/v2", "server", "/v2", "", None),
        ("/v2/", "server", "/v2", "", None),
        ("/v2/health/ready", "ready", "/v2/health/ready", "", None),
        ("/v2/models/m", "model", "/v2/models/{model}", "m", None),
        ("/v2/models/m/versions/2", "model", "/v2/models/{model}", "m", "2"),
        ("/v2/models/m/versions/2/infer", "infer", "/v2/models/{model}/infer", "m", "2"),
        ("/v2/models/m/ready", "model_ready", "/v2/models/{model}/ready", "m", None),
        ("/v2/models/m/stats", "unknown", "<unmatched>", "", None),
        ("/v2/models//infer", "unknown", "<unmatched>", "", None),
        ("/v2/models/m/infer/x", "unknown", "<unmatched>", "", None),
    ],
)
def test_parse_route(path: str, kind: str, label: str, model: str, version: str | None) -> None:
    route = parse_route(path)
    assert (route.kind, route.label, route.model, route.version) == (kind, label, model, version)

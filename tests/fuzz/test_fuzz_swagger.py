"""The generated swagger documents describe what the server does: auth only with keys,
required run() parameters, real content types; schemathesis agrees (in-process, WSGI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from inference_schema.schema_util import get_input_schema

from serving.scoring import Scorer, install_compat_path, load_entry_script
from serving.server.app import create_app
from serving.server.swagger import build_swagger
from tests.fuzz.conftest import FUZZ_SCRIPTS
from tests.fuzz.fuzzing import fuzz_schema, header
from tests.helpers import FIXTURES
from tests.inprocess import settings_for

KEY = "fuzz-key-1"


def _docs(folder: Path, script: str, *, auth: bool) -> dict[str, dict[str, Any]]:
    install_compat_path()
    run = load_entry_script(folder, script).run
    built = build_swagger(run, folder, title="t", service_version="1", path_prefix="", auth=auth)
    return {version: built.get(version) for version in built.versions}


def _operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, ops in doc["paths"].items() for m, op in ops.items()}


@pytest.mark.parametrize("script", ["schema_decorated.py", "ok.py"])
def test_no_auth_declared_without_keys(script: str) -> None:
    for version, doc in _docs(FIXTURES, script, auth=False).items():
        assert "securityDefinitions" not in doc and "security" not in doc, version
        assert "securitySchemes" not in doc.get("components", {}), version
        for name, op in _operations(doc).items():
            assert "security" not in op and "401" not in op["responses"], (version, name)


def test_bearer_on_the_protected_operations_with_keys() -> None:
    docs = _docs(FIXTURES, "schema_decorated.py", auth=True)
    assert docs["2"]["securityDefinitions"]["Bearer"]["in"] == "header"
    assert docs["3"]["components"]["securitySchemes"]["Bearer"]["name"] == "Authorization"
    for version, doc in docs.items():
        assert "security" not in doc, version  # not global: the health check is open
        ops = _operations(doc)
        for name in ("POST /score", "GET /swagger.json"):
            assert ops[name]["security"] == [{"Bearer": []}], (version, name)
            assert "401" in ops[name]["responses"], (version, name)
        assert "security" not in ops["GET /"], version


def test_parameters_without_default_are_required() -> None:
    docs = _docs(FIXTURES, "schema_decorated.py", auth=False)
    assert docs["2"]["definitions"]["ServiceInput"]["required"] == ["data"]  # factor=1.0
    assert docs["3"]["components"]["schemas"]["ServiceInput"]["required"] == ["data"]
    typed = _docs(FUZZ_SCRIPTS, "schema_types.py", auth=False)["3"]
    assert typed["components"]["schemas"]["ServiceInput"]["required"] == ["matrix", "options"]
    # inference-schema's own registry entry is left as it was
    run = load_entry_script(FUZZ_SCRIPTS, "schema_types.py").run
    assert "required" not in get_input_schema(run)


def test_swagger_operation_lists_the_versions_it_serves() -> None:
    doc = _docs(FIXTURES, "schema_decorated.py", auth=False)["3"]
    op = _operations(doc)["GET /swagger.json"]
    assert op["parameters"][0]["schema"]["enum"] == ["2", "2.0", "3", "3.0", "3.1"]
    assert "application/json" in op["responses"]["200"]["content"]


def _app(script: str, **overrides: Any) -> Flask:
    settings = settings_for(script, **overrides)
    scorer = Scorer.from_settings(settings)
    scorer.initialize()
    return create_app(settings, scorer)


@pytest.mark.parametrize("version", ["2", "3"])
@pytest.mark.parametrize("auth", [False, True])
def test_schemathesis_in_process(version: str, auth: bool) -> None:
    overrides: dict[str, Any] = {"keys": (KEY,), "auth": "key"} if auth else {}
    app = _app("schema_decorated.py", **overrides)
    headers = {"Authorization": f"Bearer {KEY}"} if auth else {}
    schema = schemathesis.openapi.from_wsgi(
        f"/swagger.json?version={version}", app, headers=headers
    )
    report = fuzz_schema(schema, max_examples=40, call=lambda case: case.call(headers=headers))
    print("\n" + report.line(f"wsgi swagger {version} auth={auth}"))
    assert set(report.cases) == {"GET /", "POST /score", "GET /swagger.json"}
    assert report.statuses[200] > 0 and report.statuses[400] > 0
    if auth:  # the documented 401, for every protected operation
        for case_op in ("POST /score", "GET /swagger.json"):
            method, path = case_op.split()
            response = app.test_client().open(path, method=method, json={"data": [[1, 2, 3]]})
            assert response.status_code == 401 and response.is_json
            assert "401" in _operations(schema.raw_schema)[case_op]["responses"]


def test_deep_json_through_the_app() -> None:
    client = _app("schema_decorated.py").test_client()
    response = client.post("/score", data=b"[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {
        "message": "POST body could not be decoded as JSON: JSON is nested too deeply"
    }
    assert header(response, "x-ms-run-function-failed") == "False"


def test_settings_auth_reaches_the_document() -> None:
    keyed = _app("ok.py", keys=(KEY,), auth="key").test_client()
    doc = keyed.get("/swagger.json", headers={"Authorization": f"Bearer {KEY}"}).get_json()
    assert "securityDefinitions" in doc
    open_doc = _app("ok.py", auth="none").test_client().get("/swagger.json").get_json()
    assert "securityDefinitions" not in open_doc

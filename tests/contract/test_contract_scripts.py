"""The contract per kind of entry script, through the in-process app on an Azure app folder:
result encoding, schema-decorated and @rawhttp scripts, the azureml shims, model paths for
one and several models, keys, and a real scikit-learn model. (These ran on a gunicorn each
before; what needs a process stays in tests/server/test_server_process.py.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.datasets import load_digits

from serving.scoring import ModelFiles
from tests.inprocess import ClientFor


@pytest.mark.parametrize(
    ("script", "body", "expected"),
    [
        ("returns_numpy.py", "array", [[0, 1, 2], [3, 4, 5]]),
        ("returns_none.py", "x", {}),
        ("returns_str.py", "x", "hello"),
    ],
)
def test_result_encoding(client_for: ClientFor, script: str, body: str, expected: Any) -> None:
    response = client_for(script).post("/score", data=body)
    assert response.status_code == 200
    assert response.get_json() == expected


def test_schema_decorated(client_for: ClientFor) -> None:
    client = client_for("schema_decorated.py")
    good = client.post("/score", json={"data": [[1, 2, 3]], "factor": 10})
    assert good.get_json() == [60.0]
    missing = client.post("/score", json={"factor": 1})
    assert missing.status_code == 400
    assert missing.get_json() == {"message": "A value is not provided for the 'data' parameter."}
    wrong_type = client.post(
        "/score", data='{"data": [[1, 2, 3]]}', headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.get_json() == {"message": "Expects Content-Type to be application/json"}
    swagger2 = client.get("/swagger.json?version=2").get_json()
    assert swagger2["swagger"] == "2.0"
    assert "data" in swagger2["definitions"]["ServiceInput"]["properties"]
    swagger3 = client.get("/swagger.json?version=3").get_json()
    assert swagger3["openapi"].startswith("3.0")
    assert "data" in swagger3["components"]["schemas"]["ServiceInput"]["properties"]


def test_rawhttp(client_for: ClientFor) -> None:
    client = client_for("raw_http.py")
    response = client.post("/score", data=b"hello")
    assert response.status_code == 201
    assert response.get_data() == b"olleh"
    assert response.headers.getlist("x-custom") == ["a", "b"]  # two headers
    assert client.get("/score?k=v").get_json() == {"method": "GET", "args": {"k": "v"}}


def test_azure_shims(client_for: ClientFor) -> None:
    assert (
        len(client_for("azure_shims.py").post("/score", data="1").get_json()["correlation"]) == 36
    )


def _text_model(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_get_model_path(app_client_for: ClientFor, tmp_path: Path) -> None:
    models = [
        ModelFiles("echo-model", 1, _text_model(tmp_path / "v1", "model.txt", "first")),
        ModelFiles("echo-model", 2, _text_model(tmp_path / "v2", "model.txt", "second")),
    ]
    result = app_client_for("model_path.py", models=models).post("/score", data="1").get_json()
    assert result["model_text"] == "second"
    assert result["path"].endswith("azureml-models/echo-model/2/model.txt")
    assert result["model_dir"].endswith("azureml-models")


def test_multi_model(app_client_for: ClientFor, tmp_path: Path) -> None:
    models = [
        ModelFiles("model-a", 1, _text_model(tmp_path / "a", "a.txt", "A")),
        ModelFiles("model-b", 1, _text_model(tmp_path / "b1", "b.txt", "B1")),
        ModelFiles("model-b", 2, _text_model(tmp_path / "b2", "b.txt", "B2")),
    ]
    assert app_client_for("multi_model.py", models=models).post("/score", data="1").get_json() == {
        "a": "A",
        "b1": "B1",
        "b_latest": "B2",
        "b_from_dir": "B2",
    }


def test_one_model_dir_is_its_version_folder(app_client_for: ClientFor, tmp_path: Path) -> None:
    models = [ModelFiles("echo-model", 5, _text_model(tmp_path / "m", "model.txt", "only"))]
    result = app_client_for("model_path.py", models=models).post("/score", data="1").get_json()
    assert result["model_dir"].endswith("azureml-models/echo-model/5")


def test_key_auth(client_for: ClientFor) -> None:
    client = client_for("ok.py", keys=("key-one", "key-two"), auth="key")
    assert client.post("/score", data="1").status_code == 401
    assert (
        client.post("/score", data="1", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    for key in ("key-one", "key-two"):
        ok = client.post("/score", data="1", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
    for path in ("/", "/health/ready", "/metrics"):
        assert client.get(path).status_code == 200


def test_sklearn_digits(app_client_for: ClientFor, digits_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "digits" / "model.joblib"
    path.parent.mkdir()
    os.link(digits_model, path)  # the script loads model.joblib
    model = joblib.load(path)
    x, _ = load_digits(return_X_y=True)
    client = app_client_for("sklearn_digits.py", models=[ModelFiles("digits", 1, path)])
    rows = x[:5]
    response = client.post("/score", json={"data": rows.tolist()})
    assert response.status_code == 200
    assert response.get_json() == model.predict(rows).tolist()

"""No-code deployments on the local target, end to end: ONNX, scikit-learn and TensorFlow
models deployed without an entry script (real venvs, real gunicorn servers) answer
``/score`` with ``data`` and ``input_data`` bodies as the original models predict, refuse
bad bodies with 400 JSON and missing keys with 401, and have metrics and health."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from serving.workspace import Workspace
from tests.fastpath.nocode_models import Digits, infer_v2, make_digits, make_keras, post
from tests.helpers import Cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    return make_digits(tmp_path_factory.mktemp("digits"))


@pytest.fixture(autouse=True)
def _shared(shared_envs: Path) -> None:
    """Venvs of the built-in environments are built once a session."""


@pytest.fixture(autouse=True)
def _cleanup(cli: Cli) -> Iterator[None]:
    """Every endpoint a test leaves (a failed assertion) is deleted: no server outlives it."""
    yield
    listed = cli("endpoints", "list", "-o", "json").json()
    for endpoint in listed if isinstance(listed, list) else []:
        cli("endpoints", "delete", endpoint["name"])


def _deploy(cli: Cli, name: str, model: str, *extra: str) -> dict[str, object]:
    result = cli("deploy", name, "--model", model, "-o", "json", *extra)
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    return data


def _check_scoring(data: dict[str, object], digits: Digits, key: str | None) -> None:
    uri = str(data["scoring_uri"])
    rows = digits.x[:5].tolist()
    answer = post(uri, {"data": rows}, key)
    assert answer.status_code == 200, answer.text
    assert answer.json() == digits.expected(5)
    assert answer.headers["x-ms-run-function-failed"] == "False"
    split = {"input_data": {"columns": list(range(64)), "index": [0, 1], "data": rows[:2]}}
    assert post(uri, split, key).json() == digits.expected(2)
    assert post(uri, {"input_data": rows[:3]}, key).json() == digits.expected(3)
    assert post(uri, {"data": rows[0]}, key).json() == digits.expected(1)  # one row alone
    for bad in ({"rows": rows}, {"data": [[1.0, 2.0]]}, {"data": [["x"] * 64]}, b"not json"):
        refused = post(uri, bad, key)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.headers["Content-Type"] == "application/json"
        assert refused.json()["message"]


def test_onnx_no_code_with_auth_metrics_health_and_update(
    cli: Cli, ws_path: Path, digits: Digits
) -> None:
    assert cli("models", "register", digits.onnx, "--name", "digits-onnx").code == 0
    data = _deploy(cli, "nc-onnx", "digits-onnx", "--auth")
    keys = data["keys"]
    assert isinstance(keys, list) and len(keys) == 2
    _check_scoring(data, digits, keys[0])
    uri = str(data["scoring_uri"])
    v2 = infer_v2(uri, "digits-onnx", digits.x[:5], keys[0])
    assert all(a.ravel().tolist() == digits.expected(5) for a in v2["label"])
    base = uri.rsplit("/", 1)[0]
    assert post(uri, {"data": digits.x[:1].tolist()}).status_code == 401
    swagger = requests.get(f"{base}/swagger.json", headers={"Authorization": f"Bearer {keys[0]}"})
    assert swagger.status_code == 200
    assert requests.get(f"{base}/health/ready", timeout=10).status_code == 200
    metrics = requests.get(f"{base}/metrics", timeout=10).text
    assert "score" in metrics
    record = Workspace.open(ws_path).endpoints.get("nc-onnx")
    assert record.spec["nocode"] == "onnx" and record.spec["entry_script"] is None
    assert record.spec["env"]["name"] == "nocode-onnx"
    # a new version of the model: update keeps the no-code scorer and the keys
    assert cli("models", "register", digits.onnx, "--name", "digits-onnx").code == 0
    updated = cli("endpoints", "update", "nc-onnx", "--model", "digits-onnx:2", "-o", "json")
    assert updated.code == 0, updated.err
    assert post(uri, {"data": digits.x[:2].tolist()}, keys[0]).json() == digits.expected(2)
    shown = cli("endpoints", "show", "nc-onnx", "-o", "json").json()
    assert isinstance(shown, dict) and shown["state"] == "Healthy"
    assert cli("endpoints", "delete", "nc-onnx").code == 0


def test_sklearn_no_code(cli: Cli, digits: Digits) -> None:
    assert cli("models", "register", digits.pickle, "--name", "digits-skl").code == 0
    data = _deploy(cli, "nc-skl", "digits-skl")
    _check_scoring(data, digits, None)
    v2 = infer_v2(str(data["scoring_uri"]), "digits-skl", digits.x[:5])
    assert all(a.ravel().tolist() == digits.expected(5) for a in v2["predict"])
    assert cli("endpoints", "delete", "nc-skl").code == 0


def test_tensorflow_no_code(cli: Cli, tmp_path: Path) -> None:
    saved, rows, expected = make_keras(tmp_path)
    assert cli("models", "register", saved, "--name", "dense-tf").code == 0
    data = _deploy(cli, "nc-tf", "dense-tf")
    uri = str(data["scoring_uri"])
    answer = post(uri, {"data": rows.tolist()})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json(), expected, atol=1e-5)
    assert post(uri, {"data": [[1.0, 2.0]]}).status_code == 400
    for answers in infer_v2(uri, "dense-tf", rows).values():
        for answer in answers:
            np.testing.assert_allclose(answer, expected, atol=1e-5)
    assert cli("endpoints", "delete", "nc-tf").code == 0


def test_no_code_needs_one_model_of_a_served_framework(
    cli: Cli, digits: Digits, tmp_path: Path
) -> None:
    other = tmp_path / "weights.bin"
    other.write_bytes(b"\0" * 10)
    assert cli("models", "register", other, "--name", "custom").code == 0
    assert cli("models", "register", digits.onnx, "--name", "digits-onnx").code == 0
    custom = cli("deploy", "nc-x", "--model", "custom")
    assert custom.code != 0 and "framework 'custom'" in custom.err
    assert len(custom.err.strip().splitlines()) <= 2
    two = cli("deploy", "nc-x", "--model", "custom", "--model", "digits-onnx")
    assert two.code != 0 and "exactly one model" in two.err
    script_without_env = cli("deploy", "nc-x", "--model", "digits-onnx", "--entry-script", "x.py")
    assert script_without_env.code != 0
    assert cli("endpoints", "list", "-o", "json").json() == []


def test_sdk_model_deploy_without_inference_config(
    digits: Digits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.sdk import Model
    from serving.sdk import Workspace as SdkWorkspace

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERVING_WORKSPACE", raising=False)
    ws = SdkWorkspace.create(name="nocode", exist_ok=True, show_output=False)
    model = Model.register(ws, str(digits.onnx), "digits-onnx")
    service = Model.deploy(ws, "nc-sdk", [model])
    try:
        assert service.run(json.dumps({"data": digits.x[:3].tolist()})) == digits.expected(3)
    finally:
        service.delete()


def test_batching_flags_reach_the_deployed_server(cli: Cli, ws_path: Path, digits: Digits) -> None:
    """``--max-batch-size``/``--max-batch-delay-ms`` are recorded with the endpoint and its
    server gathers concurrent requests into shared model calls (``serving_batch_size``)."""
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client.parser import text_string_to_metric_families

    assert cli("models", "register", digits.onnx, "--name", "digits-onnx").code == 0
    data = _deploy(
        cli, "nc-batch", "digits-onnx", "--workers", "1",
        "--max-batch-size", "8", "--max-batch-delay-ms", "200",
    )  # fmt: skip
    record = Workspace.open(ws_path).endpoints.get("nc-batch")
    assert record.spec["deployment"]["max_batch_size"] == 8
    uri = str(data["scoring_uri"])
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda i: post(uri, {"data": digits.x[i : i + 1].tolist()}), range(8))
        )
    assert [a.json() for a in answers] == [[p] for p in digits.expected(8)]
    text = requests.get(uri.rsplit("/", 1)[0] + "/metrics", timeout=10).text
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in ("serving_batch_size_count", "serving_batch_size_sum")
    }
    assert samples["serving_batch_size_sum"] == 8
    assert samples["serving_batch_size_count"] < 8  # some calls served several requests
    assert cli("endpoints", "delete", "nc-batch").code == 0

"""No-code deployments on the docker target: the ONNX digits model and the scikit-learn one
deployed without an entry script run in real containers (the ONNX one on the slim ``onnx``
flavour) and answer ``/score`` like the original models; the ONNX image stays small."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from serving.workspace import Workspace
from tests.fastpath.nocode_models import Digits, infer_v2, make_digits, make_keras, post
from tests.helpers import DOCKER_TIMEOUT, Cli, remove_workspace_debris

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]

ONNX_IMAGE_LIMIT = 170 * 10**6
"""The no-code ONNX digits image's size limit (bytes, as ``docker image ls`` counts)."""


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    return make_digits(tmp_path_factory.mktemp("digits"))


@pytest.fixture(autouse=True)
def _cleanup(engine: object, ws_path: Path) -> Iterator[None]:
    yield
    remove_workspace_debris(engine, ws_path, "nc-")  # type: ignore[arg-type]


def _deploy(cli: Cli, name: str, model: str, *extra: str) -> dict[str, object]:
    result = cli("deploy", name, "--model", model, "--target", "docker", "-o", "json", *extra)
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    return data


def test_onnx_no_code_in_docker(cli: Cli, ws_path: Path, digits: Digits) -> None:
    assert cli("models", "register", digits.onnx, "--name", "digits-onnx").code == 0
    data = _deploy(cli, "nc-onnx", "digits-onnx", "--auth", "--workers", "1")
    keys = data["keys"]
    assert isinstance(keys, list)
    uri = str(data["scoring_uri"])
    rows = digits.x[:4].tolist()
    answer = post(uri, {"data": rows}, keys[0])
    assert answer.status_code == 200, answer.text
    assert answer.json() == digits.expected(4)
    assert post(uri, {"input_data": rows[:2]}, keys[0]).json() == digits.expected(2)
    refused = post(uri, {"data": [[1, 2, 3]]}, keys[0])
    assert refused.status_code == 400 and "expected shape" in refused.json()["message"]
    assert post(uri, {"data": rows}).status_code == 401
    v2 = infer_v2(uri, "digits-onnx", digits.x[:4], keys[0])
    assert all(a.ravel().tolist() == digits.expected(4) for a in v2["label"])
    base = uri.rsplit("/", 1)[0]
    assert requests.get(f"{base}/health/ready", timeout=10).status_code == 200
    assert "score" in requests.get(f"{base}/metrics", timeout=10).text
    images = Workspace.open(ws_path).images.list()
    image = next(i for i in images if i.name == "serving/nc-onnx")
    assert image.flavour == "onnx"
    assert image.size_bytes <= ONNX_IMAGE_LIMIT, f"{image.size_bytes / 1e6:.0f} MB"
    assert cli("endpoints", "delete", "nc-onnx").code == 0


def test_sklearn_no_code_in_docker(cli: Cli, digits: Digits) -> None:
    assert cli("models", "register", digits.pickle, "--name", "digits-skl").code == 0
    data = _deploy(cli, "nc-skl", "digits-skl", "--workers", "1")
    uri = str(data["scoring_uri"])
    answer = post(uri, {"data": digits.x[:3].tolist()})
    assert answer.status_code == 200, answer.text
    assert answer.json() == digits.expected(3)
    assert post(uri, {"nothing": 1}).status_code == 400
    v2 = infer_v2(uri, "digits-skl", digits.x[:3])
    assert all(a.ravel().tolist() == digits.expected(3) for a in v2["predict"])
    assert cli("endpoints", "delete", "nc-skl").code == 0


def test_tensorflow_no_code_in_docker(cli: Cli, tmp_path: Path) -> None:
    saved, rows, expected = make_keras(tmp_path)
    assert cli("models", "register", saved, "--name", "dense-tf").code == 0
    data = _deploy(cli, "nc-tf", "dense-tf", "--workers", "1")
    uri = str(data["scoring_uri"])
    answer = post(uri, {"data": rows.tolist()})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json(), expected, atol=1e-5)
    for answers in infer_v2(uri, "dense-tf", rows).values():
        for got in answers:
            np.testing.assert_allclose(got, expected, atol=1e-5)
    assert cli("endpoints", "delete", "nc-tf").code == 0


def test_onnx_no_code_on_the_cluster_target(cli: Cli, digits: Digits) -> None:
    """Two replicas behind the balancer, with batching on: /score and V2 through one URI."""
    assert cli("models", "register", digits.onnx, "--name", "digits-onnx").code == 0
    data = _deploy(
        cli,
        "nc-cluster",
        "digits-onnx",
        "--target",
        "cluster",
        "--replicas",
        "2",
        "--workers",
        "1",
        "--max-batch-size",
        "4",
        "--max-batch-delay-ms",
        "2",
    )  # fmt: skip  (the last --target wins)
    keys = data["keys"]
    assert isinstance(keys, list)
    uri = str(data["scoring_uri"])
    replicas = set()
    for i in range(6):
        answer = post(uri, {"data": digits.x[i : i + 2].tolist()}, keys[0])
        assert answer.status_code == 200, answer.text
        assert answer.json() == [int(v) for v in digits.estimator.predict(digits.x[i : i + 2])]
        replicas.add(answer.headers["x-serving-replica"])
    assert len(replicas) == 2
    assert post(uri, {"data": digits.x[:1].tolist()}).status_code == 401
    v2 = infer_v2(uri, "digits-onnx", digits.x[:4], keys[0])
    assert all(a.ravel().tolist() == digits.expected(4) for a in v2["label"])
    assert cli("endpoints", "delete", "nc-cluster").code == 0


SCORE_PY = """
import json
import os

import numpy as np
import onnxruntime as ort


def init():
    global session
    root = os.environ["AZUREML_MODEL_DIR"]
    path = next(os.path.join(r, f) for r, _, fs in os.walk(root) for f in fs if f.endswith(".onnx"))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def run(raw):
    rows = np.asarray(json.loads(raw)["data"], dtype=np.float32)
    return session.run(["label"], {session.get_inputs()[0].name: rows})[0].tolist()
"""


def test_score_py_still_runs_on_the_slim_onnx_flavour(
    cli: Cli, digits: Digits, tmp_path: Path
) -> None:
    """The flavour's trimming (sourceless packages, no test modules) breaks no score.py."""
    (tmp_path / "score.py").write_text(SCORE_PY)
    (tmp_path / "requirements.txt").write_text("numpy\nonnxruntime\n")
    assert cli("models", "register", digits.onnx, "--name", "digits-onnx").code == 0
    data = _deploy(
        cli,
        "nc-script",
        "digits-onnx",
        "--entry-script",
        str(tmp_path / "score.py"),
        "--env",
        str(tmp_path / "requirements.txt"),
        "--workers",
        "1",
    )
    answer = post(str(data["scoring_uri"]), {"data": digits.x[:3].tolist()})
    assert answer.status_code == 200, answer.text
    assert answer.json() == digits.expected(3)
    assert cli("endpoints", "delete", "nc-script").code == 0

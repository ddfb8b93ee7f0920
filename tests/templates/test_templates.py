"""Each starter template trains, serves with the real server, and answers correctly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.helpers import ROOT

TEMPLATES = ROOT / "scoring_templates"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(template: str, model_dir: Path, log: Path) -> Iterator[str]:
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "serving",
        "serve",
        "--entry-script",
        str(TEMPLATES / template / "score.py"),
        "--model-dir",
        str(model_dir),
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"{template} server not ready: {log.read_text()[-2000:]}")
        yield f"{base}/score"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _post(uri: str, rows: list[list[float]]) -> object:
    resp = requests.post(
        uri,
        data=json.dumps({"data": rows}),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_sklearn_template(tmp_path: Path) -> None:
    import joblib
    from sklearn.datasets import load_digits

    model_dir = tmp_path / "model"
    subprocess.run(
        [
            sys.executable,
            str(TEMPLATES / "sklearn" / "train.py"),
            "--output",
            str(model_dir / "model.pkl"),
        ],
        check=True,
        capture_output=True,
    )
    x = load_digits().data[:20]
    expected = joblib.load(model_dir / "model.pkl").predict(x).tolist()
    for uri in _serve("sklearn", model_dir, tmp_path / "server.log"):
        assert _post(uri, x.tolist()) == expected
        sample = json.loads((TEMPLATES / "sklearn" / "sample-request.json").read_text())
        assert _post(uri, sample["data"]) == [0]
        # the schema decorator publishes a swagger example the load test can reuse
        swagger = requests.get(uri.replace("/score", "/swagger.json"), timeout=10).json()
        assert "ServiceInput" in swagger["definitions"]


def test_tensorflow_template(tmp_path: Path) -> None:
    import tensorflow as tf  # the dev extra installs tensorflow-cpu
    from sklearn.datasets import load_digits

    saved = tmp_path / "model" / "digits-savedmodel"
    subprocess.run(
        [
            sys.executable,
            str(TEMPLATES / "tensorflow" / "train.py"),
            "--output",
            str(saved),
            "--epochs",
            "5",
        ],
        check=True,
        capture_output=True,
    )
    x = load_digits().data[:20].astype("float32")
    serve = tf.saved_model.load(str(saved)).signatures["serving_default"]
    expected = next(iter(serve(tf.constant(x)).values())).numpy()
    for uri in _serve("tensorflow", tmp_path / "model", tmp_path / "server.log"):
        answer = _post(uri, x.tolist())
        assert isinstance(answer, dict)
        assert answer["predictions"] == expected.argmax(axis=1).tolist()
        assert np.allclose(answer["probabilities"], expected, atol=1e-3)

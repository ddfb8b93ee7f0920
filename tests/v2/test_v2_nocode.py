"""V2 on a no-code ONNX deployment started by the real CLI (``serving serve --model-dir``
without an entry script): tritonclient with binary and JSON tensors, metadata from the
ONNX graph, and the generated swagger's example posted to ``/score``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient

from tests.server.conftest import free_port
from tests.v2.openapi import check


@pytest.fixture(scope="module")
def nocode_url(
    tmp_path_factory: pytest.TempPathFactory, digits_onnx: tuple[Path, np.ndarray, np.ndarray]
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("nocode-model")
    (folder / "digits.onnx").write_bytes(digits_onnx[0].read_bytes())
    port = free_port()
    log = (tmp_path_factory.mktemp("nocode-log") / "server.log").open("wb")
    argv = [sys.executable, "-m", "serving", "serve", "--model-dir", str(folder)]
    argv += ["--model-name", "digits", "--port", str(port)]
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(url + "/health/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"no-code server did not start: {Path(log.name).read_text()}")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()


def test_nocode_onnx_over_v2(
    nocode_url: str, digits_onnx: tuple[Path, np.ndarray, np.ndarray]
) -> None:
    _, x, labels = digits_onnx
    meta = check(requests.get(nocode_url + "/v2/models/digits", timeout=5))
    assert meta["platform"] == "onnx_onnxv1" and len(meta["inputs"]) == 1
    name = meta["inputs"][0]["name"]
    assert meta["inputs"][0]["datatype"] == "FP32" and meta["inputs"][0]["shape"][-1] == 64
    c = httpclient.InferenceServerClient(nocode_url.removeprefix("http://"))
    assert c.is_server_ready() and c.is_model_ready("digits")
    for binary in (True, False):
        tensor = httpclient.InferInput(name, [5, 64], "FP32")
        tensor.set_data_from_numpy(x[:5], binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("label", binary_data=binary)]
        result = c.infer("digits", [tensor], outputs=outputs)
        assert np.array_equal(result.as_numpy("label"), labels[:5])


def test_the_swagger_example_is_a_valid_request(nocode_url: str) -> None:
    doc = requests.get(nocode_url + "/swagger.json?version=3", timeout=5).json()
    example = doc["components"]["schemas"]["ServiceInput"]["example"]
    assert example == {"data": [[0.0] * 64]}
    response = requests.post(nocode_url + "/score", json=example, timeout=5)
    assert response.status_code == 200, response.text

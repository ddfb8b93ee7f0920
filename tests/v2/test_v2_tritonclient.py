"""tritonclient.http (as its users call it) against real servers: health, metadata and
inference with binary tensors (its default) and JSON tensors, every datatype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.server.conftest import ServerProcess


def client(server: ServerProcess) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(server.url.removeprefix("http://"))


def test_health_and_metadata(echo_server: ServerProcess) -> None:
    c = client(echo_server)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("echo") and c.is_model_ready("echo", "3")
    assert not c.is_model_ready("echo", "4") and not c.is_model_ready("other")
    meta = c.get_server_metadata()
    assert meta["name"] == "serving" and "binary_tensor_data" in meta["extensions"]
    model = c.get_model_metadata("echo", "3")
    assert model == {
        "name": "echo",
        "versions": ["3"],
        "platform": "python_score",
        "inputs": [],
        "outputs": [],
    }
    with pytest.raises(InferenceServerException, match="not found"):
        c.get_model_metadata("other")


VALUES = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.array([[0, 7, 255]], dtype=np.uint8),
    "UINT16": np.array([[0, 7, 65535]], dtype=np.uint16),
    "UINT32": np.array([[0, 7, 2**32 - 1]], dtype=np.uint32),
    "UINT64": np.array([[0, 7, 2**64 - 1]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127]], dtype=np.int8),
    "INT16": np.array([[-(2**15), 0, 2**15 - 1]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1]], dtype=np.int64),
    "FP16": np.array([[0.5, -1.25, 65504.0]], dtype=np.float16),
    "FP32": np.array([[0.1, -1e30, 3.5]], dtype=np.float32),
    "FP64": np.array([[0.1, -1e300, 3.5]], dtype=np.float64),
    "BYTES": np.array([[b"a", "é".encode(), b""]], dtype=object),
}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", list(VALUES))
def test_every_datatype_round_trips(
    echo_server: ServerProcess, datatype: str, binary: bool
) -> None:
    array = VALUES[datatype]
    tensor = httpclient.InferInput("t", list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    wanted = [httpclient.InferRequestedOutput("t", binary_data=binary)]
    if datatype == "FP16" and not binary:
        with pytest.raises(InferenceServerException, match="FP16 cannot be sent as JSON"):
            client(echo_server).infer("echo", [tensor], outputs=wanted)
        return
    result = client(echo_server).infer("echo", [tensor], outputs=wanted, request_id="r-1")
    assert result.get_response()["id"] == "r-1"
    assert result.get_response()["model_version"] == "3"
    out = result.as_numpy("t")
    assert out.shape == array.shape
    if datatype == "BYTES":
        assert [v if isinstance(v, bytes) else v.encode() for v in out.ravel()] == list(
            array.ravel()
        )
    else:
        assert out.dtype == array.dtype and np.array_equal(out, array)


def test_no_outputs_named_gives_all_binary(echo_server: ServerProcess) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1, 2], dtype=np.int64)
    inputs = [httpclient.InferInput("a", [2, 3], "FP32"), httpclient.InferInput("b", [2], "INT64")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b, binary_data=False)  # mixed: one JSON, one binary input
    result = client(echo_server).infer("echo", inputs, model_version="3")
    outputs = result.get_response()["outputs"]
    assert [o["name"] for o in outputs] == ["a", "b"]
    assert all("binary_data_size" in o["parameters"] for o in outputs)
    assert np.array_equal(result.as_numpy("a"), a) and np.array_equal(result.as_numpy("b"), b)


def test_a_failing_model_is_a_500(echo_server: ServerProcess) -> None:
    tensor = httpclient.InferInput("fail", [1], "INT32")
    tensor.set_data_from_numpy(np.array([1], dtype=np.int32))
    with pytest.raises(InferenceServerException, match="model failed") as caught:
        client(echo_server).infer("echo", [tensor])
    assert caught.value.status() == "500"
    assert "RuntimeError: asked to fail" in echo_server.log()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("rows", [1, 100])
def test_digits_onnx(
    digits_server: ServerProcess,
    digits_onnx: tuple[Path, np.ndarray, np.ndarray],
    rows: int,
    binary: bool,
) -> None:
    _, x, labels = digits_onnx
    c = client(digits_server)
    assert c.is_model_ready("digits")
    meta = c.get_model_metadata("digits")
    assert meta["inputs"] == [{"name": "float_input", "datatype": "FP32", "shape": [-1, 64]}]
    tensor = httpclient.InferInput("float_input", [rows, 64], "FP32")
    tensor.set_data_from_numpy(x[:rows], binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("label", binary_data=binary),
        httpclient.InferRequestedOutput("probabilities", binary_data=binary),
    ]
    result = c.infer("digits", [tensor], outputs=outputs)
    assert np.array_equal(result.as_numpy("label"), labels[:rows])
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (rows, 10)
    assert np.array_equal(probabilities.argmax(axis=1), labels[:rows])


def test_digits_declared_input_is_checked(digits_server: ServerProcess) -> None:
    tensor = httpclient.InferInput("float_input", [1, 63], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 63), dtype=np.float32))
    with pytest.raises(InferenceServerException, match=r"does not fit \[-1, 64\]"):
        client(digits_server).infer("digits", [tensor])
    # FP64 is cast to the declared FP32
    tensor = httpclient.InferInput("float_input", [1, 64], "FP64")
    tensor.set_data_from_numpy(np.zeros((1, 64)))
    result = client(digits_server).infer("digits", [tensor])
    assert result.as_numpy("label").shape == (1,)


def test_digits_with_dynamic_batching(
    tmp_path_factory: pytest.TempPathFactory, digits_onnx: tuple[Path, np.ndarray, np.ndarray]
) -> None:
    """Concurrent V2 requests to a batching server each get their own rows back."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.server.conftest import start_server
    from tests.v2.conftest import SCRIPTS

    path, x, labels = digits_onnx
    env = {
        "SERVING_MODEL_NAME": "digits",
        "DIGITS_ONNX": str(path),
        "SERVING_MAX_BATCH_SIZE": "4",
        "SERVING_MAX_BATCH_DELAY_MS": "20",
    }
    server = start_server(tmp_path_factory.mktemp("batch"), SCRIPTS / "v2_digits.py", extra_env=env)

    def one(start: int) -> bool:
        rows = x[start : start + 1 + start % 3]
        tensor = httpclient.InferInput("float_input", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows, binary_data=start % 2 == 0)
        result = client(server).infer("digits", [tensor])
        return bool(np.array_equal(result.as_numpy("label"), labels[start : start + len(rows)]))

    try:
        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(one, range(0, 64, 2)))
        assert "dynamic batching on" in server.log()
    finally:
        server.stop()

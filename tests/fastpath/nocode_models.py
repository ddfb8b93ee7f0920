"""Models for the no-code tests, made once per session: the digits data set as an ONNX
graph (converted with skl2onnx, zipmap off), a scikit-learn pickle and a small Keras model
exported as a TensorFlow SavedModel."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests


@dataclass(frozen=True)
class Digits:
    """The digits rows and what each framework's model predicts for them."""

    x: np.ndarray
    estimator: Any
    onnx: Path
    pickle: Path

    def expected(self, rows: int) -> list[int]:
        return [int(v) for v in self.estimator.predict(self.x[:rows])]


def make_digits(folder: Path) -> Digits:
    import joblib
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=2000).fit(x, y)
    onnx_path = folder / "digits.onnx"
    graph = to_onnx(
        model, x[:1].astype(np.float32), options={id(model): {"zipmap": False}}, target_opset=17
    )
    onnx_path.write_bytes(graph.SerializeToString())
    pickle_path = folder / "digits.pkl"
    joblib.dump(model, pickle_path)
    return Digits(x, model, onnx_path, pickle_path)


def make_keras(folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A 4-feature, 3-output dense model exported as a SavedModel; its rows and outputs."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    rows = np.arange(8, dtype=np.float32).reshape(2, 4) / 10
    out = folder / "keras_savedmodel"
    model.export(str(out), verbose=False)
    return out, rows, np.asarray(model(rows))


def post(uri: str, body: object, key: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(uri, data=data, headers=headers, timeout=30)


def infer_v2(
    scoring_uri: str, model: str, rows: np.ndarray, key: str | None = None
) -> dict[str, list[np.ndarray]]:
    """A deployed endpoint's V2 answers for ``rows`` through tritonclient, sent once as JSON
    and once as binary tensors: output name → [JSON answer, binary answer]. The metadata
    and the server's liveness are checked on the way."""
    import tritonclient.http as triton

    address = scoring_uri.split("://", 1)[1].rsplit("/", 1)[0]
    headers = {"Authorization": f"Bearer {key}"} if key else None
    client = triton.InferenceServerClient(url=address)
    assert client.is_server_live() and client.is_model_ready(model, headers=headers)
    meta = client.get_model_metadata(model, headers=headers)
    assert isinstance(meta, dict) and meta["name"] == model
    spec = meta["inputs"][0]
    names = [o["name"] for o in meta["outputs"]]
    answers: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for binary in (False, True):
        tensor = triton.InferInput(spec["name"], list(rows.shape), spec["datatype"])
        dtype = {"FP32": np.float32, "FP64": np.float64}[spec["datatype"]]
        tensor.set_data_from_numpy(rows.astype(dtype), binary_data=binary)
        wanted = [triton.InferRequestedOutput(n, binary_data=binary) for n in names]
        result = client.infer(model, [tensor], outputs=wanted, headers=headers)
        for name in names:
            answers[name].append(result.as_numpy(name))
    client.close()
    return answers

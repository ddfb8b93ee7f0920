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

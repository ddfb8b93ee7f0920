"""``serving models convert`` on Keras 3 models: real TensorFlow, tf2onnx, onnxruntime."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from serving.sdk.model import Model
from serving.workspace import Workspace
from tests.helpers import CliResult

Cli = Callable[..., CliResult]


def test_keras_file_converts_and_passes_the_gate(
    cli: Cli, keras_file: Path, digits_x: np.ndarray, tmp_path: Path
) -> None:
    assert cli("models", "register", keras_file, "-n", "kdigits").code == 0
    r = cli("models", "convert", "kdigits:1", "--to", "onnx", "--rows", "50")
    assert (r.code, r.out.strip()) == (0, "kdigits:2"), r.err
    assert "converting with tf2onnx" in r.err and "checking 50 rows" in r.err

    shown = cli("models", "show", "kdigits:2", "-o", "json").json()
    assert isinstance(shown, dict) and shown["framework"] == "onnx"
    props = shown["properties"]
    assert props["converted_from"] == "kdigits:1" and props["converter"].startswith("tf2onnx ")
    report = json.loads(props["parity_report"])
    (output,) = report["outputs"]
    assert report["passed"] and report["rows"] == 50 and output["elements"] == 500

    onnx_path = Path(cli("models", "download", "kdigits:2", tmp_path).out.strip())
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    (probs,) = session.run(None, {"input": (digits_x[:20] / 16.0).astype(np.float32)})
    assert probs.shape == (20, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_savedmodel_export_converts_through_the_sdk(
    ws: Workspace, keras_file: Path, tmp_path: Path
) -> None:
    """Keras 3's ``model.export(dir)`` (framework tensorflow, a folder) converts too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import keras

        keras.models.load_model(keras_file).export(str(tmp_path / "exported"), verbose=False)
    original = Model.register(ws, tmp_path / "exported", "ksaved")
    assert original.model_framework == "tensorflow"
    converted = original.convert(rows=20)
    assert converted.id == "ksaved:2" and converted.model_framework == "onnx"
    report = json.loads(converted.properties["parity_report"])
    assert report["passed"] and [o["name"] for o in report["outputs"]] == ["output_0"]


def test_op_tf2onnx_lacks_is_one_line_and_registers_nothing(cli: Cli, tmp_path: Path) -> None:
    """A SavedModel using BesselI1e, which tf2onnx has no handler for."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow as tf

        class Odd(tf.Module):  # type: ignore[misc]
            @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32)])
            def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
                return {"y": tf.math.bessel_i1e(x)}

        odd = Odd()
        tf.saved_model.save(odd, str(tmp_path / "odd"), signatures={"serving_default": odd.serve})
    assert cli("models", "register", tmp_path / "odd", "-n", "odd").code == 0
    r = cli("models", "convert", "odd:1")
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.strip().splitlines()[-1] == (
        "error: cannot convert odd:1 to ONNX: tf2onnx has no conversion for TensorFlow op(s) "
        "BesselI1e"
    )
    listed = cli("models", "list", "-o", "json").json()
    assert isinstance(listed, list) and [m["id"] for m in listed] == ["odd:1"]

"""``serving models convert`` on scikit-learn models: real skl2onnx, onnxruntime, workspace."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx

from serving.sdk.model import Model
from serving.workspace import Workspace
from tests.convert.custom import Doubler
from tests.helpers import CliResult

Cli = Callable[..., CliResult]


def one_line_error(result: CliResult, code: int, *needles: str) -> str:
    """The CLI failed with ``code`` and one ``error:`` line, its last, and no traceback."""
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.err.strip().splitlines()[-1] == errors[0], result.err
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def versions(cli: Cli, name: str) -> list[str]:
    listed = cli("models", "list", "--name", name, "-o", "json").json()
    assert isinstance(listed, list)
    return [m["id"] for m in listed]


def test_pipeline_converts_passes_gate_and_records_lineage(
    cli: Cli, pipeline_pkl: Path, digits_x: np.ndarray, tmp_path: Path
) -> None:
    assert cli("models", "register", pipeline_pkl, "-n", "digits").code == 0
    r = cli("models", "convert", "digits:1", "--to", "onnx")
    assert (r.code, r.out.strip()) == (0, "digits:2"), r.err
    for step in ("loading digits:1", "converting with skl2onnx", "checking 100 rows"):
        assert step in r.err

    shown = cli("models", "show", "digits:2", "-o", "json").json()
    assert isinstance(shown, dict)
    props = shown["properties"]
    assert shown["framework"] == "onnx" and props["converted_from"] == "digits:1"
    assert props["converter"].startswith("skl2onnx ") and props["onnx_opset"] == "17"
    assert props["onnxruntime_version"] == ort.__version__
    assert json.loads(props["onnx_io"])["outputs"] == ["label", "probabilities"]
    report = json.loads(props["parity_report"])
    assert shown["parity"] == report and report["passed"] and report["rows"] == 100
    assert (report["atol"], report["rtol"]) == (1e-5, 1e-5)
    by_name = {o["name"]: o for o in report["outputs"]}
    assert by_name["label"]["mismatched"] == 0 and by_name["label"]["elements"] == 100
    assert by_name["probabilities"]["max_abs"] < 1e-5

    table = cli("models", "show", "digits:2").out
    assert "100/100 labels agree" in table and "probabilities: max_abs" in table
    assert "parity_report" not in table  # the JSON is shown as lines, not as a property

    # the registered file answers real digits like the original
    onnx_path = Path(cli("models", "download", "digits:2", tmp_path).out.strip())
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    labels, probs = session.run(None, {"input": digits_x[:50].astype(np.float32)})
    original = joblib.load(pipeline_pkl)
    assert (labels == original.predict(digits_x[:50])).all()
    assert np.allclose(probs, original.predict_proba(digits_x[:50]), atol=1e-5)


def test_sample_file_is_what_the_gate_compares(
    cli: Cli, pipeline_pkl: Path, digits_x: np.ndarray, tmp_path: Path
) -> None:
    cli("models", "register", pipeline_pkl, "-n", "digits")
    sample = tmp_path / "rows.npy"
    np.save(sample, digits_x[:200])
    r = cli("models", "convert", "digits:1", "--sample", sample, "-o", "json")
    assert r.code == 0, r.err
    result = r.json()
    assert isinstance(result, dict) and result["id"] == "digits:2"
    assert result["parity"]["rows"] == 200 and result["parity"]["sample"] == "rows.npy"

    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    one_line_error(
        cli("models", "convert", "digits:1", "--sample", csv),
        2,
        "rows.csv has rows of shape (2)",
        "rows of shape (64)",
    )
    assert versions(cli, "digits") == ["digits:2", "digits:1"]


def test_regressor_converts_through_the_sdk(ws: Workspace, regressor_joblib: Path) -> None:
    original = Model.register(ws, regressor_joblib, "diabetes")
    converted = original.convert(atol=1e-5, rtol=1e-5, rows=64)
    assert (converted.id, converted.model_framework) == ("diabetes:2", "onnx")
    assert converted.properties["converted_from"] == "diabetes:1"
    report = json.loads(converted.properties["parity_report"])
    (variable,) = report["outputs"]
    assert variable["name"] == "variable" and variable["kind"] == "values"
    assert report["passed"] and report["rows"] == 64 and variable["elements"] == 64


def _altered(onnx_path: Path, target: Path) -> Path:
    """The converted model with one coefficient of its LinearClassifier changed."""
    model = onnx.load(str(onnx_path))
    (node,) = [n for n in model.graph.node if n.op_type == "LinearClassifier"]
    (coefficients,) = [a for a in node.attribute if a.name == "coefficients"]
    coefficients.floats[0] += 0.5
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return target


def test_altered_onnx_fails_the_gate_and_registers_nothing(
    cli: Cli, pipeline_pkl: Path, tmp_path: Path
) -> None:
    cli("models", "register", pipeline_pkl, "-n", "digits")
    assert cli("models", "convert", "digits:1").code == 0
    good = Path(cli("models", "download", "digits:2", tmp_path).out.strip())
    bad = _altered(good, tmp_path / "altered.onnx")

    r = cli("models", "convert", "digits:1", "--onnx", bad)
    line = one_line_error(r, 2, "fails the parity check", "'probabilities'", "nothing registered")
    assert "max_abs" in line and "on 100 rows" in line
    assert versions(cli, "digits") == ["digits:2", "digits:1"]

    # the unaltered file, given the same way, passes and becomes version 3
    r = cli("models", "convert", "digits:1", "--onnx", good)
    assert (r.code, r.out.strip()) == (0, "digits:3"), r.err
    shown = cli("models", "show", "digits:3", "-o", "json").json()
    assert isinstance(shown, dict) and shown["properties"]["converter"] == "external"


def test_external_onnx_with_zipmap_and_default_names_passes(
    cli: Cli, pipeline_pkl: Path, tmp_path: Path
) -> None:
    """A file from skl2onnx's defaults (ZipMap on, ``output_label``/``output_probability``)."""
    cli("models", "register", pipeline_pkl, "-n", "digits")
    model = joblib.load(pipeline_pkl)
    external = tmp_path / "mine.onnx"
    external.write_bytes(
        to_onnx(model, np.zeros((1, 64), dtype=np.float32), target_opset=15).SerializeToString()
    )
    r = cli("models", "convert", "digits:1", "--onnx", external, "-o", "json")
    assert r.code == 0, r.err
    result = r.json()
    assert isinstance(result, dict) and result["parity"]["passed"]
    assert result["properties"]["onnx_opset"] == "15"


def test_unsupported_estimator_is_one_line_and_registers_nothing(
    cli: Cli, custom_pkl: Path, tmp_path: Path
) -> None:
    cli("models", "register", custom_pkl, "-n", "doubler")
    one_line_error(
        cli("models", "convert", "doubler:1"),
        2,
        "cannot convert doubler:1 to ONNX: skl2onnx has no converter for "
        "tests.convert.custom.Doubler",
    )
    # the bare estimator's pickle names no sklearn module: registered as sklearn explicitly
    bare = tmp_path / "bare.pkl"
    joblib.dump(Doubler().fit(np.eye(3)), bare)
    cli("models", "register", bare, "-n", "doubler", "--framework", "sklearn")
    one_line_error(
        cli("models", "convert", "doubler:2"),
        2,
        "skl2onnx has no converter for tests.convert.custom.Doubler",
    )
    assert versions(cli, "doubler") == ["doubler:2", "doubler:1"]


def test_other_frameworks_are_one_line_errors(
    proc_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """Through a real process: no traceback, non-zero exit, nothing registered."""
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00" * 16)
    assert proc_cli("models", "register", weights, "-n", "mine").returncode == 0
    r = proc_cli("models", "convert", "mine:1", "--to", "onnx")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: cannot convert mine:1 to ONNX: framework 'custom' has no converter "
        "(scikit-learn and TensorFlow/Keras models are converted) (if it is one, register "
        "it with --framework sklearn or tensorflow)"
    ]
    r = proc_cli("models", "convert", "nosuch:1")
    assert r.returncode == 3 and len(r.stderr.strip().splitlines()) == 1

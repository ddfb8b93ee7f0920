"""Run an ONNX model with onnxruntime and name its answers like the original's outputs.

A graph converted here has the expected names already. A file converted elsewhere
(``--onnx FILE``) may not: its outputs are matched by name when all the expected names are
there, else by position (skl2onnx's defaults ``output_label``, ``output_probability`` come
in that order). ZipMap output (a list of ``{class: probability}`` dicts) becomes an array
with one column per class, in the map's order (``classes_`` order). The session has the
options no-code deployments serve with (:func:`serving.scoring.nocode.onnx.session_options`,
one worker), so the parity gate checks the graph as it will run.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.convert.source import need_extra
from serving.errors import UserInputError

if TYPE_CHECKING:
    import numpy as np
    import onnx

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64"}


def ort_version() -> str:
    return importlib.metadata.version("onnxruntime")


def read_onnx(path: Path) -> onnx.ModelProto:
    """The ONNX model in ``path``, checked by ``onnx.checker``; one line when it is not."""
    try:
        import onnx
    except ImportError as exc:
        raise need_extra(exc) from None
    if not path.is_file():
        raise UserInputError(f"ONNX file {path} does not exist")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserInputError(f"{path} is not a valid ONNX model: {first}") from None
    return model


def opset_of(model: onnx.ModelProto) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def run(model: onnx.ModelProto, x: np.ndarray, expected: Sequence[str]) -> dict[str, np.ndarray]:
    """The model's answers to ``x``, keyed by the ``expected`` output names."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise need_extra(exc) from None
    from serving.scoring.nocode.onnx import session_options

    try:
        session = ort.InferenceSession(
            model.SerializeToString(),
            sess_options=session_options(1),
            providers=["CPUExecutionProvider"],
        )
    except Exception as exc:  # ORT's Fail / InvalidGraph / NotImplemented
        raise UserInputError(f"onnxruntime cannot load the ONNX model: {_first(exc)}") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise UserInputError(f"the ONNX model has {len(inputs)} inputs; one is supported")
    dtype = _ORT_DTYPES.get(inputs[0].type)
    if dtype is None:
        raise UserInputError(
            f"the ONNX model's input {inputs[0].name!r} is {inputs[0].type}; float or double "
            "tensors are supported"
        )
    try:
        values = session.run(None, {inputs[0].name: x.astype(dtype)})
    except Exception as exc:  # ORT's InvalidArgument (shapes) / RuntimeException
        raise UserInputError(f"onnxruntime failed on the sample: {_first(exc)}") from None
    names = [o.name for o in session.get_outputs()]
    return _by_name(names, [_dense(v) for v in values], expected)


def _by_name(names: list[str], values: list[Any], expected: Sequence[str]) -> dict[str, Any]:
    if all(e in names for e in expected):
        return {e: values[names.index(e)] for e in expected}
    if len(names) < len(expected):
        raise UserInputError(
            f"the ONNX model answers {', '.join(names)}; expected {len(expected)} outputs "
            f"({', '.join(expected)})"
        )
    return dict(zip(expected, values, strict=False))


def _dense(value: Any) -> np.ndarray:
    import numpy as np

    if isinstance(value, list) and value and isinstance(value[0], dict):  # ZipMap
        keys = list(value[0])
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
    return np.asarray(value)


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]

"""The parity gate: the converted model must answer like the original on a sample.

Labels must agree exactly; every other output (probabilities, regression values, Keras
outputs) must satisfy ``|onnx - original| <= atol + rtol * |original|`` element by element
(numpy's ``isclose`` rule; 1e-5 and 1e-5 by default, as skl2onnx's and MLflow's own tests).
The report says how many rows were compared and, per output, the largest absolute and
relative differences; it is stored with the new version as JSON (see :func:`describe`).

Samples come from a file (``.npy``, ``.csv`` or ``.json`` rows) or are synthesised from the
model's input shape (:func:`synthesise`). Either way the rows are cast to float32 once and
the same float32 values are given to both models, so a difference is the conversion's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.errors import UserInputError

if TYPE_CHECKING:
    import numpy as np

SAMPLE_SUFFIXES = (".npy", ".csv", ".json")


class ParityError(UserInputError):
    """The converted model does not answer like the original: nothing is registered."""


@dataclass(frozen=True)
class Tolerance:
    atol: float = 1e-5
    rtol: float = 1e-5


@dataclass(frozen=True)
class OutputParity:
    """How one output of the converted model compares with the original's."""

    name: str
    kind: str
    """``label`` (must be equal) or ``values`` (within the tolerance)."""
    max_abs: float
    max_rel: float
    """Largest ``|Δ| / |original|`` over elements whose original magnitude is at least atol
    (smaller values make a relative difference meaningless; atol covers them)."""
    mismatched: int
    """Elements that differ (labels) or fall outside the tolerance (values)."""
    elements: int

    @property
    def passed(self) -> bool:
        return self.mismatched == 0


@dataclass(frozen=True)
class ParityReport:
    rows: int
    sample: str
    """Where the rows came from: a file name, or ``synthesised (...)``."""
    atol: float
    rtol: float
    outputs: tuple[OutputParity, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    def failures(self) -> list[OutputParity]:
        return [o for o in self.outputs if not o.passed]

    def to_json(self) -> str:
        data = asdict(self)
        data["passed"] = self.passed
        return json.dumps(data, sort_keys=True)


def synthesise(shape: Sequence[int | None], rows: int, seed: int = 0) -> np.ndarray:
    """``rows`` rows of standard-normal float32 values of the model's input ``shape``
    (without the batch axis), from a fixed seed so a check can be repeated."""
    import numpy as np

    if any(d is None for d in shape):
        raise UserInputError(
            f"the model's input shape {_shape_text(shape)} has free dimensions, so no sample "
            "can be synthesised",
            hint="give one with --sample FILE (.npy, .csv or .json rows)",
        )
    rng = np.random.default_rng(seed)
    dims = tuple(int(d) for d in shape if d is not None)
    return rng.standard_normal((rows, *dims)).astype(np.float32)


def load_sample(path: Path, shape: Sequence[int | None]) -> np.ndarray:
    """Rows from ``path`` (``.npy``; ``.csv``, a header line allowed; ``.json``: a list of
    rows or ``{"data": rows}``), checked against the model's input ``shape``, as float32."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix not in SAMPLE_SUFFIXES:
        raise UserInputError(f"sample {path} must be a .npy, .csv or .json file")
    if not path.is_file():
        raise UserInputError(f"sample {path} does not exist")
    try:
        if suffix == ".npy":
            raw: Any = np.load(path, allow_pickle=False)
        elif suffix == ".csv":
            raw = _read_csv(path)
        else:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(raw, Mapping):
                raw = raw.get("data", raw.get("input_data"))
        data = np.asarray(raw, dtype=np.float32)
    except (ValueError, TypeError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"cannot read sample {path}: {first}") from None
    if data.ndim == len(shape):  # one row given without its batch axis
        data = data[None, ...]
    expected = tuple(shape)
    if data.ndim != len(expected) + 1 or any(
        want is not None and got != want for got, want in zip(data.shape[1:], expected, strict=True)
    ):
        raise UserInputError(
            f"sample {path} has rows of shape {_shape_text(data.shape[1:])}; the model takes "
            f"rows of shape {_shape_text(expected)}"
        )
    if len(data) == 0:
        raise UserInputError(f"sample {path} has no rows")
    return data


def _read_csv(path: Path) -> Any:
    import numpy as np

    try:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError:
        return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def compare(
    original: Mapping[str, np.ndarray],
    converted: Mapping[str, np.ndarray],
    labels: frozenset[str],
    tolerance: Tolerance,
    *,
    sample: str,
) -> ParityReport:
    """Compare each of the original's outputs with the converted output of the same name."""
    rows = 0
    outputs = []
    for name, want in original.items():
        got = _aligned(name, want, converted[name])
        rows = max(rows, len(want))
        if name in labels:
            outputs.append(_labels(name, want, got))
        else:
            outputs.append(_values(name, want, got, tolerance))
    return ParityReport(rows, sample, tolerance.atol, tolerance.rtol, tuple(outputs))


def _aligned(name: str, want: np.ndarray, got: np.ndarray) -> np.ndarray:
    """``got`` in ``want``'s shape: converters add or drop a trailing axis of one."""
    if got.shape != want.shape and got.size == want.size:
        got = got.reshape(want.shape)
    if got.shape != want.shape:
        raise ParityError(
            f"output {name!r} of the ONNX model has shape {got.shape}; the original's has "
            f"{want.shape}"
        )
    return got


def _labels(name: str, want: np.ndarray, got: np.ndarray) -> OutputParity:
    import numpy as np

    if want.dtype.kind in "biuf" and got.dtype.kind in "biuf":
        same = want.astype(np.float64) == got.astype(np.float64)
    else:
        same = want.astype(str) == got.astype(str)
    return OutputParity(name, "label", 0.0, 0.0, int((~same).sum()), int(same.size))


def _values(name: str, want: np.ndarray, got: np.ndarray, tol: Tolerance) -> OutputParity:
    import numpy as np

    a = want.astype(np.float64)
    b = got.astype(np.float64)
    diff = np.abs(a - b)
    diff[np.isnan(a) & np.isnan(b)] = 0.0
    diff[np.isnan(diff)] = np.inf
    scale = np.abs(a)
    outside = diff > tol.atol + tol.rtol * scale
    big = scale >= max(tol.atol, np.finfo(np.float64).tiny)
    max_rel = float((diff[big] / scale[big]).max()) if big.any() else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    return OutputParity(name, "values", max_abs, max_rel, int(outside.sum()), int(diff.size))


def failure_message(report: ParityReport) -> str:
    """One line naming each output that differed and by how much."""
    parts = []
    for o in report.failures():
        if o.kind == "label":
            parts.append(f"output {o.name!r}: {o.mismatched} of {o.elements} labels differ")
        else:
            parts.append(
                f"output {o.name!r}: max_abs {o.max_abs:.3g}, max_rel {o.max_rel:.3g}, "
                f"{o.mismatched} of {o.elements} values outside atol {report.atol:g} / "
                f"rtol {report.rtol:g}"
            )
    return f"{'; '.join(parts)} on {report.rows} rows"


def describe(report_json: str) -> str:
    """A stored report (:meth:`ParityReport.to_json`) as a few readable lines."""
    try:
        data = json.loads(report_json)
        head = (
            f"{'passed' if data['passed'] else 'FAILED'}: {data['rows']} rows from "
            f"{data['sample']} (atol {data['atol']:g}, rtol {data['rtol']:g})"
        )
        lines = [head]
        for o in data["outputs"]:
            if o["kind"] == "label":
                agree = o["elements"] - o["mismatched"]
                lines.append(f"{o['name']}: {agree}/{o['elements']} labels agree")
            else:
                lines.append(
                    f"{o['name']}: max_abs {o['max_abs']:.3g}, max_rel {o['max_rel']:.3g}"
                    f" ({o['mismatched']} of {o['elements']} values outside)"
                )
        return "\n".join(lines)
    except (ValueError, KeyError, TypeError):
        return report_json

"""The tensor-model contract shared by no-code scoring, the V2 protocol and dynamic batching.

A :class:`TensorModel` is a model that takes named arrays and returns named arrays, with a
signature (:class:`TensorSpec` per input and output, in the Open Inference Protocol's
datatype names). The platform's own scorers (ONNX, scikit-learn, TensorFlow SavedModel)
are tensor models; a ``score.py`` becomes one by defining ``run_v2(inputs) -> outputs``.
The V2 routes, the no-code ``/score`` and the batcher only ever call :meth:`TensorModel.infer`.

numpy is imported lazily so the server's import graph stays light for ``score.py`` users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

V2_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
"""Open Inference Protocol datatype → numpy dtype name (BYTES: object arrays of bytes/str)."""

NUMPY_TO_V2: dict[str, str] = {v: k for k, v in V2_TO_NUMPY.items() if k != "BYTES"}


_V2_DATATYPES: dict[Any, str] = {}
"""dtype → V2 datatype, filled as dtypes are seen (``dtype.name`` costs microseconds, and
the V2 codec asks once per tensor)."""


def v2_datatype(dtype: Any) -> str:
    """The V2 datatype of a numpy dtype (strings and objects are ``BYTES``); raises
    ValueError for dtypes the protocol has no name for."""
    found = _V2_DATATYPES.get(dtype)
    if found is not None:
        return found
    import numpy as np

    dt = np.dtype(dtype)
    if dt.kind in ("U", "S", "O"):
        found = "BYTES"
    else:
        try:
            found = NUMPY_TO_V2[dt.name]
        except KeyError:
            raise ValueError(
                f"no Open Inference Protocol datatype for numpy dtype {dt.name}"
            ) from None
    _V2_DATATYPES[dtype] = found
    return found


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a tensor model: name, V2 datatype, shape (-1: any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        """The V2 metadata form ``{"name", "datatype", "shape"}``."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@runtime_checkable
class TensorModel(Protocol):
    """A loaded model that maps named arrays to named arrays, batched on the first axis."""

    name: str
    version: str
    platform: str
    """V2 platform string, e.g. ``onnx_onnxv1``, ``sklearn_joblib``, ``tensorflow_savedmodel``."""

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The model's inputs (read-only here: a plain attribute satisfies it too)."""
        ...

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The model's outputs."""
        ...

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model. Inputs are already cast to the declared dtypes; every output's
        first axis has the inputs' row count. Raises on a model failure."""
        ...

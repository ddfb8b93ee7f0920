"""The no-code scorer of ONNX models: an onnxruntime session tuned for serving.

Session settings (one session per gunicorn worker, each worker one request at a time):

* ``CPUExecutionProvider`` only.
* ``intra_op_num_threads``: this worker's share of the cores, one fewer with dynamic
  batching on (:mod:`serving.scoring.nocode.threads`).
* ``inter_op_num_threads = 1`` and sequential execution: the graphs served here are small,
  parallel branches gain nothing.
* ``session.intra_op.allow_spinning = 0``: idle intra-op threads sleep instead of
  spinning, which would burn the cores the other workers need between requests.
* full graph optimisation (``ORT_ENABLE_ALL``), done once at load.

The signature comes from the graph (``get_inputs()``/``get_outputs()``), in V2 datatypes,
with ``-1`` for symbolic or unknown dimensions.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.scoring.nocode.threads import intra_op_threads
from serving.scoring.tensors import V2_TO_NUMPY, TensorSpec

if TYPE_CHECKING:
    import numpy as np

ONNX_TO_V2: dict[str, str] = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int16)": "INT16",
    "tensor(int8)": "INT8",
    "tensor(uint64)": "UINT64",
    "tensor(uint32)": "UINT32",
    "tensor(uint16)": "UINT16",
    "tensor(uint8)": "UINT8",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}
"""onnxruntime's type strings → Open Inference Protocol datatypes."""


def session_options(workers: int, *, batching: bool = False) -> Any:
    """The onnxruntime SessionOptions described in the module docstring."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads(workers, batching=batching)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def _cast(value: np.ndarray, datatype: str) -> np.ndarray:
    import numpy as np

    return np.asarray(value, dtype=V2_TO_NUMPY[datatype])  # no copy when already right


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    datatype = ONNX_TO_V2.get(arg.type)
    if datatype is None:
        raise ValueError(f"ONNX {arg.name!r} has type {arg.type}, which no-code cannot serve")
    return TensorSpec(arg.name, datatype, shape)


class OnnxModel:
    """An ONNX graph as a tensor model."""

    platform = "onnx_onnxv1"

    def __init__(
        self, path: Path, name: str, version: str, workers: int, *, batching: bool = False
    ) -> None:
        import onnxruntime as ort

        self.name = name
        self.version = version
        self.session = ort.InferenceSession(
            str(path),
            sess_options=session_options(workers, batching=batching),
            providers=["CPUExecutionProvider"],
        )
        self.inputs = tuple(_spec(a) for a in self.session.get_inputs())
        self.outputs = tuple(_spec(a) for a in self.session.get_outputs())
        self._output_names = [o.name for o in self.outputs]

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on ``inputs`` (already of the declared dtypes)."""
        feed = {s.name: _cast(inputs[s.name], s.datatype) for s in self.inputs}
        values = self.session.run(self._output_names, feed)
        return dict(zip(self._output_names, values, strict=True))

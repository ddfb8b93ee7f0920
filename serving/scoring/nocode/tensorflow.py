"""The no-code scorer of TensorFlow SavedModels: the ``serving_default`` signature.

The signature's keyword inputs and its outputs become the tensor model's, in V2
datatypes (``-1`` for unknown dimensions). TensorFlow is imported only here.

Threads, set before the model loads (TensorFlow fixes them when its runtime starts): one
inter-op thread (a small served graph has no parallel branches worth a thread handoff) and
this worker's share of the cores for intra-op work (:mod:`serving.scoring.nocode.threads`:
one fewer with dynamic batching on). ``TF_NUM_INTEROP_THREADS``/``TF_NUM_INTRAOP_THREADS``
in the environment, or a runtime already started in the process, are left as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.scoring.nocode.threads import intra_op_threads
from serving.scoring.tensors import TensorSpec, v2_datatype

if TYPE_CHECKING:
    import numpy as np

SIGNATURE = "serving_default"


def _spec(name: str, tensor_spec: Any) -> TensorSpec:
    dtype = tensor_spec.dtype
    datatype = "BYTES" if dtype.name == "string" else v2_datatype(dtype.as_numpy_dtype)
    dims = tensor_spec.shape.as_list() if tensor_spec.shape.rank is not None else [-1]
    return TensorSpec(name, datatype, tuple(-1 if d is None else int(d) for d in dims))


def set_threads(tf: Any, intra_op: int) -> None:
    """One inter-op thread and ``intra_op`` intra-op threads, unless the environment says
    otherwise or TensorFlow's runtime has started (then it is too late: left alone)."""
    try:
        if not os.environ.get("TF_NUM_INTEROP_THREADS"):
            tf.config.threading.set_inter_op_parallelism_threads(1)
        if not os.environ.get("TF_NUM_INTRAOP_THREADS"):
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    except RuntimeError:  # "... cannot be modified after initialization"
        pass


class TensorflowModel:
    """A SavedModel's ``serving_default`` signature as a tensor model."""

    platform = "tensorflow_savedmodel"

    def __init__(
        self, path: Path, name: str, version: str, workers: int, *, batching: bool = False
    ) -> None:
        import tensorflow as tf

        set_threads(tf, intra_op_threads(workers, batching=batching))
        self.name = name
        self.version = version
        self._loaded = tf.saved_model.load(str(path))  # keeps the signature's variables alive
        signatures = self._loaded.signatures
        if SIGNATURE not in signatures:
            raise ValueError(f"SavedModel {path} has no {SIGNATURE!r} signature")
        self._fn = signatures[SIGNATURE]
        _args, kwargs = self._fn.structured_input_signature
        self.inputs = tuple(_spec(n, s) for n, s in sorted(kwargs.items()))
        outputs = self._fn.structured_outputs
        self.outputs = tuple(_spec(n, s) for n, s in sorted(outputs.items()))
        self._tf = tf

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call the signature; every output as a numpy array."""
        tf = self._tf
        feed = {
            s.name: tf.convert_to_tensor(inputs[s.name], dtype=self._fn_dtype(s.name))
            for s in self.inputs
        }
        return {name: value.numpy() for name, value in self._fn(**feed).items()}

    def _fn_dtype(self, name: str) -> Any:
        return self._fn.structured_input_signature[1][name].dtype

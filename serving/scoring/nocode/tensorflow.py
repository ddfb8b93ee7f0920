"""The no-code scorer of TensorFlow SavedModels: the ``serving_default`` signature.

The signature's keyword inputs and its outputs become the tensor model's, in V2
datatypes (``-1`` for unknown dimensions). TensorFlow is imported only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.scoring.tensors import TensorSpec, v2_datatype

if TYPE_CHECKING:
    import numpy as np

SIGNATURE = "serving_default"


def _spec(name: str, tensor_spec: Any) -> TensorSpec:
    dtype = tensor_spec.dtype
    datatype = "BYTES" if dtype.name == "string" else v2_datatype(dtype.as_numpy_dtype)
    dims = tensor_spec.shape.as_list() if tensor_spec.shape.rank is not None else [-1]
    return TensorSpec(name, datatype, tuple(-1 if d is None else int(d) for d in dims))


class TensorflowModel:
    """A SavedModel's ``serving_default`` signature as a tensor model."""

    platform = "tensorflow_savedmodel"

    def __init__(self, path: Path, name: str, version: str) -> None:
        import tensorflow as tf

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

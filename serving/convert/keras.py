"""TensorFlow/Keras models to ONNX with tf2onnx.

tf2onnx's ``from_keras`` is broken under Keras 3 (``KeyError: 'keras_tensor_N'``, see
docs/EDGE_V2_BATCHING.md §4.2), so both kinds of model go through ``from_function``: a
``.keras``/``.h5`` file is loaded with Keras and wrapped in a ``tf.function``; a SavedModel
folder (``model.export(dir)``, ``tf.saved_model.save``) is loaded with TensorFlow and its
``serving_default`` signature wrapped. The graph takes one float32 input ``input`` of the
model's input shape with a free batch axis; its outputs are ``output`` for a Keras model
with one output (``output_0``, ``output_1``... for several) or the signature's own names.
TensorFlow's import is slow (seconds) and noisy, so it happens here only, once asked for.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.convert.source import need_extra, unsupported
from serving.registry import ModelRecord

if TYPE_CHECKING:
    import numpy as np
    import onnx


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null: TensorFlow's C++ logging (absl's "All log
    messages before absl::InitializeLog()" and oneDNN notices) ignores TF_CPP_MIN_LOG_LEVEL."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import tensorflow as tf
            import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise need_extra(exc) from None
    return tf


def _named(result: Any) -> dict[str, Any]:
    """A model's result as ``{name: tensor}``."""
    if isinstance(result, dict):
        return {str(k): v for k, v in result.items()}
    if isinstance(result, list | tuple):
        if len(result) == 1:
            return {"output": result[0]}
        return {f"output_{i}": r for i, r in enumerate(result)}
    return {"output": result}


class KerasModel:
    """A loaded Keras model or SavedModel (see :class:`serving.convert.source.Original`)."""

    labels: frozenset[str] = frozenset()

    def __init__(
        self, record: ModelRecord, call: Callable[[Any], Any], shape: tuple[int | None, ...]
    ) -> None:
        self.record = record
        self.call = call
        self.input_shape = shape
        self.converter = f"tf2onnx {importlib.metadata.version('tf2onnx')}"
        self.outputs: tuple[str, ...] = ()
        self.keep: Any = None

    @classmethod
    def load(cls, record: ModelRecord, path: Path) -> KerasModel:
        tf = _import_tf()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if path.is_dir():
                    return cls._saved_model(record, tf.saved_model.load(str(path)))
                import keras

                model = keras.models.load_model(path, compile=False)
        except Exception as exc:  # Keras and TF raise many kinds for unreadable models
            raise unsupported(record, f"cannot load {path.name}: {_first_line(exc)}") from None
        if len(model.inputs) != 1:
            raise unsupported(record, f"the model has {len(model.inputs)} inputs; one is converted")
        shape = tuple(model.inputs[0].shape[1:])
        return cls(record, lambda x: _named(model(x, training=False)), shape)

    @classmethod
    def _saved_model(cls, record: ModelRecord, loaded: Any) -> KerasModel:
        signature = getattr(loaded, "signatures", {}).get("serving_default")
        if signature is None:
            raise unsupported(record, "the SavedModel has no serving_default signature")
        args, kwargs = signature.structured_input_signature
        specs = list(args) + list(kwargs.values())
        if len(specs) != 1:
            raise unsupported(record, f"the SavedModel takes {len(specs)} inputs; one is converted")
        key = next(iter(kwargs), None)
        shape = tuple(specs[0].shape[1:])

        def call(x: Any) -> dict[str, Any]:
            return _named(signature(**{key: x}) if key is not None else signature(x))

        model = cls(record, call, shape)
        model.keep = loaded  # the signature's variables live as long as the loaded object
        return model

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import numpy as np

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = {k: np.asarray(v) for k, v in self.call(x).items()}
        self.outputs = tuple(result)
        return result

    def to_onnx(self, opset: int) -> onnx.ModelProto:
        tf = _import_tf()
        import tf2onnx

        spec = (tf.TensorSpec((None, *self.input_shape), tf.float32, name="input"),)
        function = tf.function(self.call, input_signature=spec)
        try:
            with _tf2onnx_quiet(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                onx, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=opset)
        except Exception as exc:  # tf2onnx raises ValueError/KeyError/RuntimeError alike
            raise unsupported(self.record, f"tf2onnx failed: {_unsupported_ops(exc)}") from None
        # tf2onnx logs the ops it has no handler for and leaves them in the graph as they are
        missing = _unknown_ops(onx)
        if missing:
            raise unsupported(
                self.record, f"tf2onnx has no conversion for TensorFlow op(s) {', '.join(missing)}"
            )
        model: onnx.ModelProto = onx
        return model


@contextlib.contextmanager
def _tf2onnx_quiet() -> Iterator[None]:
    """Keep tf2onnx's log lines (one per unconverted op) off the terminal: the graph is
    checked afterwards and the ops named in the one-line error instead."""
    logger = logging.getLogger("tf2onnx")
    handler = logging.NullHandler()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _unknown_ops(model: Any) -> list[str]:
    """Ops of ``model`` that no ONNX domain defines (onnxruntime's own are allowed)."""
    import onnx.defs

    return sorted(
        {
            node.op_type
            for node in model.graph.node
            if node.domain != "com.microsoft" and not onnx.defs.has(node.op_type, node.domain)
        }
    )


def _unsupported_ops(exc: BaseException) -> str:
    text = str(exc)
    marker = "Unsupported ops:"
    if marker in text:
        return "no conversion for " + text[text.index(marker) :].splitlines()[0]
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    """The line of a TF error worth showing: its last for an autograph ``in user code:``."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[-1] if lines[0] == "in user code:" else lines[0]

"""``/score`` of a no-code deployment: Azure ML's no-code request bodies in, predictions out.

Bodies: ``{"data": rows}`` or ``{"input_data": rows}``, where ``rows`` is a list of rows
(one row alone is taken as a batch of one), or for ``input_data`` also pandas' split form
``{"columns": [...], "index": [...], "data": rows}``. A model with several inputs takes an
object of input name → rows instead. Anything else, a row of the wrong width or values
that are not numbers of the input's type answer 400 with a JSON message.

The answer is what Azure's no-code scorers returned: the list of predictions (the first
output of the model: ``label`` for a converted classifier, ``predict`` for scikit-learn);
a model with several outputs none of which is a label answers an object of output name →
list. The path is kept short on purpose (``orjson.loads`` → ``np.asarray(dtype)`` → the
runtime → ``tolist``): for small models it is most of the time a request takes. Bodies
are parsed with ``orjson`` (a runtime requirement; strict JSON: no ``NaN``), several times
faster than the standard library on rows of numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson

from serving.scoring.exceptions import BadInputError
from serving.scoring.tensors import V2_TO_NUMPY, TensorSpec

Feed = dict[str, np.ndarray]
Reply = Callable[[Feed], Any]
"""Runs the model on a parsed body and returns what ``/score`` answers."""

LABEL_OUTPUTS = frozenset({"label", "output_label", "predict", "predictions"})
"""First outputs that alone are the answer when a model has several (classifiers)."""

_HOW = 'expected a JSON object with "data" (or "input_data") holding a list of rows'


def parse_body(data: str, inputs: Sequence[TensorSpec]) -> Feed:
    """The model's inputs from a request body; :class:`BadInputError` when they are not there."""
    try:
        body = orjson.loads(data)
    except (orjson.JSONDecodeError, RecursionError):
        raise BadInputError(f"POST body could not be decoded as JSON; {_HOW}") from None
    if not isinstance(body, dict):
        raise BadInputError(_HOW)
    if "data" in body:
        rows = body["data"]
    elif "input_data" in body:
        rows = body["input_data"]
        if isinstance(rows, dict) and "data" in rows:  # pandas split form
            rows = rows["data"]
    else:
        raise BadInputError(_HOW)
    if len(inputs) == 1:
        spec = inputs[0]
        return {spec.name: _array(rows, spec)}
    if not isinstance(rows, dict):
        names = ", ".join(s.name for s in inputs)
        raise BadInputError(f"the model has several inputs ({names}): give an object of them")
    missing = [s.name for s in inputs if s.name not in rows]
    if missing:
        raise BadInputError(f"missing input(s): {', '.join(missing)}")
    return {s.name: _array(rows[s.name], s) for s in inputs}


def _array(rows: Any, spec: TensorSpec) -> np.ndarray:
    try:
        array = np.asarray(rows, dtype=V2_TO_NUMPY[spec.datatype])
    except (ValueError, TypeError, OverflowError):
        raise BadInputError(
            f"input {spec.name!r}: expected rows of numbers ({spec.datatype})"
        ) from None
    shape = spec.shape
    if array.ndim == len(shape) - 1 and array.ndim > 0:
        array = array[np.newaxis, ...]  # a single row
    if (
        array.ndim != len(shape)
        or array.shape[0] == 0
        or any(want not in (-1, got) for want, got in zip(shape[1:], array.shape[1:], strict=True))
    ):
        raise BadInputError(
            f"input {spec.name!r}: expected shape {list(shape)} (-1: any number), "
            f"got {list(array.shape)}"
        )
    return array


def reply_for(model: Any) -> Reply:
    """What ``/score`` calls for ``model`` (a loaded framework model)."""
    outputs: tuple[TensorSpec, ...] = tuple(model.outputs)
    first = outputs[0].name
    session = getattr(model, "session", None)
    predict = getattr(model, "predict", None)
    if session is not None and (len(outputs) == 1 or first in LABEL_OUTPUTS):
        run, fetch = session.run, [first]  # only the answer's output is computed
        return lambda feed: run(fetch, feed)[0].tolist()
    if predict is not None:
        name = model.inputs[0].name
        return lambda feed: predict(feed[name]).tolist()
    return infer_reply(outputs, model.infer)


def outputs_reply(outputs: Sequence[TensorSpec]) -> Reply:
    """What ``/score`` answers for a tensor model's outputs (a dict of arrays): the first
    output's rows when it is the only one or a label, else every output's rows by name."""
    first = outputs[0].name
    if len(outputs) == 1 or first in LABEL_OUTPUTS:
        return lambda out: out[first].tolist()
    return lambda out: {k: v.tolist() for k, v in out.items()}


def infer_reply(outputs: Sequence[TensorSpec], infer: Callable[[Feed], Feed]) -> Reply:
    """``/score`` through a tensor model's ``infer`` (the model's own, or the batcher's)."""
    reply = outputs_reply(outputs)
    return lambda feed: reply(infer(feed))

"""The array work of dynamic batching: check a request, merge requests, split the result.

A request may join a batch only with requests of the same *batch key*: the same input
names, dtypes and shapes after the first axis. :func:`batch_key` computes it and checks the
request against the model's declared inputs first, so a request that breaks the signature
gets its own 400 before it is queued and never reaches a neighbour's model call. Requests
that follow the signature but cannot be stacked (an input with no first axis, inputs with
different row counts, values that are not arrays) get the key ``None`` and run alone.

:func:`merge` concatenates each input on axis 0; :func:`split` cuts each output back by each
request's row count, in order (MLServer's minibatch bookkeeping). numpy is imported lazily,
like :mod:`serving.scoring.tensors`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from serving.scoring.exceptions import BadInputError
from serving.scoring.tensors import TensorSpec

if TYPE_CHECKING:
    import numpy as np

BatchKey = tuple[tuple[str, str, tuple[int, ...]], ...]
"""Per input, sorted by name: (name, numpy dtype string, shape after the first axis)."""


class NotRowAlignedError(ValueError):
    """A batched call returned an output whose first axis is not the batch's row count."""


def check_signature(inputs: Mapping[str, Any], specs: Sequence[TensorSpec]) -> None:
    """Raise :class:`BadInputError` when ``inputs`` break the declared ``specs``: a missing
    or unknown input name, or a rank or fixed dimension that differs from the spec (a
    ``-1`` dimension takes any size). Nothing is checked when the model declares no inputs.
    """
    if not specs:
        return
    declared = {spec.name: spec for spec in specs}
    missing = sorted(set(declared) - set(inputs))
    unknown = sorted(set(inputs) - set(declared))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing input(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown input(s) {', '.join(unknown)}")
        raise BadInputError(f"{'; '.join(parts)}; the model takes {', '.join(sorted(declared))}")
    for name, value in inputs.items():
        shape = getattr(value, "shape", None)
        if shape is None:
            continue  # not an array: the model decides (it runs alone)
        expected = declared[name].shape
        fits = len(shape) == len(expected) and all(
            want < 0 or want == got for want, got in zip(expected, shape, strict=True)
        )
        if not fits:
            raise BadInputError(
                f"input {name} has shape {list(shape)}; the model expects {list(expected)}"
                " (-1: any size)"
            )


def batch_key(inputs: Mapping[str, Any], specs: Sequence[TensorSpec]) -> BatchKey | None:
    """The key that decides which requests may share a model call, after
    :func:`check_signature`; None: the request cannot be stacked and runs alone."""
    check_signature(inputs, specs)
    import numpy as np

    rows: int | None = None
    key = []
    for name in sorted(inputs):
        value = inputs[name]
        if not isinstance(value, np.ndarray) or value.ndim == 0:
            return None
        if rows is None:
            rows = value.shape[0]
        elif value.shape[0] != rows:
            return None
        key.append((name, value.dtype.str, tuple(value.shape[1:])))
    return tuple(key) if key else None


def row_count(inputs: Mapping[str, np.ndarray]) -> int:
    """The request's rows: the first axis of any input (they agree when it has a key)."""
    return int(next(iter(inputs.values())).shape[0])


def merge(requests: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One model input from requests of the same key: each input concatenated on axis 0."""
    import numpy as np

    return {name: np.concatenate([r[name] for r in requests], axis=0) for name in requests[0]}


def split(outputs: Mapping[str, Any], rows: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """The batched ``outputs`` cut back into one dict per request, ``rows[i]`` rows each.

    Raises :class:`NotRowAlignedError` when an output is not an array whose first axis is
    the total row count: such a model's outputs cannot be attributed to requests.
    """
    total = sum(rows)
    for name, value in outputs.items():
        shape = getattr(value, "shape", ())
        if not shape or shape[0] != total:
            raise NotRowAlignedError(
                f"output {name} has shape {list(shape)}, not {total} rows first"
            )
    parts: list[dict[str, np.ndarray]] = []
    start = 0
    for n in rows:
        parts.append({name: value[start : start + n] for name, value in outputs.items()})
        start += n
    return parts

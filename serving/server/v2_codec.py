"""Open Inference Protocol (V2) tensors: request bodies to numpy arrays and arrays to bodies.

Two encodings, as in the protocol and Triton's binary tensor data extension
(``docs/protocol/extension_binary_data.md`` in triton-inference-server/server), which
``tritonclient`` uses by default:

* JSON: ``data`` nested (``[[1, 2], [3, 4]]``) or flat (``[1, 2, 3, 4]``), row-major; its
  element count must equal the shape's product and its values must fit the datatype
  (no silent float→int truncation or integer wrap-around). ``BYTES`` are JSON strings
  (UTF-8). ``FP16`` is refused in JSON (400): decimal text cannot say which half-precision
  value is meant; send it as binary. FP16 *outputs* requested as JSON are sent as numbers
  (every half is exactly a double).
* Binary: the body is the JSON header (its length in ``Inference-Header-Content-Length``)
  followed by each input's raw bytes, in input order, sized by its
  ``parameters.binary_data_size``: little-endian, row-major, BOOL one byte, BYTES as a
  4-byte little-endian length before each element. Outputs are sent binary when the
  requested output has ``parameters.binary_data: true`` or the request has
  ``parameters.binary_data_output: true``; the response is then ``application/octet-stream``
  with the same header.

Hand-written rather than taken from ``tritonclient``/``mlserver``: those are client or
whole-server packages (geventhttpclient, FastAPI, pydantic models per request), and the
per-request cost here decides the server's V2 throughput. JSON goes through ``orjson`` (a
runtime requirement): for a 100-row digits request it parses in 0.2 ms where the standard
library takes 1.9 ms, and writes numpy outputs directly (0.04 ms against 1 ms through
``tolist`` and ``json.dumps``). Like the protocol, it accepts strict JSON only (no ``NaN``).
Errors are :class:`V2Error` (status and a message for the client); numpy is imported when
the first request comes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from serving.scoring.tensors import V2_TO_NUMPY, TensorSpec, v2_datatype

if TYPE_CHECKING:
    import numpy as np

HEADER_LENGTH = "Inference-Header-Content-Length"
_INT_TYPES = frozenset({"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"})
_JSON_KINDS = {"BOOL": "b", "FP32": "iuf", "FP64": "iuf", **dict.fromkeys(_INT_TYPES, "iu")}


_NUMPY_JSON = frozenset(
    {
        "BOOL",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "FP32",
        "FP64",
    }
)
"""Datatypes whose arrays ``orjson.OPT_SERIALIZE_NUMPY`` writes (FP16 goes through lists)."""


class V2Error(Exception):
    """A request the server answers with ``{"error": message}`` and ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class InferRequest(NamedTuple):
    """A decoded inference request."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: tuple[tuple[str, bool], ...] | None
    """Requested outputs as (name, binary), in order; None: all, in the model's order."""
    binary_output: bool
    """``parameters.binary_data_output``: outputs not requested by name are sent binary."""


def decode_request(body: bytes, header_length: str | None) -> InferRequest:
    """Decode a JSON body, or a binary-extension body whose JSON header is ``header_length``
    bytes long (the ``Inference-Header-Content-Length`` value, None when absent)."""
    if header_length is None:
        header, binary = _json_object(body), None
    else:
        try:
            size = int(header_length)
        except ValueError:
            raise V2Error(400, f"{HEADER_LENGTH} must be an integer") from None
        if not 0 < size <= len(body):
            raise V2Error(400, f"{HEADER_LENGTH} {size} does not fit a body of {len(body)} bytes")
        header, binary = _json_object(body[:size]), memoryview(bytearray(body[size:]))
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise V2Error(400, "'id' must be a string")
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise V2Error(400, "'inputs' must be a non-empty list of tensors")
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for item in raw_inputs:
        name, datatype, shape, params = _tensor_header(item)
        if name in inputs:
            raise V2Error(400, f"input {name} is sent twice")
        nbytes = params.get("binary_data_size")
        if nbytes is None:
            inputs[name] = _from_json(name, datatype, shape, item.get("data"))
            continue
        if binary is None or type(nbytes) is not int or not 0 <= nbytes <= len(binary) - offset:
            raise V2Error(400, f"input {name}: binary_data_size {nbytes!r} does not fit the body")
        inputs[name] = _from_binary(name, datatype, shape, binary[offset : offset + nbytes])
        offset += nbytes
    if binary is not None and offset != len(binary):
        raise V2Error(400, f"{len(binary) - offset} bytes after the header belong to no input")
    params = _parameters(header, "request")
    return InferRequest(
        request_id,
        inputs,
        _requested(header.get("outputs")),
        params.get("binary_data_output") is True,
    )


def _json_object(raw: bytes | memoryview) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError):
        raise V2Error(400, "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise V2Error(400, "the request body must be a JSON object")
    return value


def _parameters(item: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    params = item.get("parameters")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise V2Error(400, f"'parameters' of the {what} must be an object")
    return params


def _tensor_header(item: Any) -> tuple[str, str, tuple[int, ...], Mapping[str, Any]]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise V2Error(400, "every input must be an object with a 'name'")
    name = item["name"]
    datatype = item.get("datatype")
    if datatype not in V2_TO_NUMPY:
        raise V2Error(
            400, f"input {name}: datatype {datatype!r} is not one of {', '.join(V2_TO_NUMPY)}"
        )
    shape = item.get("shape")
    if not isinstance(shape, list) or not all(
        type(d) is int and d >= 0
        for d in shape  # type(d) is int: a bool is not a dimension
    ):
        raise V2Error(400, f"input {name}: 'shape' must be a list of non-negative integers")
    return name, datatype, tuple(shape), _parameters(item, f"input {name}")


def _from_json(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    import numpy as np

    if datatype == "FP16":
        raise V2Error(400, f"input {name}: FP16 cannot be sent as JSON; send it as binary data")
    if not isinstance(data, list):
        raise V2Error(400, f"input {name}: 'data' must be a (nested or flat) list")
    if datatype == "BYTES":
        flat = _flatten(data, name)
        if not all(isinstance(v, str) for v in flat):
            raise V2Error(400, f"input {name}: BYTES data must be strings")
        array = np.empty(len(flat), dtype=object)
        array[:] = [v.encode() for v in flat]
    else:
        try:
            array = np.asarray(data)
        except (ValueError, OverflowError):
            raise V2Error(400, f"input {name}: 'data' is ragged or not numbers") from None
        if datatype in _INT_TYPES and array.dtype.kind in "fO":  # floats, or UINT64 > 2**63
            array = _big_ints(_flatten(data, name), name, datatype)
        if array.size and array.dtype.kind not in _JSON_KINDS[datatype]:
            kind = "booleans" if datatype == "BOOL" else f"{datatype} values"
            raise V2Error(400, f"input {name}: 'data' must hold {kind}")
        if datatype in _INT_TYPES and array.size and array.dtype.kind != "b":
            info = np.iinfo(V2_TO_NUMPY[datatype])
            if array.min() < info.min or array.max() > info.max:
                raise V2Error(400, f"input {name}: a value is out of the range of {datatype}")
        array = array.astype(V2_TO_NUMPY[datatype], copy=False)
    return _reshape(array, name, shape)


def _big_ints(flat: list[Any], name: str, datatype: str) -> np.ndarray:
    import numpy as np

    info = np.iinfo(V2_TO_NUMPY[datatype])
    if not all(type(v) is int and info.min <= v <= info.max for v in flat):
        raise V2Error(400, f"input {name}: 'data' must hold {datatype} values in its range")
    return np.array(flat, dtype=info.dtype)


def _flatten(data: list[Any], name: str) -> list[Any]:
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                if len(stack) > 32:
                    raise V2Error(400, f"input {name}: 'data' is nested too deeply")
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def _reshape(array: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    count = math.prod(shape)
    if array.size != count:
        raise V2Error(
            400,
            f"input {name}: shape {list(shape)} holds {count} elements but 'data' has {array.size}",
        )
    return array.reshape(shape)


def _from_binary(name: str, datatype: str, shape: tuple[int, ...], raw: memoryview) -> np.ndarray:
    import numpy as np

    if datatype == "BYTES":
        items: list[bytes] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise V2Error(400, f"input {name}: truncated BYTES element")
            length = int.from_bytes(raw[offset : offset + 4], "little")
            offset += 4
            if offset + length > len(raw):
                raise V2Error(400, f"input {name}: truncated BYTES element")
            items.append(bytes(raw[offset : offset + length]))
            offset += length
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return _reshape(array, name, shape)
    dtype = np.dtype(V2_TO_NUMPY[datatype]).newbyteorder("<")
    count = math.prod(shape)
    if len(raw) != count * dtype.itemsize:
        raise V2Error(
            400,
            f"input {name}: shape {list(shape)} of {datatype} needs {count * dtype.itemsize} "
            f"bytes but binary_data_size is {len(raw)}",
        )
    array = np.frombuffer(raw, dtype=dtype)
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return array.reshape(shape)


def _requested(outputs: Any) -> tuple[tuple[str, bool], ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise V2Error(400, "'outputs' must be a list of objects with a 'name'")
    requested: list[tuple[str, bool]] = []
    for item in outputs:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise V2Error(400, "'outputs' must be a list of objects with a 'name'")
        params = _parameters(item, f"output {item['name']}")
        requested.append((item["name"], params.get("binary_data") is True))
    return tuple(requested)


def conform(inputs: dict[str, np.ndarray], specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """Check the inputs against a model's declared ones (none declared: as they are):
    the same names, shapes that match where the declaration is not -1, and numeric inputs
    cast to the declared datatype (BYTES and numbers do not mix)."""
    if not specs:
        return inputs
    names = {spec.name for spec in specs}
    unknown = sorted(set(inputs) - names)
    if unknown:
        raise V2Error(
            400, f"unknown input {unknown[0]}; the model takes {', '.join(sorted(names))}"
        )
    conformed: dict[str, np.ndarray] = {}
    for spec in specs:
        array = inputs.get(spec.name)
        if array is None:
            raise V2Error(400, f"input {spec.name} is missing")
        if len(array.shape) != len(spec.shape) or any(
            want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True)
        ):
            raise V2Error(
                400, f"input {spec.name}: shape {list(array.shape)} does not fit {list(spec.shape)}"
            )
        sent = v2_datatype(array.dtype)
        if sent != spec.datatype:
            if "BYTES" in (sent, spec.datatype):
                raise V2Error(
                    400, f"input {spec.name}: datatype {sent}; the model takes {spec.datatype}"
                )
            array = array.astype(V2_TO_NUMPY[spec.datatype])
        conformed[spec.name] = array
    return conformed


def encode_response(
    header: dict[str, Any], outputs: Sequence[tuple[str, np.ndarray, bool]]
) -> tuple[bytes, int | None]:
    """The response body for ``header`` (model name, version, id) plus ``outputs`` as
    (name, array, binary); and the JSON header's length when any output is binary."""
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array, binary in outputs:
        try:
            datatype = v2_datatype(array.dtype)
        except ValueError as exc:
            raise V2Error(500, f"output {name}: {exc}") from None
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            blob = _binary(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = _json_data(array, datatype, name)
        tensors.append(tensor)
    header["outputs"] = tensors
    text = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return text, None
    return b"".join((text, *blobs)), len(text)


def _json_data(array: np.ndarray, datatype: str, name: str) -> Any:
    if datatype in _NUMPY_JSON:  # orjson writes these arrays itself (native order, contiguous)
        import numpy as np

        return np.ascontiguousarray(array.ravel()).astype(array.dtype.newbyteorder("="))
    if datatype != "BYTES":
        return array.ravel().tolist()
    try:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in array.ravel().tolist()]
    except UnicodeDecodeError:
        raise V2Error(
            500, f"output {name} holds bytes that are not UTF-8: request it as binary data"
        ) from None


def _binary(array: np.ndarray, datatype: str) -> bytes:
    if datatype != "BYTES":
        return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    parts: list[bytes] = []
    for value in array.ravel().tolist():
        raw = value if isinstance(value, bytes) else str(value).encode()
        parts.append(len(raw).to_bytes(4, "little"))
        parts.append(raw)
    return b"".join(parts)

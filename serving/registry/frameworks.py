"""Detect a model's framework from its files, without loading (or executing) them.

Pickles and joblib files are read with :mod:`pickletools`, which walks opcodes and never
imports or calls anything: a scikit-learn estimator shows up as ``sklearn.*`` globals and
its training version as the ``_sklearn_version`` string in its state.
"""

from __future__ import annotations

import bz2
import gzip
import importlib.metadata
import io
import lzma
import pickletools
import zlib
from dataclasses import dataclass
from pathlib import Path

from serving.errors import UserInputError

FRAMEWORKS = ("sklearn", "tensorflow", "onnx", "custom")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".pkl.gz", ".joblib.gz")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
"""Model file names, shared with serving.convert; serving.scoring.nocode.files (a layer
below) holds equal tuples, which tests keep equal."""
_READ_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Detected:
    framework: str
    version: str | None


FRAMEWORK_ALIASES = {
    "scikitlearn": "sklearn",
    "sklearn": "sklearn",
    "tensorflow": "tensorflow",
    "tfkeras": "tensorflow",
    "onnx": "onnx",
    "custom": "custom",
    "pytorch": "custom",
    "multi": "custom",
}


def framework_id(value: str | None) -> str | None:
    """The registry id of an Azure ``Model.Framework`` name (None stays None)."""
    if value is None:
        return None
    found = FRAMEWORK_ALIASES.get(value.lower())
    if found is None:
        raise UserInputError(
            f"unknown model_framework {value!r}: use one of "
            "ScikitLearn, TensorFlow, TfKeras, Onnx, PyTorch, Custom"
        )
    return found


def _installed(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _decompress(head: bytes, data: bytes) -> bytes:
    try:
        if head.startswith(b"\x1f\x8b"):
            return gzip.decompress(data)
        if head.startswith(b"BZh"):
            return bz2.decompress(data)
        if head.startswith(b"\xfd7zXZ"):
            return lzma.decompress(data)
        if head[:1] == b"\x78":
            return zlib.decompressobj().decompress(data)
        if head.startswith(b"ZF"):  # joblib's own zlib container: 'ZF' + length header
            return zlib.decompressobj().decompress(data[data.index(b"x") :])
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        return data
    return data


def scan_pickle(path: Path) -> Detected | None:
    """Return sklearn (with version) for a pickled estimator, else None."""
    with path.open("rb") as fh:
        data = fh.read(_READ_LIMIT)
    data = _decompress(data[:8], data)
    modules: set[str] = set()
    strings: list[str] = []
    version: str | None = None
    try:
        for opcode, arg, _pos in pickletools.genops(io.BytesIO(data)):
            if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                modules.add(arg.split(" ", 1)[0])
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                modules.add(strings[-2])
            elif isinstance(arg, str) and "UNICODE" in opcode.name:
                if strings and strings[-1] == "_sklearn_version" and version is None:
                    version = arg
                strings.append(arg)
            if opcode.name == "STOP":
                break
    except Exception:
        pass
    if any(m == "sklearn" or m.startswith("sklearn.") for m in modules):
        return Detected("sklearn", version or _installed("scikit-learn"))
    if any(m.startswith(("xgboost", "lightgbm")) for m in modules):
        return Detected("custom", None)
    return None


def detect(path: Path) -> Detected:
    """Best guess of ``path``'s framework; ``custom`` when nothing matches."""
    if path.is_dir():
        if any((path / name).is_file() for name in SAVED_MODEL_FILES):
            return Detected("tensorflow", _installed("tensorflow") or _installed("tensorflow-cpu"))
        files = sorted(p for p in path.rglob("*") if p.is_file())
        found = [detect(p) for p in files[:50]]
        for wanted in ("tensorflow", "onnx", "sklearn"):
            for item in found:
                if item.framework == wanted:
                    return item
        return Detected("custom", None)
    name = path.name.lower()
    if name.endswith(".onnx"):
        return Detected("onnx", _installed("onnx") or _installed("onnxruntime"))
    if name.endswith(KERAS_SUFFIXES):
        return Detected("tensorflow", _installed("tensorflow") or _installed("tensorflow-cpu"))
    if name.endswith(PICKLE_SUFFIXES):
        return scan_pickle(path) or Detected("custom", None)
    return Detected("custom", None)

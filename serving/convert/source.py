"""The model being converted: find its file in a downloaded version and load it.

A registered version is a file or a folder. A TensorFlow SavedModel is a folder with
``saved_model.pb`` at its top; anything else is the one file in it whose suffix belongs to
the framework (``.pkl``/``.joblib``... for scikit-learn, ``.keras``/``.h5`` for Keras).
Loading a pickle runs code from it: only the workspace's own registered models are loaded,
as a deployment of them would.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from serving.errors import UserInputError
from serving.registry import ModelRecord
from serving.registry.frameworks import KERAS_SUFFIXES, PICKLE_SUFFIXES

if TYPE_CHECKING:
    import numpy as np
    import onnx

CONVERTIBLE = ("sklearn", "tensorflow")


class Original(Protocol):
    """A loaded model that can answer a sample and be converted to ONNX."""

    converter: str
    """The converter and its version, e.g. ``skl2onnx 1.20.0``."""
    outputs: tuple[str, ...]
    """The names of the outputs compared, in the converted graph's order."""
    labels: frozenset[str]
    """Those outputs that are class labels (compared exactly)."""
    input_shape: tuple[int | None, ...]
    """One row's shape (no batch axis); None where any size is accepted."""

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The original's answers to the float32 rows ``x``, by output name."""
        ...

    def to_onnx(self, opset: int) -> onnx.ModelProto:
        """The converted graph: one float32 input named ``input``, outputs :attr:`outputs`."""
        ...


def unsupported(record: ModelRecord, what: str, hint: str | None = None) -> UserInputError:
    return UserInputError(f"cannot convert {record.ref} to ONNX: {what}", hint=hint)


def check_convertible(record: ModelRecord) -> None:
    if record.framework == "onnx":
        raise unsupported(record, "it is an ONNX model already")
    if record.framework not in CONVERTIBLE:
        raise unsupported(
            record,
            f"framework {record.framework!r} has no converter "
            "(scikit-learn and TensorFlow/Keras models are converted)",
            hint="if it is one, register it with --framework sklearn or tensorflow",
        )


def model_file(record: ModelRecord, path: Path) -> Path:
    """The file (or SavedModel folder) of ``record``, downloaded to ``path``: found as
    no-code deployments find theirs, but exactly one must match."""
    # imported here: serving.scoring.nocode brings numpy, which the CLI does not load to start
    from serving.scoring.nocode import files

    if files.is_saved_model(path):
        return path
    suffixes = PICKLE_SUFFIXES if record.framework == "sklearn" else KERAS_SUFFIXES
    if path.is_file():
        if not files.is_model_file(path, suffixes):
            wanted = ", ".join(suffixes)
            raise unsupported(
                record, f"{path.name} is not a {record.framework} model file ({wanted})"
            )
        return path
    if record.framework == "tensorflow":
        saved = files.find_all(path, files.is_saved_model)
        if len(saved) == 1:
            return saved[0]
    candidates = files.find_all(path, lambda p: files.is_model_file(p, suffixes))
    if len(candidates) != 1:
        found = "none" if not candidates else ", ".join(p.name for p in candidates)
        raise unsupported(
            record, f"expected one model file ({', '.join(suffixes)}) in its folder, found {found}"
        )
    return candidates[0]


def load(record: ModelRecord, path: Path) -> Original:
    """Load the downloaded ``record`` at ``path`` as an :class:`Original`."""
    check_convertible(record)
    found = model_file(record, path)
    if record.framework == "sklearn":
        from serving.convert.sklearn import SklearnModel

        return SklearnModel.load(record, found)
    from serving.convert.keras import KerasModel

    return KerasModel.load(record, found)


def need_extra(exc: ImportError) -> UserInputError:
    return UserInputError(
        f"converting models needs {exc.name or 'a converter package'}, which is not installed",
        hint="pip install 'serving[convert]'",
    )

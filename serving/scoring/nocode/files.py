"""Find a no-code model's file inside ``AZUREML_MODEL_DIR``.

The model folder is either one model version's folder (``azureml-models/<name>/<version>``,
holding the registered file or folder) or the models root (several models). The model's
name and version narrow a root down to its version folder; inside it the first file (in
sorted order) that looks like the framework's model is taken. The helpers here also find
the model file that serving.convert converts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from serving.errors import NotFoundError

MODELS_FOLDER = "azureml-models"

ONNX_SUFFIXES = (".onnx", ".ort")
SKLEARN_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".pkl.gz", ".joblib.gz")
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
"""Equal to serving.registry.frameworks' PICKLE_SUFFIXES and SAVED_MODEL_FILES (registry is a
layer above, so it cannot be imported here; a test keeps them equal)."""


def model_root(model_dir: Path | None, name: str = "", version: str = "") -> Path:
    """The folder to look in: ``model_dir`` or, when it is a models root, the version folder
    of ``name:version`` (the highest version when none is given) if present."""
    if model_dir is None:
        raise NotFoundError("no-code deployment without a model folder (AZUREML_MODEL_DIR)")
    root = Path(model_dir)
    if root.name != MODELS_FOLDER and (root / MODELS_FOLDER).is_dir():
        root = root / MODELS_FOLDER
    if name and (root / name).is_dir():
        versions = sorted((p for p in (root / name).iterdir() if p.is_dir()), key=_version_key)
        chosen = root / name / version if version else (versions[-1] if versions else None)
        if chosen is not None and chosen.is_dir():
            root = chosen
    if not root.exists():
        raise NotFoundError(f"model folder {root} does not exist")
    return root


def _version_key(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (-1, path.name)


def find_file(root: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """The first file under ``root`` ending in one of ``suffixes`` (``root`` itself if it is
    such a file)."""
    return _first(root, lambda p: is_model_file(p, suffixes), what)


def find_saved_model(root: Path) -> Path:
    """The first folder under ``root`` (``root`` included) holding a ``saved_model.pb``
    (or ``.pbtxt``)."""
    return _first(root, is_saved_model, "TensorFlow SavedModel")


def is_model_file(path: Path, suffixes: tuple[str, ...]) -> bool:
    """A file whose name ends in one of ``suffixes`` (``.pkl.gz`` included), any case."""
    return path.is_file() and path.name.lower().endswith(suffixes)


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in SAVED_MODEL_FILES)


def find_all(root: Path, match: Callable[[Path], bool]) -> list[Path]:
    """``[root]`` if it matches, else every path under it that matches, in sorted order."""
    if match(root):
        return [root]
    return [path for path in _under(root) if match(path)]


def _first(root: Path, match: Callable[[Path], bool], what: str) -> Path:
    if match(root):
        return root
    for path in _under(root):
        if match(path):
            return path
    raise NotFoundError(f"no {what} found in the model folder {root}")


def _under(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.is_dir() else []

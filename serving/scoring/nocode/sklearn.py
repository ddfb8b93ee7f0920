"""The no-code scorer of scikit-learn models: a pickled estimator (joblib or pickle file).

Its signature: one input ``input`` (FP64, ``[-1, n_features_in_]``); outputs ``predict``
and, for classifiers that have it, ``predict_proba`` (FP64, ``[-1, n_classes]``).
Loading a pickle runs code from the file: only registered models of this workspace are
served, as with Azure ML's no-code deployments.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.scoring.tensors import TensorSpec, v2_datatype

if TYPE_CHECKING:
    import numpy as np

INPUT = "input"


def load_estimator(path: Path) -> Any:
    """The estimator in ``path`` (joblib first, plain pickle when joblib is absent)."""
    try:
        import joblib
    except ImportError:
        import pickle

        with path.open("rb") as handle:
            return pickle.load(handle)
    return joblib.load(path)


class SklearnModel:
    """A fitted scikit-learn estimator as a tensor model."""

    platform = "sklearn_joblib"

    def __init__(self, path: Path, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self.estimator = load_estimator(path)
        if not callable(getattr(self.estimator, "predict", None)):
            raise TypeError(f"{path} holds a {type(self.estimator).__name__}, not an estimator")
        width = int(getattr(self.estimator, "n_features_in_", -1))
        self.inputs = (TensorSpec(INPUT, "FP64", (-1, width)),)
        classes: Any = getattr(self.estimator, "classes_", None)
        predict_type = "FP64" if classes is None else v2_datatype(classes.dtype)
        outputs = [TensorSpec("predict", predict_type, (-1,))]
        self._proba = classes is not None and callable(
            getattr(self.estimator, "predict_proba", None)
        )
        if self._proba:
            outputs.append(TensorSpec("predict_proba", "FP64", (-1, len(classes))))
        self.outputs = tuple(outputs)

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``predict`` (and ``predict_proba``) of the rows in ``inputs["input"]``."""
        rows = inputs[INPUT]
        result = {"predict": self.estimator.predict(rows)}
        if self._proba:
            result["predict_proba"] = self.estimator.predict_proba(rows)
        return result

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Only the predictions (what ``/score`` returns)."""
        return self.estimator.predict(rows)  # type: ignore[no-any-return]

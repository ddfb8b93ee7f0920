"""An estimator skl2onnx has no converter for (importable, so its pickle loads)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class Doubler(RegressorMixin, BaseEstimator):
    """Predicts twice the first feature."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def predict(self, x: Any) -> Any:
        return 2.0 * np.asarray(x)[:, 0]

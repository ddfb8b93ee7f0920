"""Tiny models trained on scikit-learn's bundled data sets, saved once per session."""

from __future__ import annotations

import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.convert.custom import Doubler


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("convert-models")


@pytest.fixture(scope="session")
def digits_x() -> np.ndarray:
    x, _y = load_digits(return_X_y=True)
    return np.asarray(x)


@pytest.fixture(scope="session")
def pipeline_pkl(models_dir: Path) -> Path:
    """StandardScaler + LogisticRegression on digits (64 features, 10 classes)."""
    x, y = load_digits(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
    path = models_dir / "pipeline.pkl"
    joblib.dump(model, path)
    return path


@pytest.fixture(scope="session")
def regressor_joblib(models_dir: Path) -> Path:
    """Ridge on diabetes (10 features)."""
    x, y = load_diabetes(return_X_y=True)
    path = models_dir / "ridge.joblib"
    joblib.dump(Ridge().fit(x, y), path)
    return path


@pytest.fixture(scope="session")
def custom_pkl(models_dir: Path) -> Path:
    """A pipeline whose last step has no skl2onnx converter."""
    path = models_dir / "doubler.pkl"
    joblib.dump(make_pipeline(StandardScaler(), Doubler()).fit(np.eye(4)), path)
    return path


@pytest.fixture(scope="session")
def keras_file(models_dir: Path) -> Path:
    """A small dense Keras 3 classifier on digits (64 → 16 → 10 softmax), one epoch."""
    with warnings.catch_warnings():  # TF and Keras warn on import and save (numpy 2)
        warnings.simplefilter("ignore")
        import keras

        x, y = load_digits(return_X_y=True)
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x / 16.0, y, epochs=1, verbose=0)
        path = models_dir / "digits.keras"
        model.save(path)
    return path

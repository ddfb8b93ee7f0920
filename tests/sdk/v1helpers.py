"""Helpers of the v1-style SDK tests (import as ``tests.sdk.v1helpers``)."""

from __future__ import annotations

from serving.sdk import CondaDependencies, Environment
from tests.helpers import SKLEARN

SCORE = SKLEARN / "score.py"


def digits_env(name: str = "digits-env") -> Environment:
    """An Environment built the v1 way, with the same packages as the scikit-learn
    template's env.yml, so it shares the template's venv in the session cache."""
    env = Environment(name)
    env.python.conda_dependencies = CondaDependencies.create(
        conda_packages=["scikit-learn=1.9", "numpy>=2.0"],
        pip_packages=["azureml-defaults", "inference-schema[numpy-support]", "joblib"],
        python_version="3.11",
    )
    return env

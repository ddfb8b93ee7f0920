"""Curated environments: Azure ML's ``AzureML-*`` names, resolved to local approximations.

Azure's curated environments are prebuilt images of a given Ubuntu, Python and framework
version. Here each name maps to an environment with the same kind of packages (the
framework, numpy/pandas/joblib) on this platform's Python; the exact versions differ, so
getting one warns (:class:`CuratedEnvironmentNotice`) that it is an approximation.
"""

from __future__ import annotations

import re
import sys
import warnings

from serving.environments import EnvSpec
from serving.sdk.conda_dependencies import CondaDependencies

_COMMON = ("numpy", "pandas", "joblib", "inference-schema[numpy-support]")
CURATED: dict[str, tuple[str, ...]] = {
    "AzureML-Minimal": (),
    "AzureML-Tutorial": ("scikit-learn", "matplotlib", *_COMMON),
    "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu": ("scikit-learn", "scipy", *_COMMON),
    "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu": ("scikit-learn", "scipy", *_COMMON),
    "AzureML-sklearn-1.5": ("scikit-learn", "scipy", *_COMMON),
    "AzureML-Scikit-learn-0.20.3": ("scikit-learn", *_COMMON),
    "AzureML-AutoML": ("scikit-learn", "scipy", *_COMMON),
    "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu": ("lightgbm", "scikit-learn", *_COMMON),
    "AzureML-tensorflow-2.4-ubuntu18.04-py37-cpu-inference": ("tensorflow-cpu", *_COMMON),
    "AzureML-TensorFlow-2.3-CPU": ("tensorflow-cpu", *_COMMON),
    "AzureML-pytorch-1.10-ubuntu18.04-py37-cpu-inference": ("torch", *_COMMON),
    "AzureML-PyTorch-1.6-CPU": ("torch", *_COMMON),
    "AzureML-onnxruntime-1.6-ubuntu18.04-py37-cpu-inference": ("onnxruntime", *_COMMON),
}
"""Curated names -> the pip packages of their local approximation (the serving runtime is
always there)."""
_PATTERN = re.compile(r"^azureml-(?P<framework>[a-z]+)", re.IGNORECASE)
_FRAMEWORKS = {
    "sklearn": ("scikit-learn", "scipy"),
    "scikit": ("scikit-learn",),
    "tensorflow": ("tensorflow-cpu",),
    "pytorch": ("torch",),
    "lightgbm": ("lightgbm", "scikit-learn"),
    "onnxruntime": ("onnxruntime",),
    "xgboost": ("xgboost", "scikit-learn"),
}


class CuratedEnvironmentNotice(UserWarning):
    """A curated environment is an approximation: same kind of packages, local versions."""


def is_curated(name: str) -> bool:
    return name.lower().startswith("azureml-")


def curated_packages(name: str) -> tuple[str, ...] | None:
    """The packages of curated ``name`` (a listed one, or ``AzureML-<framework>-...``)."""
    for known, packages in CURATED.items():
        if known.lower() == name.lower():
            return packages
    match = _PATTERN.match(name)
    if match and match.group("framework").lower() in _FRAMEWORKS:
        return (*_FRAMEWORKS[match.group("framework").lower()], *_COMMON)
    return None


def curated_spec(name: str, *, notify: bool = True) -> EnvSpec | None:
    """The local approximation of curated ``name`` (None: not a curated name here)."""
    packages = curated_packages(name)
    if packages is None:
        return None
    if notify:
        python = f"{sys.version_info[0]}.{sys.version_info[1]}"
        listed = ", ".join(packages) or "the serving runtime only"
        warnings.warn(
            f"{name} is a curated Azure environment: here it is an approximation "
            f"(Python {python}, {listed}; versions differ)",
            CuratedEnvironmentNotice,
            stacklevel=3,
        )
    return CondaDependencies.create(pip_packages=packages).to_spec(name)


__all__ = ["CURATED", "CuratedEnvironmentNotice", "curated_packages", "curated_spec", "is_curated"]

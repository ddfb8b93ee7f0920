"""Shim of ``azureml.train.hyperdrive``: HyperDriveConfig, the samplings, parameter
expressions and policies, and HyperDriveRun from :mod:`serving.sdk.hyperdrive`, loaded on
first use (a deployment image that never touches it does not import the SDK)."""

from __future__ import annotations

import importlib
from typing import Any

_FROM_SDK = (
    "AshaPolicy",
    "BanditPolicy",
    "BayesianParameterSampling",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveRun",
    "HyperParameterSampling",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TruncationSelectionPolicy",
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
)

__all__ = [*_FROM_SDK]


def __getattr__(name: str) -> Any:
    if name in _FROM_SDK:
        return getattr(importlib.import_module("serving.sdk.hyperdrive"), name)
    raise AttributeError(f"module 'azureml.train.hyperdrive' has no attribute {name!r}")

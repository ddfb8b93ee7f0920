"""Shim of ``azureml.train.hyperdrive.parameter_expressions``: v1's expressions
(``choice``, ``uniform``, ``loguniform``, ...) from :mod:`serving.runs.sweeps.space`."""

from __future__ import annotations

import importlib
from typing import Any

_FROM_SDK = (
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
        return getattr(importlib.import_module("serving.runs.sweeps.space"), name)
    raise AttributeError(
        f"module 'azureml.train.hyperdrive.parameter_expressions' has no attribute {name!r}"
    )

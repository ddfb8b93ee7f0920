"""Shim of ``azureml.train.estimator``: ``Estimator`` from :mod:`serving.sdk.estimator`,
loaded on first use (a deployment image that never touches it does not import the SDK)."""

from __future__ import annotations

import importlib
from typing import Any

_FROM_SDK = ("Estimator",)

__all__ = [*_FROM_SDK]


def __getattr__(name: str) -> Any:
    if name in _FROM_SDK:
        return getattr(importlib.import_module("serving.sdk.estimator"), name)
    raise AttributeError(f"module 'azureml.train.estimator' has no attribute {name!r}")

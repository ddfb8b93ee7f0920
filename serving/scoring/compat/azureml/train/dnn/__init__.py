"""Shim of ``azureml.train.dnn``: ``TensorFlow`` from :mod:`serving.sdk.estimator`, loaded on
first use (v1's PyTorch and Chainer estimators are not provided)."""

from __future__ import annotations

import importlib
from typing import Any

_FROM_SDK = ("TensorFlow",)

__all__ = [*_FROM_SDK]


def __getattr__(name: str) -> Any:
    if name in _FROM_SDK:
        return getattr(importlib.import_module("serving.sdk.estimator"), name)
    raise AttributeError(f"module 'azureml.train.dnn' has no attribute {name!r}")

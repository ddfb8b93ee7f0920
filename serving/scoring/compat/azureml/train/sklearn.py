"""Shim of ``azureml.train.sklearn``: ``SKLearn`` from :mod:`serving.sdk.estimator`, loaded
on first use."""

from __future__ import annotations

import importlib
from typing import Any

_FROM_SDK = ("SKLearn",)

__all__ = [*_FROM_SDK]


def __getattr__(name: str) -> Any:
    if name in _FROM_SDK:
        return getattr(importlib.import_module("serving.sdk.estimator"), name)
    raise AttributeError(f"module 'azureml.train.sklearn' has no attribute {name!r}")

"""Shim of ``azureml.pipeline.steps``: ``PythonScriptStep`` from :mod:`serving.sdk.pipeline`,
loaded on first use."""

from __future__ import annotations

import importlib
from typing import Any

_FROM_SDK = ("PythonScriptStep",)

__all__ = [*_FROM_SDK]


def __getattr__(name: str) -> Any:
    if name in _FROM_SDK:
        return getattr(importlib.import_module("serving.sdk.pipeline"), name)
    raise AttributeError(f"module 'azureml.pipeline.steps' has no attribute {name!r}")

"""Shim of ``azureml.core.conda_dependencies``: the SDK's classes, on first use."""

from __future__ import annotations

import importlib
from typing import Any

_FROM_SDK = ("CondaDependencies",)

__all__ = [*_FROM_SDK]


def __getattr__(name: str) -> Any:
    if name in _FROM_SDK:
        return getattr(importlib.import_module("serving.sdk"), name)
    raise AttributeError(f"module 'azureml.core.conda_dependencies' has no attribute {name!r}")

"""Shim of ``azureml.core.dataset``: the SDK's classes (:mod:`serving.sdk`), loaded on first use."""

from __future__ import annotations

import importlib
from typing import Any

_FROM_SDK = ("Dataset",)

__all__ = [*_FROM_SDK]


def __getattr__(name: str) -> Any:
    if name in _FROM_SDK:
        return getattr(importlib.import_module("serving.sdk"), name)
    raise AttributeError(f"module 'azureml.core.dataset' has no attribute {name!r}")

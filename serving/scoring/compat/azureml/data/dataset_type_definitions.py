"""Shim of ``azureml.data.dataset_type_definitions``: the SDK's constants, on first use."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = ("FileEncoding", "PromoteHeadersBehavior", "SkipLinesBehavior")

__all__ = [*_NAMES]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        module = importlib.import_module("serving.sdk.dataset_type_definitions")
        return getattr(module, name)
    raise AttributeError(
        f"module 'azureml.data.dataset_type_definitions' has no attribute {name!r}"
    )

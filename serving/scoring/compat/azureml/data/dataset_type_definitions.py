"""Shim of ``azureml.data.dataset_type_definitions``: the SDK's constants, on first use."""

from __future__ import annotations

from .._forward import forward

_NAMES = ("FileEncoding", "PromoteHeadersBehavior", "SkipLinesBehavior")

__all__ = [*_NAMES]


__getattr__ = forward(__name__, "serving.sdk.dataset_type_definitions", _NAMES)

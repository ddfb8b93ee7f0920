"""Shim of ``azureml.widgets``: the SDK's classes (:mod:`serving.sdk`), loaded on first use."""

from __future__ import annotations

from .._forward import forward

_FROM_SDK = ("RunDetails",)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk", _FROM_SDK)

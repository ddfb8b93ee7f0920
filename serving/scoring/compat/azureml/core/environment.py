"""Shim of ``azureml.core.environment``: the SDK's classes, on first use."""

from __future__ import annotations

from .._forward import forward

_FROM_SDK = (
    "Environment",
    "CondaDependencies",
)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk", _FROM_SDK)

"""Shim of ``azureml.core.conda_dependencies``: the SDK's classes, on first use."""

from __future__ import annotations

from .._forward import forward

_FROM_SDK = ("CondaDependencies",)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk", _FROM_SDK)

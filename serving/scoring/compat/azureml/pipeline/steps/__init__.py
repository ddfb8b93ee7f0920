"""Shim of ``azureml.pipeline.steps``: ``PythonScriptStep`` from :mod:`serving.sdk.pipeline`,
loaded on first use."""

from __future__ import annotations

from ..._forward import forward

_FROM_SDK = ("PythonScriptStep",)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk.pipeline", _FROM_SDK)

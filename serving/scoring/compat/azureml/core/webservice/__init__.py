"""Shim of ``azureml.core.webservice``: the SDK's classes, on first use."""

from __future__ import annotations

from ..._forward import forward

_FROM_SDK = (
    "Webservice",
    "AciWebservice",
    "AksWebservice",
    "LocalWebservice",
    "WebserviceException",
)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk", _FROM_SDK)

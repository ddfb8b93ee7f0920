"""Shim of ``azureml.train.estimator``: ``Estimator`` from :mod:`serving.sdk.estimator`,
loaded on first use (a deployment image that never touches it does not import the SDK)."""

from __future__ import annotations

from ..._forward import forward

_FROM_SDK = ("Estimator",)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk.estimator", _FROM_SDK)

"""Shim of ``azureml.train.sklearn``: ``SKLearn`` from :mod:`serving.sdk.estimator`, loaded
on first use."""

from __future__ import annotations

from .._forward import forward

_FROM_SDK = ("SKLearn",)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk.estimator", _FROM_SDK)

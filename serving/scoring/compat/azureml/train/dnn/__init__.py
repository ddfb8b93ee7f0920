"""Shim of ``azureml.train.dnn``: ``TensorFlow`` from :mod:`serving.sdk.estimator`, loaded on
first use (v1's PyTorch and Chainer estimators are not provided)."""

from __future__ import annotations

from ..._forward import forward

_FROM_SDK = ("TensorFlow",)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk.estimator", _FROM_SDK)

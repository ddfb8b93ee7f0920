"""Shim of ``azureml.train.hyperdrive.parameter_expressions``: v1's expressions
(``choice``, ``uniform``, ``loguniform``, ...) from :mod:`serving.runs.sweeps.space`."""

from __future__ import annotations

from ..._forward import forward

_FROM_SDK = (
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.runs.sweeps.space", _FROM_SDK)

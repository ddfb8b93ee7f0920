"""Shim of ``azureml.train.hyperdrive``: HyperDriveConfig, the samplings, parameter
expressions and policies, and HyperDriveRun from :mod:`serving.sdk.hyperdrive`, loaded on
first use (a deployment image that never touches it does not import the SDK)."""

from __future__ import annotations

from ..._forward import forward
from .parameter_expressions import _FROM_SDK as EXPRESSIONS

_FROM_SDK = (
    "AshaPolicy",
    "BanditPolicy",
    "BayesianParameterSampling",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveRun",
    "HyperParameterSampling",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TruncationSelectionPolicy",
    *EXPRESSIONS,
)

__all__ = [*_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk.hyperdrive", _FROM_SDK)

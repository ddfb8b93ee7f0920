"""Shim of ``azureml.core``: what entry scripts and training scripts import.

``Run`` and ``Model`` (the in-deployment model path lookup) load at once; the
workspace-side names (``Workspace``, ``Experiment``, ``Environment``, ``ScriptRunConfig``,
``Datastore``, ``ComputeTarget``, ...) come from :mod:`serving.sdk` on first use, so a
deployment image that never touches them does not import the SDK.
"""

from __future__ import annotations

from .._forward import forward
from .model import Model
from .run import Run

_FROM_SDK = (
    "ComputeTarget",
    "Dataset",
    "Datastore",
    "Environment",
    "Experiment",
    "RunConfiguration",
    "ScriptRunConfig",
    "Workspace",
    "VERSION",
    "Webservice",
)

__all__ = ["Model", "Run", *_FROM_SDK]


__getattr__ = forward(__name__, "serving.sdk", _FROM_SDK)

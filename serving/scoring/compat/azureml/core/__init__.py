"""Shim of ``azureml.core``: what entry scripts and training scripts import.

``Run`` and ``Model`` (the in-deployment model path lookup) load at once; the
workspace-side names (``Workspace``, ``Experiment``, ``Environment``, ``ScriptRunConfig``,
``Datastore``, ``ComputeTarget``, ...) come from :mod:`serving.sdk` on first use, so a
deployment image that never touches them does not import the SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _FROM_SDK:
        return getattr(importlib.import_module("serving.sdk"), name)
    raise AttributeError(f"module 'azureml.core' has no attribute {name!r}")

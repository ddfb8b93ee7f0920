"""Shim of ``azureml.pipeline.core``: ``Pipeline``, ``PipelineData``, ``PipelineParameter``,
``PipelineRun``, ``StepRun``, ``PortDataReference`` from the SDK, loaded on first use (a
deployment image that never touches them does not import the SDK)."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Pipeline": "serving.sdk.pipeline",
    "PipelineData": "serving.sdk.pipeline",
    "PipelineParameter": "serving.sdk.pipeline",
    "PipelineRun": "serving.sdk.pipeline_run",
    "StepRun": "serving.sdk.pipeline_run",
    "PortDataReference": "serving.sdk.pipeline_run",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'azureml.pipeline.core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

"""Shim of ``azureml.pipeline.core``: ``Pipeline``, ``PipelineData``, ``PipelineParameter``,
``PipelineRun``, ``StepRun``, ``PortDataReference`` from the SDK, loaded on first use (a
deployment image that never touches them does not import the SDK)."""

from __future__ import annotations

from ..._forward import forward

_WHERE = {
    "Pipeline": "serving.sdk.pipeline",
    "PipelineData": "serving.sdk.pipeline",
    "PipelineParameter": "serving.sdk.pipeline",
    "PipelineRun": "serving.sdk.pipeline_run",
    "StepRun": "serving.sdk.pipeline_run",
    "PortDataReference": "serving.sdk.pipeline_run",
}

__all__ = sorted(_WHERE)


__getattr__ = forward(__name__, "serving.sdk", _WHERE)

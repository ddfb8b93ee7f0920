"""Shim of ``azureml.pipeline``: v1's pipeline classes, from :mod:`serving.sdk.pipeline`
on first use (``azureml.pipeline.core``, ``azureml.pipeline.steps``)."""

from __future__ import annotations

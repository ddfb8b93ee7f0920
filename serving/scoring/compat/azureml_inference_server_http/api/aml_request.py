"""Same objects as ``azureml.contrib.services.aml_request`` (one ``@rawhttp`` flag)."""

from __future__ import annotations

from azureml.contrib.services.aml_request import AMLRequest, rawhttp

__all__ = ["AMLRequest", "rawhttp"]

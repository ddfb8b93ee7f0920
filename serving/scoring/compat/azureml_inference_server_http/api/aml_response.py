"""Same class as ``azureml.contrib.services.aml_response.AMLResponse``."""

from __future__ import annotations

from azureml.contrib.services.aml_response import AMLResponse

__all__ = ["AMLResponse"]

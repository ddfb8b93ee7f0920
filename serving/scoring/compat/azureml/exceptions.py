"""Exceptions of the ``azureml`` shims, importable as ``azureml.exceptions``."""

from __future__ import annotations


class AzureMLException(Exception):
    """Base class, like ``azureml.exceptions.AzureMLException``."""

    def __init__(self, exception_message: str = "", **kwargs: object) -> None:
        super().__init__(exception_message)
        self.message = exception_message


class WebserviceException(AzureMLException):
    """Raised for model lookup problems other than a missing model."""


class ModelNotFoundException(WebserviceException):
    """``Model.get_model_path`` found no model of that name (and version)."""


class RunEnvironmentException(AzureMLException):
    """Raised by the real SDK outside a run; kept so ``except`` clauses still resolve."""


from serving.runs.errors import (  # noqa: E402 - the run-side names, same classes as the SDK's
    ActivityFailedException,
    ExperimentExecutionException,
    ModelPathNotFoundException,
    UserErrorException,
)

__all__ = [
    "ActivityFailedException",
    "AzureMLException",
    "ExperimentExecutionException",
    "ModelNotFoundException",
    "ModelPathNotFoundException",
    "RunEnvironmentException",
    "UserErrorException",
    "WebserviceException",
]

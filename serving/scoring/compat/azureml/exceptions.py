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


try:  # the run-side names: the same classes as the SDK's
    from serving.runs.errors import (
        ActivityFailedException,
        ExperimentExecutionException,
        ModelPathNotFoundException,
        UserErrorException,
    )
except ImportError:  # a deployment image (the serving runtime only): names for except clauses

    class UserErrorException(AzureMLException):  # type: ignore[no-redef]
        """Bad arguments."""

    class ModelPathNotFoundException(UserErrorException):  # type: ignore[no-redef]
        """A model path none of a run's files match."""

    class ActivityFailedException(AzureMLException):  # type: ignore[no-redef]
        """A run ended Failed."""

    class ExperimentExecutionException(AzureMLException):  # type: ignore[no-redef]
        """Waiting for a run was interrupted."""


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

"""Azure ML v1's exception names for runs, in the platform's error hierarchy (so the CLI
prints them on one line with an exit code, and ``except`` clauses of v1 notebooks match)."""

from __future__ import annotations

import json
from typing import Any

from serving.errors import NotFoundError, ServingError, UserInputError


class UserErrorException(UserInputError):
    """v1's ``azureml.exceptions.UserErrorException``: bad arguments."""


class ModelPathNotFoundException(UserErrorException):
    """``run.register_model`` got a path that none of the run's files match."""


class RunNotFoundError(NotFoundError):
    """No run of that id in the workspace."""


class ExperimentExecutionException(ServingError, exit_code=130):
    """Waiting for a run was interrupted; the run itself goes on."""


class ActivityFailedException(ServingError, exit_code=8):
    """The run ended Failed (or Canceled); ``error_details`` is its error as JSON text."""

    def __init__(
        self, error_details: Any = None, message: str | None = None, **kwargs: Any
    ) -> None:
        details = (
            error_details if isinstance(error_details, str) else json.dumps(error_details or {})
        )
        super().__init__(
            message or f"ActivityFailedException: {details}", details=kwargs.get("details")
        )
        self.error_details = details

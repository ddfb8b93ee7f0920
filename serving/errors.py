"""One error hierarchy for the whole platform.

Every error carries an HTTP status (for the scoring server and later the registry
server) and a CLI exit code. Messages say what went wrong; ``hint`` says what to do
next. The CLI prints ``error: <message>`` (and the hint) on one line, never a traceback.
"""

from __future__ import annotations

from typing import Any


class ServingError(Exception):
    """Base class: a failure the user can understand and act on.

    A subclass sets its HTTP status and exit code in its header:
    ``class NotFoundError(ServingError, http_status=404, exit_code=3)``.
    """

    http_status: int = 500
    exit_code: int = 1

    def __init_subclass__(
        cls, *, http_status: int | None = None, exit_code: int | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if http_status is not None:
            cls.http_status = http_status
        if exit_code is not None:
            cls.exit_code = exit_code

    def __init__(
        self, message: str, *, hint: str | None = None, details: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details
        """Several lines worth showing before the message (e.g. a log tail), or None."""

    def one_line(self) -> str:
        """The message and hint on one line, as the CLI prints it."""
        text = " ".join(self.message.split())
        if self.hint:
            text = f"{text} ({' '.join(self.hint.split())})"
        return text


class UserInputError(ServingError, http_status=400, exit_code=2):
    """Bad arguments or files given by the user."""


class NotFoundError(ServingError, http_status=404, exit_code=3):
    """A named thing (model, environment, endpoint, file) does not exist."""


class ConflictError(ServingError, http_status=409, exit_code=4):
    """The operation conflicts with the current state (in use, already exists)."""


class IntegrityError(ServingError, http_status=500, exit_code=5):
    """Stored data does not match what was recorded (corruption, tampering)."""


class EnvironmentSpecError(UserInputError):
    """An environment file cannot be parsed or resolved."""


class DeploymentError(ServingError, http_status=502, exit_code=6):
    """A deployment could not be created, started or reached."""


class BackendUnavailableError(ServingError, http_status=503, exit_code=7):
    """A required backend (Docker Engine, Kubernetes API) is not reachable."""

"""One error hierarchy for the whole platform.

Every error carries an HTTP status (for the scoring server and later the registry
server) and a CLI exit code. Messages say what went wrong; ``hint`` says what to do
next. The CLI prints ``error: <message>`` (and the hint) on one line, never a traceback.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base class: a failure the user can understand and act on."""

    http_status: int = 500
    exit_code: int = 1

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


class UserInputError(ServingError):
    """Bad arguments or files given by the user."""

    http_status = 400
    exit_code = 2


class NotFoundError(ServingError):
    """A named thing (model, environment, endpoint, file) does not exist."""

    http_status = 404
    exit_code = 3


class ConflictError(ServingError):
    """The operation conflicts with the current state (in use, already exists)."""

    http_status = 409
    exit_code = 4


class IntegrityError(ServingError):
    """Stored data does not match what was recorded (corruption, tampering)."""

    http_status = 500
    exit_code = 5


class EnvironmentSpecError(UserInputError):
    """An environment file cannot be parsed or resolved."""


class DeploymentError(ServingError):
    """A deployment could not be created, started or reached."""

    http_status = 502
    exit_code = 6


class BackendUnavailableError(ServingError):
    """A required backend (Docker Engine, Kubernetes API) is not reachable."""

    http_status = 503
    exit_code = 7

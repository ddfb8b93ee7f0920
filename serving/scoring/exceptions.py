"""Errors of the score.py contract.

Loading errors are the user's to fix (a bad entry script). Scoring errors carry the HTTP
status the server answers with, the client-facing message of the Azure ML contract, and
whether the failure was inside ``run()`` (the ``x-ms-run-function-failed`` header).
"""

from __future__ import annotations

from types import TracebackType

from serving.errors import ServingError, UserInputError


class ScriptLoadError(UserInputError):
    """The entry script cannot be imported or does not follow the init()/run() contract."""


class InitFailedError(ServingError):
    """The entry script's ``init()`` raised."""

    exit_code = 3


class ScoringError(ServingError):
    """A /score request failed; ``message`` is safe to show to the client."""

    http_status = 500
    run_failed = False


class BadInputError(ScoringError):
    """The request body or query cannot be turned into run() arguments."""

    http_status = 400


class UnsupportedInputError(ScoringError):
    """The request's content type does not fit the input mode."""

    http_status = 415


class MethodNotAllowedError(ScoringError):
    """run() is only called for GET and POST (and any method in rawhttp mode)."""

    http_status = 405

    def __init__(self, method: str) -> None:
        super().__init__("Method not allowed")
        self.method = method


class RunFailedError(ScoringError):
    """``run()`` raised; the cause is chained and logged, never sent to the client."""

    run_failed = True

    def __init__(self) -> None:
        super().__init__(
            "An unexpected error occurred in scoring script. Check the logs for more info."
        )


class ScoringTimeoutError(ScoringError):
    """``run()`` took longer than the scoring timeout."""

    http_status = 504
    run_failed = True

    def __init__(self, timeout_ms: int) -> None:
        super().__init__(f"Scoring timeout after {timeout_ms} ms")
        self.timeout_ms = timeout_ms


class ResultNotSerializableError(ScoringError):
    """``run()`` returned something ``json.dumps`` cannot encode."""

    def __init__(self) -> None:
        super().__init__("An unexpected internal error occurred. Check the logs for more info.")


class _RunFailures:
    """``with RUN_FAILURES:`` lets :class:`ScoringError` through and turns anything else
    (``SystemExit`` included) into :class:`RunFailedError`, the cause chained: how every
    path that calls a scoring script (or its no-code stand-in) reports its failures."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # None, not bool: it never swallows an exception (mypy reads this)
        if isinstance(exc, (Exception, SystemExit)) and not isinstance(exc, ScoringError):
            raise RunFailedError() from exc


RUN_FAILURES = _RunFailures()

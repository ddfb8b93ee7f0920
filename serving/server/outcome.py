"""The one ``/score`` outcome: from (scorer, input) to (status, headers, body).

Both routes of ``/score`` only adapt their request into a
:class:`~serving.scoring.ScoringInput` and call :func:`score_outcome`: the fast path of
:class:`~serving.server.handler.RequestHandler` (plain and schema modes, read straight from
the WSGI environ) and the Flask view (rawhttp mode, ``OPTIONS``), which wraps the outcome
with :func:`~serving.server.http.as_response`. Scoring errors become responses here, with
the one error encoder, :func:`~serving.server.http.error_outcome`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Response

from serving.scoring import (
    InputMode,
    ResultNotSerializableError,
    RunFailedError,
    Scorer,
    ScoringError,
    ScoringInput,
    ScoringResult,
    encode_result,
    is_stream,
)
from serving.server.http import FAILED_HEADER, JSON_TYPE, Outcome, Triple, error_outcome
from serving.server.metrics import ServerMetrics

_log = logging.getLogger("serving.server")

_OPTIONS_HEADERS = ((FAILED_HEADER, "False"),)


def score_outcome(
    scorer: Scorer, inp: ScoringInput, metrics: ServerMetrics, max_body: int
) -> Outcome:
    """Call run() for ``inp`` and turn what happens into the response.

    ``OPTIONS`` outside the rawhttp mode is answered without calling run(). ``max_body``
    is the limit named by the 413 a rawhttp request object raises.
    """
    if inp.method == "OPTIONS" and scorer.mode is not InputMode.RAWHTTP:
        return 200, list(_OPTIONS_HEADERS), [b""]
    return result_outcome(
        lambda: scorer.score(inp), metrics, max_body, rawhttp=scorer.mode is InputMode.RAWHTTP
    )


def result_outcome(
    score: Callable[[], ScoringResult], metrics: ServerMetrics, max_body: int, *, rawhttp: bool
) -> Outcome:
    """The response to what ``score()`` returns or raises (``Scorer.score``, or a batched
    request's second half, :meth:`~serving.scoring.batching_submit.PendingScore.result`)."""
    try:
        result = score()
    except ScoringError as exc:
        return failure_outcome(exc, max_body, rawhttp=rawhttp)
    metrics.observe_scoring(result.elapsed_ms / 1000.0)
    return wrap_result(result.value, ("x-ms-run-fn-exec-ms", f"{result.elapsed_ms:.3f}"))


def failure_outcome(exc: ScoringError, max_body: int, *, rawhttp: bool) -> Triple:
    """The response to a scoring error, logged as the operator needs it.

    In the rawhttp mode run() works on the request object, which refuses bad requests
    with werkzeug's 4xx exceptions (``request.get_json()`` on bad JSON, a body over the
    limit): those are the client's error and answered as such, not as run() failures.
    """
    cause = exc.__cause__
    if isinstance(exc, RunFailedError):
        if rawhttp and isinstance(cause, RequestEntityTooLarge):
            return too_large(max_body)
        if rawhttp and isinstance(cause, HTTPException) and 400 <= (cause.code or 500) < 500:
            return error_outcome(cause.code or 400, cause.description or cause.name)
        _log.error("run() raised an exception", exc_info=cause)
    elif exc.run_failed:
        _log.warning("%s", exc.message)
    return error_outcome(exc.http_status, exc.message, run_failed=exc.run_failed)


def too_large(max_body: int) -> Triple:
    """413 for a request body over ``max_body`` bytes."""
    return error_outcome(413, f"Request body is larger than the limit of {max_body} bytes.")


def wrap_result(value: Any, exec_ms: tuple[str, str]) -> Outcome:
    """run()'s result as a response: JSON, a stream, or a response object unchanged."""
    if isinstance(value, Response):
        if value.status_code >= 500:
            value.headers[FAILED_HEADER] = "True"
        value.headers.add(*exec_ms)
        return value
    if is_stream(value):
        response = Response(value)
        response.headers[FAILED_HEADER] = "False"
        response.headers.add(*exec_ms)
        return response
    try:
        body = encode_result(value)
    except ResultNotSerializableError as exc:
        _log.error("run() returned a %s: %s", type(value).__name__, exc.__cause__)
        return error_outcome(500, exc.message)
    headers = [JSON_TYPE, ("Content-Length", str(len(body))), (FAILED_HEADER, "False"), exec_ms]
    return 200, headers, [body]

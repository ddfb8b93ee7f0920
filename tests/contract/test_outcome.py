"""The one /score outcome and the one error encoder, called in-process (no HTTP)."""

from __future__ import annotations

import json

import pytest
from flask import Response
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from serving.scoring import RunFailedError, Scorer, ScoringInput, ScoringTimeoutError
from serving.server.http import FAILED_HEADER, as_response, error_outcome
from serving.server.metrics import ServerMetrics
from serving.server.outcome import failure_outcome, score_outcome, too_large
from tests.inprocess import settings_for


def _scorer(script: str) -> Scorer:
    scorer = Scorer.from_settings(settings_for(script))
    scorer.initialize()
    return scorer


def _scored(metrics: ServerMetrics) -> float | None:
    return metrics.registry.get_sample_value("serving_scoring_duration_seconds_count")


def _run_failed(cause: BaseException) -> RunFailedError:
    exc = RunFailedError()
    exc.__cause__ = cause
    return exc


def test_error_outcome_is_the_contract_shape() -> None:
    status, headers, body = error_outcome(404, 'no "such" thing', run_failed=True)
    assert status == 404
    assert json.loads(b"".join(body)) == {"message": 'no "such" thing'}
    assert headers == [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(b"".join(body)))),
        (FAILED_HEADER, "True"),
    ]
    assert dict(error_outcome(400, "x")[1])[FAILED_HEADER] == "False"


def test_score_outcome_answers_and_counts() -> None:
    metrics = ServerMetrics()
    outcome = score_outcome(
        _scorer("ok.py"), ScoringInput("POST", b'{"data": [1, 2]}'), metrics, 100
    )
    assert isinstance(outcome, tuple)
    status, headers, body = outcome
    assert (status, json.loads(b"".join(body))) == (200, {"sum": 3})
    names = dict(headers)
    assert names[FAILED_HEADER] == "False" and names["Content-Type"] == "application/json"
    assert float(names["x-ms-run-fn-exec-ms"]) < 60_000
    assert _scored(metrics) == 1.0


def test_score_outcome_of_a_failing_run_is_not_counted() -> None:
    metrics = ServerMetrics()
    outcome = score_outcome(_scorer("run_raises.py"), ScoringInput("POST", b"{}"), metrics, 100)
    assert isinstance(outcome, tuple)
    status, headers, body = outcome
    assert status == 500 and dict(headers)[FAILED_HEADER] == "True"
    assert b"secret" not in b"".join(body)
    assert not _scored(metrics)


def test_options_outside_rawhttp_does_not_call_run() -> None:
    metrics = ServerMetrics()
    outcome = score_outcome(_scorer("ok.py"), ScoringInput("OPTIONS"), metrics, 100)
    assert outcome == (200, [(FAILED_HEADER, "False")], [b""])
    assert not _scored(metrics)


def test_wrong_method_is_405_from_the_scoring_contract() -> None:
    outcome = score_outcome(_scorer("ok.py"), ScoringInput("PUT"), ServerMetrics(), 100)
    assert isinstance(outcome, tuple)
    assert outcome[0] == 405 and dict(outcome[1])[FAILED_HEADER] == "False"


def test_response_objects_pass_through() -> None:
    metrics = ServerMetrics()
    outcome = score_outcome(_scorer("returns_generator.py"), ScoringInput("POST"), metrics, 100)
    assert not isinstance(outcome, tuple)
    assert outcome.headers[FAILED_HEADER] == "False"
    assert "x-ms-run-fn-exec-ms" in outcome.headers
    assert as_response(outcome) is outcome


def test_request_object_refusals_are_client_errors_in_rawhttp_mode_only() -> None:
    refused = _run_failed(BadRequest("The browser sent bad JSON."))
    status, headers, body = failure_outcome(refused, 100, rawhttp=True)
    assert (status, dict(headers)[FAILED_HEADER]) == (400, "False")
    assert json.loads(b"".join(body)) == {"message": "The browser sent bad JSON."}
    status, headers, _ = failure_outcome(refused, 100, rawhttp=False)
    assert (status, dict(headers)[FAILED_HEADER]) == (500, "True")


def test_a_body_over_the_limit_in_rawhttp_mode_names_the_limit() -> None:
    assert failure_outcome(_run_failed(RequestEntityTooLarge()), 1234, rawhttp=True) == too_large(
        1234
    )
    status, _, body = too_large(1234)
    assert status == 413 and b"1234 bytes" in b"".join(body)


@pytest.mark.parametrize("rawhttp", [True, False])
def test_timeouts_are_run_failures(rawhttp: bool) -> None:
    status, headers, body = failure_outcome(ScoringTimeoutError(250), 100, rawhttp=rawhttp)
    assert (status, dict(headers)[FAILED_HEADER]) == (504, "True")
    assert json.loads(b"".join(body)) == {"message": "Scoring timeout after 250 ms"}


def test_as_response_wraps_a_triple_for_flask() -> None:
    response = as_response(error_outcome(418, "teapot"))
    assert isinstance(response, Response)
    assert response.status_code == 418
    assert response.headers[FAILED_HEADER] == "False"
    assert response.mimetype == "application/json"
    assert json.loads(response.get_data()) == {"message": "teapot"}

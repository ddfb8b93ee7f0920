"""Failure messages: what the locust file records, and how the summary groups them."""

from __future__ import annotations

from serving.loadtest.failures import FailureGroup, failure_reason, group_failures, parse_failure


def test_good_answer_is_200_with_json() -> None:
    assert failure_reason(200, "[0]") is None
    assert failure_reason(200, '{"a": 1}') is None
    assert failure_reason(200, "Healthy") == "HTTP 200: response is not JSON"


def test_error_answers_name_status_and_message() -> None:
    assert failure_reason(500, '{"message": "boom"}') == "HTTP 500: boom"
    assert failure_reason(502, "Bad gateway\n<html>") == "HTTP 502: Bad gateway <html>"
    assert failure_reason(404, "") == "HTTP 404: no body"
    long = failure_reason(500, "x" * 500)
    assert long is not None and len(long) <= 160


def test_no_answer_is_status_0() -> None:
    assert failure_reason(0, None, ConnectionRefusedError(111, "refused")) == (
        "HTTP 0: ConnectionRefusedError: [Errno 111] refused"
    )
    assert failure_reason(0, None) == "HTTP 0: no response"


def test_parse_unwraps_locust_errors() -> None:
    assert parse_failure("CatchResponseError('HTTP 500: boom')") == (500, "boom")
    assert parse_failure('CatchResponseError("HTTP 401: don\'t")') == (401, "don't")
    assert parse_failure("HTTP 0: ConnectionResetError") == (0, "ConnectionResetError")
    assert parse_failure("RuntimeError('x')") == (None, "x")


def test_group_merges_and_sorts() -> None:
    groups = group_failures(
        [
            ("HTTP 500: boom", 2),
            ("CatchResponseError('HTTP 500: boom')", 3),
            ("HTTP 401: no key", 7),
        ]
    )
    assert groups == (FailureGroup(401, "no key", 7), FailureGroup(500, "boom", 5))
    assert groups[0].to_dict() == {"status": 401, "message": "no key", "count": 7}

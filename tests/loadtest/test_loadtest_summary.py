"""The summary built from locust's totals, and the SLO gate with its exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.loadtest import SLO, LoadShape, LoadTestError, SLOFailedError
from serving.loadtest.summary import build_summary, evaluate, read_totals

TOTALS: dict[str, Any] = {
    "requests": 1000,
    "failures": 20,
    "rps": 200.0,
    "avg_ms": 4.2,
    "max_ms": 51.3,
    "percentiles_ms": {"0.5": 4, "0.9": 6, "0.95": 8, "0.99": 12},
    "errors": [["HTTP 500: boom", 15], ["CatchResponseError('HTTP 0: ConnectionResetError')", 5]],
}


def summary(slo: SLO, totals: dict[str, Any] = TOTALS) -> Any:
    return build_summary(
        totals,
        target="digits-svc",
        scoring_uri="http://h/score",
        shape=LoadShape(users=5, spawn_rate=5, duration_s=3),
        slo=slo,
    )


def test_numbers_and_failures() -> None:
    s = summary(SLO(max_error_rate=0.05))
    assert (s.requests, s.failures, s.error_rate) == (1000, 20, 0.02)
    assert (s.p50_ms, s.p90_ms, s.p95_ms, s.p99_ms, s.max_ms) == (4, 6, 8, 12, 51.3)
    assert [(g.status, g.message, g.count) for g in s.failures_by_error] == [
        (500, "boom", 15),
        (0, "ConnectionResetError", 5),
    ]
    assert s.passed
    s.check()
    data = s.to_dict()
    assert data["passed"] is True
    assert data["failures_by_error"][0] == {"status": 500, "message": "boom", "count": 15}


def test_default_error_budget_fails_at_2_percent() -> None:
    s = summary(SLO())
    assert not s.passed
    with pytest.raises(SLOFailedError, match=r"^SLO failed: error rate 2\.00% > 1\.00%$"):
        s.check()


def test_p99_slo_names_the_numbers() -> None:
    s = summary(SLO(p99_ms=0.001, max_error_rate=None))
    with pytest.raises(SLOFailedError) as info:
        s.check()
    assert info.value.message == "SLO failed: p99 12 ms > 0.001 ms"
    assert info.value.exit_code == 8
    assert [v.passed for v in s.slos] == [True, False]


def test_no_requests_fails() -> None:
    empty = {"requests": 0, "failures": 0, "percentiles_ms": {}}
    s = summary(SLO(p99_ms=5), empty)
    with pytest.raises(SLOFailedError, match="no request completed"):
        s.check()
    assert [v.name for v in evaluate(SLO(), requests=0, failures=0, p99_ms=0)] == ["requests"]


def test_missing_totals_is_a_locust_failure(tmp_path: Path) -> None:
    with pytest.raises(LoadTestError, match="no statistics"):
        read_totals(tmp_path / "totals.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LoadTestError, match="cannot read"):
        read_totals(tmp_path / "bad.json")

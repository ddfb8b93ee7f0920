"""The result of a run: :class:`LoadTestSummary`, and the SLO verdicts on it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.loadtest.errors import LoadTestError, SLOFailedError
from serving.loadtest.failures import FailureGroup, group_failures
from serving.loadtest.options import SLO, LoadShape


@dataclass(frozen=True)
class SLOVerdict:
    """One objective checked against the run."""

    name: str
    """``p99``, ``error rate`` or ``requests``."""
    limit: float
    actual: float
    passed: bool

    def describe(self) -> str:
        """E.g. ``p99 12.3 ms > 0.001 ms`` (or ``<=`` when it held)."""
        sign = "<=" if self.passed else ">"
        if self.name == "p99":
            return f"p99 {self.actual:.4g} ms {sign} {self.limit:.4g} ms"
        if self.name == "error rate":
            return f"error rate {self.actual:.2%} {sign} {self.limit:.2%}"
        return f"{self.actual:.0f} requests completed" if self.passed else "no request completed"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"text": self.describe()}


@dataclass(frozen=True)
class LoadTestSummary:
    """What a load test measured, whether its SLOs hold, and where its report is."""

    target: str
    """The endpoint name or URL that was loaded."""
    scoring_uri: str
    users: int
    spawn_rate: int
    duration_s: int
    requests: int
    """Answers received (good and failed)."""
    failures: int
    rps: float
    """Requests per second over the run."""
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    failures_by_error: tuple[FailureGroup, ...] = ()
    slos: tuple[SLOVerdict, ...] = ()
    report_dir: Path | None = None
    report_files: dict[str, Path] = field(default_factory=dict)
    """Files of the report by role: html, chart, stats_csv, history_csv, failures_csv, summary."""

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    @property
    def passed(self) -> bool:
        """True when every SLO holds."""
        return all(v.passed for v in self.slos)

    @property
    def failed_slos(self) -> tuple[SLOVerdict, ...]:
        return tuple(v for v in self.slos if not v.passed)

    def check(self) -> None:
        """Raise :class:`SLOFailedError` naming the SLOs that failed (nothing when all hold)."""
        failed = self.failed_slos
        if failed:
            raise SLOFailedError("SLO failed: " + "; ".join(v.describe() for v in failed))

    def to_dict(self) -> dict[str, Any]:
        """Every field as a JSON value, with ``error_rate`` and ``passed``."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return data | {
            "error_rate": self.error_rate,
            "failures_by_error": [g.to_dict() for g in self.failures_by_error],
            "slos": [v.to_dict() for v in self.slos],
            "passed": self.passed,
            "report_dir": None if self.report_dir is None else str(self.report_dir),
            "report_files": {k: str(v) for k, v in self.report_files.items()},
        }


def evaluate(slo: SLO, *, requests: int, failures: int, p99_ms: float) -> tuple[SLOVerdict, ...]:
    """The verdicts of ``slo`` (a run where no request completed always fails)."""
    verdicts = [SLOVerdict("requests", 1, requests, requests > 0)]
    if slo.p99_ms is not None and requests:
        verdicts.append(SLOVerdict("p99", slo.p99_ms, p99_ms, p99_ms <= slo.p99_ms))
    if slo.max_error_rate is not None and requests:
        rate = failures / requests
        verdicts.append(
            SLOVerdict("error rate", slo.max_error_rate, rate, rate <= slo.max_error_rate)
        )
    return tuple(verdicts)


def read_totals(path: Path) -> dict[str, Any]:
    """The totals the locust file wrote as it quit."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LoadTestError("locust wrote no statistics (it stopped early)") from exc
    except ValueError as exc:
        raise LoadTestError(f"cannot read locust's statistics in {path}: {exc}") from exc
    return data


def build_summary(
    totals: dict[str, Any], *, target: str, scoring_uri: str, shape: LoadShape, slo: SLO
) -> LoadTestSummary:
    """A :class:`LoadTestSummary` from locust's totals (see ``locustfile.totals``)."""
    percentiles = totals.get("percentiles_ms") or {}
    latency: dict[str, Any] = {
        f"p{name}_ms": float(percentiles.get(quantile, 0))
        for name, quantile in (("50", "0.5"), ("90", "0.9"), ("95", "0.95"), ("99", "0.99"))
    }
    measured: dict[str, Any] = {
        key: float(totals.get(key) or 0.0) for key in ("rps", "avg_ms", "max_ms")
    }
    requests, failures = int(totals.get("requests", 0)), int(totals.get("failures", 0))
    errors = [(str(e), int(n)) for e, n in totals.get("errors") or []]
    return LoadTestSummary(
        target=target,
        scoring_uri=scoring_uri,
        **dataclasses.asdict(shape),
        requests=requests,
        failures=failures,
        **measured,
        **latency,
        failures_by_error=group_failures(errors),
        slos=evaluate(slo, requests=requests, failures=failures, p99_ms=latency["p99_ms"]),
    )

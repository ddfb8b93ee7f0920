"""Run schemathesis over every operation of a served swagger document, bounded.

Used by the in-process (WSGI) and the deployed-endpoint fuzz tests. Each operation gets
positive and negative cases; every response must come (a hang is a failure), must conform
to the document (documented status code, content type, headers, response schema), and a
5xx is allowed only when it carries ``x-ms-run-function-failed: True`` (the user's run()
raised, the Azure contract), never for the server's own errors.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi import checks

RUN_FAILED = "x-ms-run-function-failed"
CHECKS = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@dataclass
class FuzzReport:
    """What one schemathesis run did: cases per operation and statuses seen."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def line(self, label: str) -> str:
        per_op = ", ".join(f"{op}: {n}" for op, n in sorted(self.cases.items()))
        seen = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"[fuzz] {label}: {self.total} cases in {self.seconds:.1f} s ({per_op}); "
            f"statuses {seen}"
        )


def header(response: Any, name: str) -> str | None:
    """A response header, case-insensitively (schemathesis keeps lists of values)."""
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else str(value)
    return None


def fuzz_schema(
    schema: BaseSchema,
    *,
    max_examples: int,
    call: Callable[[Case], Any] | None = None,
) -> FuzzReport:
    """Fuzz every operation of ``schema``; raises the first failure (hypothesis shrinks it).

    ``call`` sends a case and returns its response (default: ``case.call()``).
    """
    report = FuzzReport()
    start = time.monotonic()
    # every operation, the one that served the document too (left out by default)
    for result in schema.include(path_regex="^/").get_all_operations():
        _fuzz_operation(result.ok(), report, call or _call, max_examples)
    report.seconds = time.monotonic() - start
    return report


def _call(case: Case) -> Any:
    return case.call()


def _fuzz_operation(
    operation: APIOperation, report: FuzzReport, send: Callable[[Case], Any], max_examples: int
) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def check(case: Case) -> None:
        report.cases[label] += 1
        response = send(case)
        report.statuses[response.status_code] += 1
        if response.status_code >= 500:
            assert header(response, RUN_FAILED) == "True", (
                f"{label}: {response.status_code} that is not run() failing: {response.text[:300]}"
            )
        case.validate_response(response, checks=CHECKS)

    check()

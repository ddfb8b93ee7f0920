"""Load tests of scoring endpoints with locust: ``run_loadtest`` and its summary.

Modules, one job each: ``options`` (duration, users, SLOs), ``target`` (resolve a name or
URL, preflight), ``payload`` (bodies from files or the swagger example), ``runner`` (locust
in a child process), ``timeline`` (per-second series), ``summary`` (the result and SLO
verdicts), ``chart`` (the PNG), ``report`` (the report folder), ``locustfile`` (what locust
runs; never imported outside locust, as importing locust patches the process for gevent).
"""

from __future__ import annotations

from serving.loadtest.api import run_loadtest
from serving.loadtest.errors import LoadTestError, SLOFailedError, TargetError
from serving.loadtest.failures import FailureGroup
from serving.loadtest.options import DEFAULT_MAX_ERROR_RATE, SLO, LoadShape, parse_duration
from serving.loadtest.summary import LoadTestSummary, SLOVerdict
from serving.loadtest.timeline import TimePoint

__all__ = [
    "DEFAULT_MAX_ERROR_RATE",
    "SLO",
    "FailureGroup",
    "LoadShape",
    "LoadTestError",
    "LoadTestSummary",
    "SLOFailedError",
    "SLOVerdict",
    "TargetError",
    "TimePoint",
    "parse_duration",
    "run_loadtest",
]

"""``run_loadtest``: resolve and check the target, run locust, summarize, chart, judge SLOs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from serving.loadtest.chart import render_chart
from serving.loadtest.options import DEFAULT_MAX_ERROR_RATE, SLO, LoadShape, parse_duration
from serving.loadtest.payload import read_bodies, write_bodies
from serving.loadtest.report import ReportFiles, default_report_dir
from serving.loadtest.runner import run_locust
from serving.loadtest.summary import LoadTestSummary, build_summary, read_totals
from serving.loadtest.target import Target, fetch_example, preflight, resolve_target
from serving.loadtest.timeline import TimePoint, read_timeline
from serving.workspace import Workspace

Status = Callable[[str], None]


def run_loadtest(
    target: str,
    *,
    users: int = 50,
    spawn_rate: int = 10,
    duration: str | float = "30s",
    payload: Path | None = None,
    key: str | None = None,
    slo_p99_ms: float | None = None,
    max_error_rate: float | None = DEFAULT_MAX_ERROR_RATE,
    report_dir: Path | None = None,
    workspace: Workspace | None = None,
    progress: Callable[[TimePoint], None] | None = None,
    status: Status | None = None,
) -> LoadTestSummary:
    """Load-test ``target`` (an endpoint name or a scoring URL) and return the summary.

    The target is checked with one real request before any load: a bad name, a refused
    connection, a missing key or an error answer raises at once. Without ``payload`` the
    request body is the example in the endpoint's swagger document. ``duration`` is e.g.
    ``"15s"``, ``"2m"`` or seconds (at most 1 h); locust stops by itself when it is over.

    The report folder (default ``loadtest-reports/<target>-<time>``) receives locust's HTML
    report and CSV statistics, ``chart.png`` and ``summary.json``. SLO verdicts are in the
    summary; call :meth:`LoadTestSummary.check` to raise when one failed. ``progress`` gets
    one :class:`TimePoint` a second while the load runs; ``status`` gets phase messages.
    """
    say = status or (lambda _message: None)
    shape = LoadShape(users=users, spawn_rate=spawn_rate, duration_s=parse_duration(duration))
    slo = SLO(p99_ms=slo_p99_ms, max_error_rate=max_error_rate)
    bodies = read_bodies(payload) if payload is not None else None
    resolved = resolve_target(target, key=key, workspace=workspace)
    if bodies is None:
        say(f"building the request from {resolved.swagger_uri}")
        bodies = [fetch_example(resolved)]
    say(f"checking {resolved.scoring_uri}")
    preflight(resolved, bodies[0])
    files = ReportFiles(Path(report_dir or default_report_dir(resolved.label)).absolute())
    files.prepare()
    write_bodies(bodies, files.payload)
    say(f"{shape.users} users for {shape.duration_s} s against {resolved.scoring_uri}")
    run_locust(resolved, shape, files, progress)
    return _summarize(resolved, files, shape, slo)


def _summarize(target: Target, files: ReportFiles, shape: LoadShape, slo: SLO) -> LoadTestSummary:
    """The summary of a finished run, with its chart and ``summary.json`` written."""
    summary = build_summary(
        read_totals(files.totals),
        target=target.label,
        scoring_uri=target.scoring_uri,
        shape=shape,
        slo=slo,
    )
    render_chart(
        read_timeline(files.timeline),
        files.chart,
        title=_title(target, summary),
        slo_p99_ms=slo.p99_ms,
    )
    summary = dataclasses.replace(summary, report_dir=files.folder)
    files.summary.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    return dataclasses.replace(summary, report_files=files.listing())


def _title(target: Target, summary: LoadTestSummary) -> str:
    return (
        f"{target.label} ({target.scoring_uri}): {summary.users} users, {summary.duration_s} s; "
        f"{summary.requests} requests, {summary.rps:.0f} req/s, p99 {summary.p99_ms:g} ms, "
        f"{summary.failures} failures"
    )

"""`serving loadtest TARGET`: locust against an endpoint, a summary, a report, an SLO gate."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table
from rich.text import Text

from serving.cli.common import emit_one, err, is_json, out, plain, say, shows, workspace
from serving.loadtest import (
    DEFAULT_MAX_ERROR_RATE,
    LoadTestSummary,
    TimePoint,
    run_loadtest,
)
from serving.loadtest.options import MAX_SPAWN_RATE, MAX_USERS, parse_duration

F = TypeVar("F", bound=Callable[..., Any])

USERS_HELP = "Concurrent users (each sends its next request when the last one answers)."
PAYLOAD_HELP = "JSON body, or JSON lines cycled through (default: the swagger example)."
REPORT_HELP = "Report folder (default: loadtest-reports/<target>-<time>)."
LOG_EVERY_S = 5.0
"""Without a terminal, a progress line every this many seconds."""


def progress_text(point: TimePoint, duration_s: int) -> str:
    """One progress line: elapsed, users, req/s, p99, failures."""
    total = point.total_requests
    rate = point.total_failures / total if total else 0.0
    p99 = "-" if point.p99_ms is None else f"{point.p99_ms:.1f} ms"
    return (
        f"{min(point.t_s, duration_s):4.0f}s/{duration_s}s  users {point.users}  "
        f"req/s {point.rps:.0f}  p99 {p99}  failures {point.total_failures} ({rate:.2%})"
    )


@contextmanager
def _live(duration_s: int) -> Iterator[tuple[Callable[[TimePoint], None], Callable[[str], None]]]:
    """(progress, status) callbacks: one updating line on a terminal, periodic lines else.

    Without a terminal, status messages are not printed until load starts (the last one
    then), so a target that fails its check leaves only the one-line error on stderr.
    """
    if err.is_terminal:
        with err.status("starting") as line:
            yield (
                lambda p: line.update(Text(progress_text(p, duration_s))),
                lambda s: line.update(Text(s)),  # Text: no markup in URLs like http://[::1]
            )
        return
    pending = [""]
    last = [0.0]

    def remember(message: str) -> None:
        pending[0] = message

    def log_point(point: TimePoint) -> None:
        if pending[0]:
            err.print(pending[0], highlight=False, markup=False)
            pending[0] = ""
        now = time.monotonic()
        if now - last[0] >= LOG_EVERY_S:
            last[0] = now
            err.print(progress_text(point, duration_s), highlight=False, markup=False)

    yield log_point, remember


_LATENCIES = ("p50", "p90", "p95", "p99", "max")


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def print_summary(summary: LoadTestSummary) -> None:
    """The summary table, failures by status and message, SLO verdicts and report paths."""
    say(
        f"load test of {summary.target} ({summary.scoring_uri}): {summary.users} users "
        f"(+{summary.spawn_rate}/s) for {summary.duration_s} s"
    )
    latencies = (summary.p50_ms, summary.p90_ms, summary.p95_ms, summary.p99_ms, summary.max_ms)
    columns = {
        "requests": str(summary.requests),
        "failures": f"{summary.failures} ({summary.error_rate:.2%})",
        "req/s": f"{summary.rps:.1f}",
        **{f"{name} ms": _ms(v) for name, v in zip(_LATENCIES, latencies, strict=True)},
    }
    table = Table(box=None, pad_edge=False, show_edge=False)
    for header in columns:
        table.add_column(header, justify="right")
    table.add_row(*columns.values())
    out.print(table)
    if summary.failures_by_error:
        failures = Table(box=None, pad_edge=False, show_edge=False, title_justify="left")
        failures.add_column("count", justify="right")
        failures.add_column("status", justify="right")
        failures.add_column("message", overflow="fold")
        for group in summary.failures_by_error:
            status = "-" if group.status is None else str(group.status or "no answer")
            failures.add_row(str(group.count), status, plain(group.message))
        out.print("\nfailures:", highlight=False)
        out.print(failures)
    for verdict in summary.slos:
        mark = ("ok  ", "green") if verdict.passed else ("FAIL", "red")
        out.print(Text.assemble(mark, " ", plain(verdict.describe())), highlight=False)
    for role, path in summary.report_files.items():
        say(f"{role + ':':14}{path}")


def _count(name: str, short: str, high: int, default: int, text: str) -> Callable[[F], F]:
    return click.option(
        name, short, type=click.IntRange(1, high), default=default, show_default=True, help=text
    )


def _path(*names: str, metavar: str, text: str, **kind: bool) -> Callable[[F], F]:
    """An option naming a file or a folder (``kind``: ``dir_okay=False`` or ``file_okay=False``)."""
    return click.option(*names, type=click.Path(path_type=Path, **kind), metavar=metavar, help=text)


@click.command("loadtest")
@click.argument("target")
@_count("--users", "-u", MAX_USERS, 50, USERS_HELP)
@_count("--spawn-rate", "-r", MAX_SPAWN_RATE, 10, "Users started per second.")
@click.option(
    "--duration",
    "-t",
    default="30s",
    show_default=True,
    metavar="TIME",
    help="How long the load runs: 15s, 2m, 1m30s or seconds (1 h at most).",
)
@_path("--payload", "-d", metavar="FILE", dir_okay=False, text=PAYLOAD_HELP)
@click.option("--key", help="Endpoint key (default: the registered endpoint's primary key).")
@click.option(
    "--slo-p99-ms",
    type=click.FloatRange(min=0, min_open=True),
    metavar="MS",
    help="Fail when the p99 latency is above MS milliseconds.",
)
@click.option(
    "--max-error-rate",
    type=click.FloatRange(0, 1),
    default=DEFAULT_MAX_ERROR_RATE,
    show_default=True,
    metavar="R",
    help="Fail when more than this fraction fails.",
)
@_path("--report", "report_dir", metavar="DIR", file_okay=False, text=REPORT_HELP)
@shows
def loadtest(target: str, duration: str, **given: Any) -> None:
    """Load-test TARGET (an endpoint name or a scoring URL) with locust.

    Prints a summary, writes locust's HTML report, CSV statistics and a chart to the report
    folder, and exits non-zero (code 8) when an SLO does not hold: usable as a CI gate.

    The other options go to :func:`run_loadtest` as they are (users, spawn_rate, payload,
    key, slo_p99_ms, max_error_rate, report_dir).
    """
    seconds = parse_duration(duration)
    ws = None if "://" in target else workspace()
    with _live(seconds) as (progress, status):
        summary = run_loadtest(
            target, duration=seconds, workspace=ws, progress=progress, status=status, **given
        )
    if is_json():
        emit_one(summary.to_dict())
    else:
        print_summary(summary)
    summary.check()

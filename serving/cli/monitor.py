"""``serving monitor``: watch what deployed models see (``monitor drift``: the inputs an
endpoint collected against a baseline; see docs/drift.md)."""

from __future__ import annotations

from pathlib import Path

import click

from serving.cli.common import (
    byte_progress,
    emit_one,
    is_json,
    notice,
    print_json,
    print_table,
    say,
    shows,
    workspace,
)
from serving.cli.endpoint_data import data_folder
from serving.monitor.drift import DriftReport, drift_report
from serving.monitor.errors import DRIFT_EXIT_CODE, DriftDetectedError
from serving.monitor.stats import MISSING_BASELINE, MISSING_COLLECTED, Thresholds


@click.group("monitor")
def monitor() -> None:
    """Compare what endpoints collected with a baseline."""


@monitor.command("drift")
@click.argument("name")
@click.option(
    "--baseline",
    required=True,
    metavar="DATA",
    help="A file or folder (CSV, TSV, JSON Lines, JSON, Parquet with pyarrow), "
    "dataset:NAME[:VERSION], or run:RUN_ID[:PATH] (an output of the run, else its input).",
)
@click.option(
    "--window",
    default="1d",
    show_default=True,
    metavar="SPAN",
    help="Inputs collected in the last SPAN (30m, 6h, 1d, 7d) or since an ISO time.",
)
@click.option(
    "--fail-on-drift",
    is_flag=True,
    help=f"Exit {DRIFT_EXIT_CODE} when any feature drifted (a CI gate); the report is "
    "written first.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Folder for drift.html, drift.png and drift.json (default: ./drift-NAME-TIME/).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level of the per-feature tests.",
)
@click.option(
    "--min-effect",
    type=click.FloatRange(0),
    default=0.1,
    show_default=True,
    help="Smallest effect that counts as drift (baseline std for numbers, share of "
    "traffic for categories).",
)
@shows
def drift(
    name: str, baseline: str, window: str, fail_on_drift: bool, output: Path | None,
    alpha: float, min_effect: float,
) -> None:  # fmt: skip
    """Report data drift of endpoint NAME's collected inputs against a baseline."""
    ws = workspace()
    with byte_progress("reading collected inputs", min_bytes=4 * 1024 * 1024) as progress:
        result = drift_report(
            ws, name, baseline, window=window, output=output,
            limits=Thresholds(alpha=alpha, min_effect=min_effect),
            progress=progress, data_root=data_folder(ws, name),
        )  # fmt: skip
    _show(result)
    if fail_on_drift and result.drifted:
        raise DriftDetectedError(
            f"{len(result.drifted)} feature(s) drifted: {', '.join(result.drifted)}"
        )


def _show(result: DriftReport) -> None:
    if is_json():
        print_json(result.to_dict())
        return
    facts = result.facts()
    emit_one({k: facts[k] for k in ("endpoint", "since", "baseline", "baseline_rows",
                                    "collected_rows", "models")})  # fmt: skip
    rows = [
        (
            f.feature,
            f.kind,
            f.test,
            _num(f.statistic),
            _num(f.p_value),
            _num(f.p_adjusted),
            _num(f.effect),
            f.verdict,
        )
        for f in result.features
    ]
    say("")
    print_table(
        ("FEATURE", "KIND", "TEST", "STATISTIC", "P-VALUE", "ADJ-P", "EFFECT", "VERDICT"), rows,
        justify=("left", "left", "left", "right", "right", "right", "right", "left"),
    )  # fmt: skip
    if facts["skipped_records"]:
        notice(f"{facts['skipped_records']} collected record(s) could not be read as rows")
    for f in result.features:
        if f.unreadable_count:
            notice(
                f"{f.feature}: {f.unreadable_count} collected value(s) are not numbers "
                f"({f.unreadable_share:.0%}; {'drift' if f.drifted else 'under --min-effect'})"
            )
    for verdict in (MISSING_COLLECTED, MISSING_BASELINE):
        names = [f.feature for f in result.features if f.verdict == verdict]
        if names:
            notice(f"{len(names)} feature(s) {verdict}: {', '.join(names)}")
    say("")
    if result.drifted:
        say(f"drifted ({len(result.drifted)}): {', '.join(result.drifted)}")
    else:
        say("no feature drifted")
    say(f"report: {result.files['html']}")
    say(f"summary: {result.files['png']}")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"

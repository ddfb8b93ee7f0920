"""``serving monitor drift``: records in the collector's layout against a baseline file; the
shifted feature is flagged, the others pass; the reports; the CI gate; one-line errors."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from serving.monitor.errors import DRIFT_EXIT_CODE
from tests.helpers import Cli
from tests.monitor.conftest import ENDPOINT, SHIFTED, STEADY, Collect, frame


def _shifted(rows: int = 800, seed: int = 2) -> Any:
    return frame(rows, seed=seed, age_mean=48.0)


def test_the_shifted_feature_is_flagged_and_the_others_pass(
    cli: Cli, collect: Collect, baseline_csv: Path, tmp_path: Path
) -> None:
    collect(_shifted())
    out = tmp_path / "report"
    result = cli("monitor", "drift", ENDPOINT, "--baseline", baseline_csv, "--output", out)
    assert result.code == 0, result.err
    assert f"drifted (1): {SHIFTED}" in result.out
    verdicts = dict(re.findall(r"^(\w+)\s+(?:numeric|categorical)\s.*?(drift|no drift)\s*$",
                               result.out, re.M))  # fmt: skip
    assert verdicts == {SHIFTED: "drift", **{name: "no drift" for name in STEADY}}
    report = json.loads((out / "drift.json").read_text())
    assert report["drifted"] == [SHIFTED] and report["collected_rows"] == 800


def test_reports_are_written_and_self_contained(
    cli: Cli, collect: Collect, baseline_csv: Path, tmp_path: Path
) -> None:
    collect(_shifted())
    out = tmp_path / "report"
    assert cli("monitor", "drift", ENDPOINT, "--baseline", baseline_csv, "--output", out).code == 0
    page = (out / "drift.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert "Plotly.newPlot" in page and "plotly.js" in page.lower()  # the library, inline
    for name in (SHIFTED, *STEADY):
        assert f"{name}: " in page  # each feature's chart title
    assert (out / "drift.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in out.iterdir()) == ["drift.html", "drift.json", "drift.png"]


def test_fail_on_drift_exits_with_its_own_code_after_writing_the_report(
    cli: Cli, collect: Collect, baseline_csv: Path, tmp_path: Path
) -> None:
    collect(_shifted())
    out = tmp_path / "gate"
    args = ("monitor", "drift", ENDPOINT, "--baseline", baseline_csv, "--output", out)
    result = cli(*args, "--fail-on-drift", "-o", "json")
    assert result.code == DRIFT_EXIT_CODE == 9
    assert result.json()["drifted"] == [SHIFTED]  # type: ignore[index]
    assert result.err.strip() == f"error: 1 feature(s) drifted: {SHIFTED}"
    assert (out / "drift.html").is_file()


def test_fail_on_drift_passes_when_nothing_drifted(
    cli: Cli, collect: Collect, baseline_csv: Path, tmp_path: Path
) -> None:
    collect(frame(800, seed=9))
    args = ("--baseline", baseline_csv, "--output", tmp_path / "out", "--fail-on-drift")
    result = cli("monitor", "drift", ENDPOINT, *args)
    assert result.code == 0, result.err
    assert "no feature drifted" in result.out


def test_the_window_takes_only_recent_records(
    cli: Cli, collect: Collect, baseline_csv: Path, tmp_path: Path
) -> None:
    collect(_shifted(seed=3), ago=timedelta(days=3), writer="old")
    collect(frame(800, seed=4), ago=timedelta(minutes=10), writer="new")
    base = ("monitor", "drift", ENDPOINT, "--baseline", baseline_csv, "-o", "json")
    recent = cli(*base, "--window", "6h", "--output", tmp_path / "a").json()
    assert recent["drifted"] == [] and recent["collected_rows"] == 800  # type: ignore[index]
    week = cli(*base, "--window", "7d", "--output", tmp_path / "b").json()
    assert week["drifted"] == [SHIFTED] and week["collected_rows"] == 1600  # type: ignore[index]


def test_features_missing_on_either_side_are_reported(
    cli: Cli, collect: Collect, baseline_csv: Path, tmp_path: Path
) -> None:
    data = _shifted()[["age", "income", "score"]].to_numpy()  # no color; score named extra
    collect(data, feature_names=["age", "income", "extra"])
    result = cli("monitor", "drift", ENDPOINT, "--baseline", baseline_csv,
                 "--output", tmp_path / "o")  # fmt: skip
    assert result.code == 0, result.err
    assert "2 feature(s) missing in collected: score, color" in " ".join(result.err.split())
    assert "1 feature(s) missing in baseline: extra" in " ".join(result.err.split())
    assert "drifted (1): age" in result.out


def _error(result: Any, code: int, text: str) -> None:
    assert result.code == code, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines
    assert "Traceback" not in result.err


def test_errors_are_one_line_and_write_nothing(
    cli: Cli, collect: Collect, baseline_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "never"
    args = ("--output", out)
    _error(cli("monitor", "drift", ENDPOINT, "--baseline", baseline_csv, *args), 3,
           "endpoint shop not found, and nothing was collected")  # fmt: skip
    collect(_shifted(), ago=timedelta(days=2))
    _error(cli("monitor", "drift", ENDPOINT, "--baseline", baseline_csv, "--window", "1h", *args),
           3, "no collected inputs")  # fmt: skip
    for bad in ("1x", "-1d", "soon"):
        _error(cli("monitor", "drift", ENDPOINT, "--baseline", baseline_csv, "--window", bad,
                   *args), 2, "time")  # fmt: skip
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    _error(cli("monitor", "drift", ENDPOINT, "--baseline", garbage, "--window", "7d", *args), 2,
           "cannot read baseline")  # fmt: skip
    odd = tmp_path / "data.xlsx"
    odd.write_bytes(b"PK")
    _error(cli("monitor", "drift", ENDPOINT, "--baseline", odd, "--window", "7d", *args), 2,
           "unknown type .xlsx")  # fmt: skip
    _error(cli("monitor", "drift", ENDPOINT, "--baseline", tmp_path / "nope.csv", *args), 3,
           "not found")  # fmt: skip
    other = tmp_path / "other.csv"
    other.write_text("height,weight\n1,2\n3,4\n", encoding="utf-8")
    _error(cli("monitor", "drift", ENDPOINT, "--baseline", other, "--window", "7d", *args), 2,
           "no common features")  # fmt: skip
    assert not out.exists()

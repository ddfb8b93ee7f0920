"""The locust command line as data, the report folder, and the chart file."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

from serving.loadtest import LoadShape
from serving.loadtest.chart import render_chart
from serving.loadtest.report import ReportFiles, default_report_dir
from serving.loadtest.runner import LOCUSTFILE, locust_argv, locust_env
from serving.loadtest.target import Target
from serving.loadtest.timeline import IntervalRecorder, TimePoint
from tests.helpers import ROOT

TARGET = Target("svc", "http://127.0.0.1:5001", "/score", key="secret-key")


def test_argv_is_bounded_headless_and_keeps_the_key_out(tmp_path: Path) -> None:
    files = ReportFiles(tmp_path)
    argv = locust_argv(TARGET, LoadShape(users=7, spawn_rate=3, duration_s=15), files, python="py")
    assert argv[:5] == ["py", "-m", "locust", "-f", str(LOCUSTFILE)]
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--users"] == "7"
    assert pairs["--spawn-rate"] == "3"
    assert pairs["--run-time"] == "15s"
    assert pairs["--host"] == "http://127.0.0.1:5001"
    assert pairs["--scoring-path"] == "/score"
    assert pairs["--html"] == str(files.html)
    assert pairs["--csv"] == str(tmp_path / "locust")
    assert "--headless" in argv and "--csv-full-history" in argv
    assert not any("secret-key" in a for a in argv)


def test_env_carries_the_key_and_drops_stray_settings() -> None:
    env = locust_env(
        TARGET, {"PATH": "/bin", "LOCUST_HOST": "http://other", "SERVING_LOADTEST_KEY": "x"}
    )
    assert env["SERVING_LOADTEST_KEY"] == "secret-key"
    assert "LOCUST_HOST" not in env
    assert env["PATH"] == "/bin"
    assert "SERVING_LOADTEST_KEY" not in locust_env(Target("u", "http://h", "/score"), {})


def test_the_by_hand_locustfile_reuses_the_packaged_one() -> None:
    text = (ROOT / "loadtests" / "locustfile.py").read_text()
    assert "from serving.loadtest.locustfile import *" in text
    assert LOCUSTFILE.is_file()


def test_report_folder(tmp_path: Path) -> None:
    files = ReportFiles(tmp_path / "out")
    files.prepare()
    files.chart.write_bytes(b"old")
    (files.folder / "mine.txt").write_text("kept")
    files.prepare()
    assert not files.chart.exists()
    assert (files.folder / "mine.txt").exists()
    name = default_report_dir("http://127.0.0.1:5001/score", datetime(2026, 1, 2, 3, 4, 5))
    assert name == Path("loadtest-reports/127.0.0.1-5001-score-20260102-030405")


def points() -> list[TimePoint]:
    rec = IntervalRecorder(0.0)
    out = []
    for second in range(1, 8):
        for ms in range(1, 50):
            rec.add(ms * (1 + second / 10), failed=second == 4 and ms < 10)
        out.append(rec.flush(float(second), users=min(second * 2, 10)))
    return out


def test_chart_is_a_png(tmp_path: Path) -> None:
    path = render_chart(points(), tmp_path / "chart.png", title="svc", slo_p99_ms=60)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # lines drawn, not an empty canvas
    empty = render_chart([], tmp_path / "empty.png", title="nothing")
    assert empty.read_bytes()[:4] == b"\x89PNG"

"""Reading collected inputs (serving.monitor.collected): progress inside a big file, records
that are not rows skipped and counted, torn lines ignored; and a report of many rows
stays small (serving.monitor.report)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from serving.monitor.collected import read_collected
from serving.runs.datastores import model_data_folder
from serving.scoring.collection.layout import PROGRESS_STEP
from serving.workspace import Workspace
from tests.monitor.conftest import ENDPOINT, Collect, frame


def test_progress_moves_inside_one_big_file(ws: Workspace, collect: Collect) -> None:
    path = collect(frame(40_000, seed=1))
    size = path.stat().st_size
    assert size > 3 * PROGRESS_STEP
    seen: list[tuple[int, int]] = []
    since = datetime.now(UTC) - timedelta(days=1)
    root = Path(model_data_folder(ws))
    got = read_collected(root, ENDPOINT, since, lambda d, t: seen.append((d, t)))
    assert len(got.frame) == 40_000 and got.files == 1
    assert len(seen) >= 3 and seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_odd_records_are_skipped_not_fatal(ws: Workspace, collect: Collect) -> None:
    path = collect(frame(80, seed=1))
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"time": "not a time", "data": [[1, 2]]}\n')  # unreadable time
        handle.write('{"time": "2026-12-06T10:00:00+00:00", "data"')  # a torn last line
    since = datetime.now(UTC) - timedelta(days=1)
    got = read_collected(Path(model_data_folder(ws)), ENDPOINT, since)
    assert len(got.frame) == 80 and got.records == 10 and got.models == ["model:1"]


def test_the_html_holds_bins_not_values(tmp_path: Path) -> None:
    """Histograms are binned before they reach plotly: the page does not grow with rows."""
    from plotly.offline import get_plotlyjs

    from serving.monitor.report import write_html
    from serving.monitor.stats import Thresholds, compare_frames

    base, cur = frame(50_000, seed=1), frame(50_000, seed=2, age_mean=48.0)
    results = compare_frames(base, cur, Thresholds())
    page = write_html(tmp_path / "d.html", "t", {"rows": 50_000}, results, base, cur)
    assert page.stat().st_size - len(get_plotlyjs()) < 100_000

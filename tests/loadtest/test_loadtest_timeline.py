"""The per-second series: recorded intervals, percentiles, and reading a file as it grows."""

from __future__ import annotations

from pathlib import Path

from serving.loadtest.timeline import (
    IntervalRecorder,
    TimelineTail,
    TimePoint,
    percentile,
    read_timeline,
)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7


def test_intervals() -> None:
    rec = IntervalRecorder(start=100.0)
    for ms in (10, 20, 30, 40):
        rec.add(ms, failed=False)
    rec.add(50, failed=True)
    first = rec.flush(now=101.0, users=3)
    assert (first.t_s, first.users, first.requests, first.failures) == (1.0, 3, 5, 1)
    assert (first.rps, first.failures_per_s) == (5.0, 1.0)
    assert (first.p50_ms, first.p99_ms, first.max_ms) == (30, 50, 50)
    empty = rec.flush(now=102.0)  # users: the last count
    assert empty.users == 3
    assert (empty.requests, empty.p99_ms, empty.total_requests, empty.total_failures) == (
        0,
        None,
        5,
        1,
    )


def test_tail_reads_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    tail = TimelineTail(path)
    assert tail.new_points() == []
    rec = IntervalRecorder(0.0)
    rec.add(5.0, failed=False)
    one, two = rec.flush(1.0, 1), rec.flush(2.0, 1)
    line2 = two.to_json()
    path.write_text(one.to_json() + "\n" + line2[:10])
    assert tail.new_points() == [one]
    with path.open("a") as file:
        file.write(line2[10:] + "\nnot json\n")
    assert tail.new_points() == [two]
    assert read_timeline(path) == [one, two]
    assert read_timeline(tmp_path / "none.jsonl") == []


def test_round_trip() -> None:
    point = TimePoint(1.0, 2, 3, 0, 3.0, 0.0, None, None, None, None, 3, 0)
    import json

    assert TimePoint.from_dict(json.loads(point.to_json())) == point

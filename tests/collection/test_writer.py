"""The background writer: flush at stop, bounded queue with counted drops, day files, and
ModelDataCollector recording through it only when collection is on."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serving.scoring.collection import collector, layout, writer
from serving.scoring.compat.azureml.monitoring import ModelDataCollector

T0 = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)


def _item(
    cid: str, data: Any = None, when: datetime = T0, designation: str = "inputs"
) -> tuple[Any, ...]:
    """The fields of one ``collect()`` call, as ``Writer.add`` takes them."""
    return (when, "m", designation, ["x"], cid, [[1]] if data is None else data)


class HungDisk:
    """The writer's files block in ``write`` until the test opens the gate: a hung disk
    holds the writer's thread inside one write, so the buffer fills up deterministically."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()
        real = writer._open_append

        def opened(path: Path) -> Any:
            return _Blocking(real(path), self)

        monkeypatch.setattr(writer, "_open_append", opened)


class _Blocking:
    def __init__(self, handle: Any, disk: HungDisk) -> None:
        self.handle, self.disk = handle, disk

    def write(self, data: bytes) -> int:
        self.disk.entered.set()
        assert self.disk.open.wait(10)
        return int(self.handle.write(data))

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def test_stop_writes_everything_queued(tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    sink = writer.Writer(tmp_path, "ep", versions={"m": "3"}, writer_id="w",
                         counted=lambda r, n: counts.update({r: n}))  # fmt: skip
    for i in range(500):
        assert sink.add(*_item(f"c{i}"))
    sink.stop()
    records = list(layout.iter_records(tmp_path, "ep"))
    assert [r["correlation_id"] for r in records] == [f"c{i}" for i in range(500)]
    assert {r["model_version"] for r in records} == {"3"}
    assert sink.written == 500 and counts == {"written": 500}
    assert not sink.add(*_item("late"))
    assert counts["stopped"] == 1 and sink.dropped == 1


def test_full_queue_drops_and_counts_without_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts: Counter[str] = Counter()
    sink = writer.Writer(tmp_path, "ep", capacity=2, writer_id="w",
                         counted=lambda r, n: counts.update({r: n}))  # fmt: skip
    gate = HungDisk(monkeypatch)
    assert sink.add(*_item("held"))
    assert gate.entered.wait(10)  # the thread is stuck writing "held", the buffer is empty
    accepted = [sink.add(*_item(f"c{i}")) for i in range(10)]
    assert accepted == [True, True] + [False] * 8
    assert counts["queue_full"] == 8 and sink.dropped == 8
    gate.open.set()
    sink.stop()
    ids = [r["correlation_id"] for r in layout.iter_records(tmp_path, "ep")]
    assert ids == ["held", "c0", "c1"]
    assert counts["written"] == 3


def test_records_go_to_one_file_per_day_and_folders_are_group_writable(tmp_path: Path) -> None:
    sink = writer.Writer(tmp_path, "ep", writer_id="w")
    sink.add(*_item("a", when=T0))
    sink.add(*_item("b", when=T0 + timedelta(seconds=2)))
    sink.add(*_item("p", when=T0, designation="predictions", data=np.array([0.5])))
    sink.stop()
    files = [p.relative_to(tmp_path).as_posix() for p in layout.record_files(tmp_path, "ep")]
    assert files == [
        "modeldata/ep/m/unversioned/inputs/2026/12/06/w.jsonl",
        "modeldata/ep/m/unversioned/inputs/2026/12/07/w.jsonl",
        "modeldata/ep/m/unversioned/predictions/2026/12/06/w.jsonl",
    ]
    for path in layout.record_files(tmp_path, "ep"):
        assert path.stat().st_mode & 0o777 == 0o660
        assert path.parent.stat().st_mode & 0o7777 == 0o2770


def test_unwritable_folder_counts_write_errors(tmp_path: Path) -> None:
    (tmp_path / "modeldata").write_text("a file where a folder should be")
    counts: Counter[str] = Counter()
    sink = writer.Writer(tmp_path, "ep", writer_id="w", counted=lambda r, n: counts.update({r: n}))
    sink.add(*_item("a"))
    sink.add(*_item("b"))
    sink.stop()
    assert counts == {"write_error": 2} and sink.written == 0


@pytest.fixture()
def process_writer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A clean slate for the process-wide settings and writer."""
    monkeypatch.setattr(collector, "_settings", None)
    monkeypatch.setattr(writer, "_current", None)
    yield
    writer.stop_current()


@pytest.mark.usefixtures("process_writer")
def test_collector_records_with_versions_and_correlations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "app"
    (app / "azureml-models" / "digits" / "4").mkdir(parents=True)
    store = tmp_path / "store"
    monkeypatch.setenv("SERVING_MODEL_DATA_DIR", str(store))
    monkeypatch.setenv("AML_APP_ROOT", str(app))
    monkeypatch.setenv("SERVICE_NAME", "ep")
    monkeypatch.setenv("SERVING_REPLICA_ID", "ep-r1")
    monkeypatch.setattr(writer, "prometheus_counter", lambda: None)
    inputs = ModelDataCollector("digits", designation="inputs", feature_names=["a", "b"])
    predictions = ModelDataCollector("digits", designation="predictions")
    data = np.array([[1.0, 2.0]])
    cid = inputs.collect(data)
    result = predictions.add_correlations(np.array([7]), cid)
    assert predictions.collect(result) == cid
    data[0, 0] = 99.0  # the script reuses its array: the record keeps what was collected
    assert inputs.collect([[3, 4]], user_correlation_id="mine") == "mine"
    writer.stop_current()
    records = list(layout.iter_records(store, "ep"))
    got = {(r["designation"], r["correlation_id"]): r for r in records}
    assert got[("inputs", cid)]["data"] == [[1.0, 2.0]]
    assert got[("inputs", cid)]["model_version"] == "4"
    assert got[("predictions", cid)]["data"] == [7]
    assert got[("inputs", "mine")]["feature_names"] == ["a", "b"]
    assert all(p.name.startswith("ep-r1-") for p in layout.record_files(store, "ep"))


@pytest.mark.usefixtures("process_writer")
def test_collect_encodes_at_once_so_later_changes_and_bad_data_do_not_leak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list or DataFrame changed after collect() is recorded as it was collected; data
    that cannot be encoded is an encode_error counted in collect(), not a failed request."""
    import pandas as pd

    store = tmp_path / "store"
    monkeypatch.setenv("SERVING_MODEL_DATA_DIR", str(store))
    monkeypatch.setenv("AML_APP_ROOT", str(tmp_path / "app"))
    monkeypatch.setenv("SERVICE_NAME", "ep")
    counts: Counter[str] = Counter()
    monkeypatch.setattr(writer, "prometheus_counter", lambda: lambda r, n: counts.update({r: n}))
    dc = ModelDataCollector("m", designation="inputs")
    rows = [[1, 2]]
    first = dc.collect(rows)
    rows[0][0] = 99  # the script reuses its objects at once
    frame = pd.DataFrame({"age": [30], "city": ["Oslo"]})
    second = dc.collect(frame)
    frame["age"] = 31
    dc.collect(Unconvertible())  # raises while being encoded: dropped, counted
    writer.stop_current()
    got = {r["correlation_id"]: r for r in layout.iter_records(store, "ep")}
    assert got[first]["data"] == [[1, 2]]
    assert got[second]["data"] == [[30, "Oslo"]]
    assert got[second]["feature_names"] == ["age", "city"]
    assert counts["encode_error"] == 1 and counts["written"] == 2


@pytest.mark.usefixtures("process_writer")
def test_collection_off_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVING_MODEL_DATA_DIR", raising=False)
    ModelDataCollector("m", designation="inputs").collect([[1]])
    assert writer._current is None


def test_a_file_left_mid_line_is_ended_before_appending(tmp_path: Path) -> None:
    """A process killed mid-write left a torn line; the next one with the same writer id
    (a restarted container repeats pids) must not glue its first record onto it."""
    torn = layout.record_file(tmp_path, "ep", "m", None, "inputs", T0.date(), "w")
    torn.parent.mkdir(parents=True)
    torn.write_bytes(layout.encode({"time": T0.isoformat(), "correlation_id": "kept"})
                     + b'{"time": "2026-12-06T23:5')  # fmt: skip
    sink = writer.Writer(tmp_path, "ep", writer_id="w")
    sink.add(*_item("next"))
    sink.stop()
    ids = [r["correlation_id"] for r in layout.iter_records(tmp_path, "ep")]
    assert ids == ["kept", "next"]


@pytest.mark.usefixtures("process_writer")
def test_a_writer_that_cannot_be_made_turns_collection_off_without_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SERVING_MODEL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(collector, "_unavailable", False)

    def broken() -> writer.Counted:
        raise OSError("metrics folder not writable")

    monkeypatch.setattr(writer, "prometheus_counter", broken)
    collect = ModelDataCollector("m", designation="inputs")
    assert collect.collect([[1]], "a") == "a" and collect.collect([[2]], "b") == "b"
    assert writer._current is None and collector._unavailable
    assert [r.message for r in caplog.records].count(
        "model data collection is off in this process: metrics folder not writable"
    ) == 1


def test_new_correlation_ids_are_uuid_shaped_and_differ_across_forks() -> None:
    import os
    import uuid

    parent = [collector.correlation_id() for _ in range(3)]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids, then out without running pytest's teardown
        os.write(write, collector.correlation_id().encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        child = handle.read().decode()
    os.waitpid(pid, 0)
    assert len({*parent, child}) == 4
    assert {uuid.UUID(i).version for i in [*parent, child]} == {4}
    assert child[:24] != parent[0][:24]


@pytest.mark.usefixtures("process_writer")
def test_a_child_forked_while_the_guard_is_held_makes_its_own_writer(tmp_path: Path) -> None:
    import os
    import time

    with writer._guard:  # a parent's thread making its writer at the moment of the fork
        pid = os.fork()
        if pid == 0:
            made = writer.current(lambda: writer.Writer(tmp_path, "ep", writer_id="child"))
            made.add(*_item("from-child"))
            made.stop()
            os._exit(0)
    deadline = time.monotonic() + 20
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert done[0] == pid and done[1] == 0, "the child hung on the parent's guard"
    assert [r["correlation_id"] for r in layout.iter_records(tmp_path, "ep")] == ["from-child"]


def test_a_stop_that_times_out_counts_what_it_could_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts: Counter[str] = Counter()
    sink = writer.Writer(tmp_path, "ep", writer_id="w", counted=lambda r, n: counts.update({r: n}))
    gate = HungDisk(monkeypatch)
    assert sink.add(*_item("held"))
    assert gate.entered.wait(10)  # a hung disk: the thread is stuck in one write
    for i in range(5):
        assert sink.add(*_item(f"c{i}"))
    sink.stop(timeout_s=0.2)
    assert counts["stopped"] == 5 and sink.dropped == 5
    gate.open.set()  # the disk comes back: the record the thread held is still written
    sink._thread.join(10)
    assert counts["written"] == 1 and counts["written"] + counts["stopped"] == 6


class Unconvertible:
    """Data the script collected that raises when the writer converts it."""

    def tolist(self) -> list[int]:
        raise RuntimeError("no list for you")


def test_data_that_cannot_be_encoded_is_counted_and_the_writer_goes_on(tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    sink = writer.Writer(tmp_path, "ep", writer_id="w", counted=lambda r, n: counts.update({r: n}))
    assert not sink.add(*_item("bad", data=Unconvertible()))
    sink.add(*_item("good"))
    sink.stop()
    assert counts == {"encode_error": 1, "written": 1}
    assert [r["correlation_id"] for r in layout.iter_records(tmp_path, "ep")] == ["good"]

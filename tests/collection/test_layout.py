"""The model data layout: paths, record encoding (numpy, pandas) and the reader."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from serving.errors import UserInputError
from serving.scoring.collection import layout

T0 = datetime(2026, 12, 5, 23, 59, 0, tzinfo=UTC)


def _write(root: Path, designation: str, when: datetime, data: object, **kw: object) -> None:
    record = layout.make_record(
        endpoint="ep",
        model_name="m",
        model_version="2",
        designation=designation,
        correlation_id=kw.pop("cid", "c"),  # type: ignore[arg-type]
        data=data,
        time=when,
        **kw,  # type: ignore[arg-type]
    )
    path = layout.record_file(root, "ep", "m", "2", designation, when.date(), "w1")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(layout.encode(record))


def test_paths_are_partitioned_by_endpoint_model_version_designation_and_day(
    tmp_path: Path,
) -> None:
    path = layout.record_file(tmp_path, "ep", "m", None, "inputs", date(2026, 1, 2), "h-1")
    rel = path.relative_to(tmp_path).as_posix()
    assert rel == "modeldata/ep/m/unversioned/inputs/2026/01/02/h-1.jsonl"
    odd = layout.record_file(tmp_path, "ep", "a/b", "..", "x y", date(2026, 1, 2), "w")
    assert odd.relative_to(tmp_path).parts[2:5] == ("a_b", "unversioned", "x_y")


def test_numpy_and_pandas_become_json_with_feature_names() -> None:
    frame = pd.DataFrame({"a": [1.5, float("nan")], "b": [np.int64(3), np.int64(4)]})
    record = layout.make_record(
        endpoint="ep", model_name="m", model_version=None, designation="inputs",
        correlation_id="c", data=frame,
    )  # fmt: skip
    assert record["feature_names"] == ["a", "b"]
    assert record["model_version"] is None
    line = layout.encode(record)
    assert line.endswith(b"\n") and json.loads(line)["data"] == [[1.5, 3], [None, 4]]
    arr = layout.make_record(
        endpoint="ep", model_name="m", model_version="1", designation="predictions",
        correlation_id="c", data=np.array([1, 2], dtype=np.int32),
    )  # fmt: skip
    assert json.loads(layout.encode(arr))["data"] == [1, 2] and arr["feature_names"] is None
    odd = {"k": np.float32(0.5), "s": {1}, "n": np.array([np.nan, np.inf]), 3: b"x", "o": object}
    assert json.loads(layout.encode({"data": odd}))["data"] == {
        "k": 0.5, "s": [1], "n": [None, None], "3": "x", "o": "<class 'object'>",
    }  # fmt: skip


def test_iter_records_filters_by_designation_and_since_and_skips_torn_lines(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "inputs", T0, [[1, 2]], feature_names=["x", "y"], cid="old")
    _write(tmp_path, "inputs", T0 + timedelta(minutes=2), [[3, 4]], cid="new")
    _write(tmp_path, "predictions", T0 + timedelta(minutes=2), [7], cid="new")
    # a line still being written by a live writer
    newest = layout.record_file(tmp_path, "ep", "m", "2", "inputs", date(2026, 12, 6), "w1")
    with open(newest, "a", encoding="utf-8") as handle:
        handle.write('{"time": "2026-12-06T00:0')
    # a line cut inside a multi-byte character (a killed writer, or its buffer written out)
    cut = layout.record_file(tmp_path, "ep", "m", "2", "inputs", date(2026, 12, 6), "w2")
    cut.write_bytes('{"correlation_id": "caf\u00e9"}'.encode()[:-3])
    everything = list(layout.iter_records(tmp_path, "ep"))
    assert sorted(r["correlation_id"] for r in everything) == ["new", "new", "old"]
    inputs = list(layout.iter_records(tmp_path, "ep", designation="inputs"))
    assert [r["correlation_id"] for r in inputs] == ["old", "new"]
    recent = list(layout.iter_records(tmp_path, "ep", since=T0 + timedelta(minutes=1)))
    assert {r["designation"] for r in recent} == {"inputs", "predictions"}
    assert {r["correlation_id"] for r in recent} == {"new"}
    assert list(layout.iter_records(tmp_path, "other")) == []


def test_record_rows_shapes() -> None:
    def rows(data: object, names: list[str] | None = None) -> list[dict[str, object]]:
        return layout.record_rows({"data": data, "feature_names": names})

    assert rows([[1, 2], [3, 4]], ["x", "y"]) == [{"x": 1, "y": 2}, {"x": 3, "y": 4}]
    assert rows([[1, 2]]) == [{"f0": 1, "f1": 2}]
    assert rows([[1, 2, 3]], ["x"]) == [{"x": 1, "f1": 2, "f2": 3}]
    assert rows([{"x": 1}]) == [{"x": 1}]
    assert rows({"data": [[5, 6]]}) == [{"f0": 5, "f1": 6}]
    assert rows({"x": [1, 2], "y": [3, 4]}) == [{"x": 1, "y": 3}, {"x": 2, "y": 4}]
    assert rows({"x": 1}) == [{"x": 1}]
    assert rows([1, 2], ["x", "y"]) == [{"x": 1, "y": 2}]
    assert rows([0, 1]) == [{"f0": 0}, {"f0": 1}]
    assert rows([0, 1], ["label"]) == [{"label": 0}, {"label": 1}]
    assert rows(7) == [{"f0": 7}]
    assert rows([]) == []


def test_parse_since() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert layout.parse_since("1d", now) == now - timedelta(days=1)
    assert layout.parse_since("1d12h", now) == now - timedelta(hours=36)
    assert layout.parse_since("30m", now) == now - timedelta(minutes=30)
    assert layout.parse_since("2026-12-05") == datetime(2026, 12, 5, tzinfo=UTC)
    assert layout.parse_since("2026-12-05T10:00+01:00") == datetime(2026, 12, 5, 9, tzinfo=UTC)
    with pytest.raises(UserInputError, match="cannot read time 'yesterday'"):
        layout.parse_since("yesterday")


def test_the_writers_encoding_is_the_records() -> None:
    when = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)
    for data, names in (
        (np.array([[1.0, np.nan]]), ["x", "y"]),
        (pd.DataFrame({"a": [1]}), None),
        ({"k": [1, 2]}, None),
    ):
        record = layout.make_record(
            endpoint="ep", model_name="m", model_version=None, designation="inputs",
            correlation_id='c"1', data=data, feature_names=names, time=when,
        )  # fmt: skip
        head = layout.record_head("ep", "m", None, "inputs")
        assert layout.encode_parts(when, head, 'c"1', names, data) == layout.encode(record)
        if names is not None:  # the writer's cached names give the same line
            given = layout.encode_names(names)
            assert layout.encode_parts(when, head, 'c"1', names, data, given) == layout.encode(
                record
            )
    frame = pd.DataFrame({"a": [1]})  # names from its columns, even when empty ones are given
    line = layout.encode_parts(when, b'"endpoint":"ep"', "c", [], frame, b"[]")
    assert orjson.loads(line)["feature_names"] == ["a"] and orjson.loads(line)["data"] == [[1]]
    local = datetime(2026, 12, 6, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    line = layout.encode_parts(local, b'"endpoint":"ep"', "c", [1, "b"], [[1, 2]], b'["1","b"]')
    assert orjson.loads(line)["time"] == "2026-12-06T10:00:00.000005+00:00"
    assert orjson.loads(line)["feature_names"] == ["1", "b"]

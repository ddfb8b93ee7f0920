"""``serving endpoints data``: counts, merged JSONL and CSV exports, --since and
--designation, and one-line errors (unknown endpoint, collection off, nothing collected)."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from serving.deploy.spec import DeploymentSpec
from serving.runs.datastores import model_data_folder
from serving.scoring.collection import writer
from serving.workspace import Workspace
from tests.helpers import Cli, CliResult

NOW = datetime.now(UTC)


def _collect(root: Path, endpoint: str, n: int, when: datetime = NOW) -> None:
    sink = writer.Writer(root, endpoint, versions={"digits": "2"}, writer_id="w")
    for i in range(n):
        t = when + timedelta(milliseconds=i)
        sink.add(t, "digits", "inputs", ["a", "b"], f"c{i}", [[i, i + 1]])
        sink.add(t, "digits", "predictions", None, f"c{i}", [i % 2])
    sink.stop()


def _rows(result: CliResult) -> list[dict[str, Any]]:
    assert result.code == 0, result.err
    return cast(list[dict[str, Any]], result.json())


def _endpoint(ws: Workspace, name: str, *, collect: bool) -> Path:
    folder = model_data_folder(ws)
    spec = DeploymentSpec(collect_model_data=collect, model_data_dir=folder)
    ws.endpoints.create(name, "local", {"deployment": spec.to_dict()}, [], [])
    return Path(folder)


def test_counts_and_merged_exports(ws: Workspace, cli: Cli, tmp_path: Path) -> None:
    root = _endpoint(ws, "epx", collect=True)
    _collect(root, "epx", 3, NOW - timedelta(days=3))
    _collect(root, "epx", 5)
    shown = _rows(cli("endpoints", "data", "epx", "-o", "json"))
    counts = {(c["designation"], c["model_version"]): c["records"] for c in shown}
    assert counts == {("inputs", "2"): 8, ("predictions", "2"): 8}
    recent = _rows(cli("endpoints", "data", "epx", "--since", "1d", "-o", "json"))
    assert {c["records"] for c in recent} == {5}
    out = tmp_path / "export"
    done = cli("endpoints", "data", "epx", "--output", str(out), "--designation", "inputs")
    assert done.code == 0, done.err
    assert "epx-inputs.jsonl: 8 records" in done.out
    lines = (out / "epx-inputs.jsonl").read_text().splitlines()
    times = [json.loads(line)["time"] for line in lines]
    assert len(lines) == 8 and times == sorted(times)
    assert not (out / "epx-predictions.jsonl").exists()
    assert cli("endpoints", "data", "epx", "--output", str(out), "--file-format", "csv").code == 0
    with open(out / "epx-inputs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time", "correlation_id", "model_name", "model_version", "a", "b"]
    assert len(rows) == 8 and rows[-1]["a"] == "4" and rows[-1]["b"] == "5"
    with open(out / "epx-predictions.csv", newline="") as handle:
        assert [r["f0"] for r in csv.DictReader(handle)][:3] == ["0", "1", "0"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial files
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o666 & ~umask}  # not 0600


def test_deleted_endpoint_data_stays_exportable(ws: Workspace, cli: Cli) -> None:
    _collect(Path(model_data_folder(ws)), "gone", 2)
    shown = _rows(cli("endpoints", "data", "gone", "-o", "json"))
    assert sum(c["records"] for c in shown) == 4


def test_one_line_errors(ws: Workspace, cli: Cli) -> None:
    unknown = cli("endpoints", "data", "nope")
    assert unknown.code == 3
    assert "error: endpoint nope not found, and nothing was collected" in unknown.err
    assert len(unknown.err.strip().splitlines()) == 1
    _endpoint(ws, "off", collect=False)
    off = cli("endpoints", "data", "off")
    assert off.code == 2 and "does not collect model data" in off.err
    _endpoint(ws, "quiet", collect=True)
    empty = cli("endpoints", "data", "quiet")
    assert empty.code == 3 and "nothing collected for endpoint quiet" in empty.err
    bad = cli("endpoints", "data", "quiet", "--since", "yesterday")
    assert bad.code == 2 and "cannot read time 'yesterday'" in bad.err

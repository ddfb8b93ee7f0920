"""``--baseline`` spellings: files of each type, a folder, unnamed columns, a registered
dataset (``dataset:NAME[:VERSION]``) and a training run's data (``run:ID[:PATH]``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from serving.runs.store import RunStore
from serving.sdk import Dataset
from serving.sdk import Workspace as SdkWorkspace
from serving.workspace import Workspace
from tests.helpers import Cli
from tests.monitor.conftest import ENDPOINT, SHIFTED, Collect, frame


def _drifted(cli: Cli, baseline: object, out: Path) -> object:
    result = cli("monitor", "drift", ENDPOINT, "--baseline", baseline, "--output", out,
                 "-o", "json")  # fmt: skip
    assert result.code == 0, result.err
    return result.json()["drifted"]  # type: ignore[index]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".tsv"])
def test_file_types(cli: Cli, collect: Collect, tmp_path: Path, suffix: str) -> None:
    collect(frame(800, seed=2, age_mean=48.0))
    base = frame(1500, seed=1)
    path = tmp_path / f"base{suffix}"
    if suffix == ".jsonl":
        base.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        base.to_json(path, orient="records")
    else:
        base.to_csv(path, sep="\t", index=False)
    assert _drifted(cli, path, tmp_path / "out") == [SHIFTED]


def test_a_folder_of_files_is_stacked(cli: Cli, collect: Collect, tmp_path: Path) -> None:
    collect(frame(800, seed=2, age_mean=48.0))
    folder = tmp_path / "parts"
    folder.mkdir()
    frame(700, seed=1).to_csv(folder / "a.csv", index=False)
    frame(700, seed=3).to_csv(folder / "b.csv", index=False)
    (folder / "README.txt").write_text("not data")
    assert _drifted(cli, folder, tmp_path / "out") == [SHIFTED]


def test_unnamed_columns_match_by_position(cli: Cli, collect: Collect, tmp_path: Path) -> None:
    """Collected rows without feature names are f0, f1...: so are a JSON baseline's."""
    collect(frame(800, seed=2, age_mean=48.0)[["age", "score"]].to_numpy())
    path = tmp_path / "base.json"
    rows = frame(1500, seed=1)[["age", "score"]].to_numpy().tolist()
    path.write_text(json.dumps({"data": rows}), encoding="utf-8")
    assert _drifted(cli, path, tmp_path / "out") == ["f0"]


def test_a_registered_dataset(cli: Cli, collect: Collect, ws_path: Path, tmp_path: Path) -> None:
    collect(frame(800, seed=2, age_mean=48.0))
    sdk_ws = SdkWorkspace.open(ws_path)
    assert isinstance(sdk_ws, SdkWorkspace)
    (tmp_path / "src").mkdir()
    frame(1500, seed=1).to_csv(tmp_path / "src" / "base.csv", index=False)
    store = sdk_ws.get_default_datastore()
    store.upload(src_dir=str(tmp_path / "src"), target_path="shop", show_progress=False)
    Dataset.Tabular.from_delimited_files(path=[(store, "shop/*.csv")]).register(sdk_ws, "shop")
    assert _drifted(cli, "dataset:shop", tmp_path / "a") == [SHIFTED]
    assert _drifted(cli, "dataset:shop:1", tmp_path / "b") == [SHIFTED]
    result = cli("monitor", "drift", ENDPOINT, "--baseline", "dataset:shop:7")
    assert result.code == 3 and "dataset shop has no version 7" in result.err


def test_a_runs_output_and_its_input(
    cli: Cli, collect: Collect, ws: Workspace, tmp_path: Path
) -> None:
    collect(frame(800, seed=2, age_mean=48.0))
    runs = RunStore(ws.path, ws.db)
    trained = runs.create_run("train", kind="script", target="local")
    (runs.run_dir(trained.id) / "outputs").mkdir()
    frame(1500, seed=1).to_csv(runs.run_dir(trained.id) / "outputs" / "train.csv", index=False)
    assert _drifted(cli, f"run:{trained.id}:outputs/train.csv", tmp_path / "a") == [SHIFTED]

    store = ws.path / "datastores" / "workspaceblobstore" / "training"
    store.mkdir(parents=True)
    frame(1500, seed=3).to_csv(store / "data.csv", index=False)
    ref = {"datastore_name": "workspaceblobstore", "path_on_datastore": "training"}
    fed = runs.create_run("train", kind="script", target="local",
                          definition={"data_references": {"train_data": ref}})  # fmt: skip
    assert _drifted(cli, f"run:{fed.id}", tmp_path / "b") == [SHIFTED]

    bare = cli("monitor", "drift", ENDPOINT, "--baseline", f"run:{trained.id}")
    assert bare.code == 2 and f"run {trained.id} has no input" in bare.err
    gone = cli("monitor", "drift", ENDPOINT, "--baseline", f"run:{trained.id}:outputs/x.csv")
    assert gone.code == 3 and "has no output 'outputs/x.csv'" in gone.err
    escape = cli("monitor", "drift", ENDPOINT, "--baseline", f"run:{trained.id}:../../x.csv")
    assert escape.code == 2 and "relative path inside the run" in escape.err
    missing = cli("monitor", "drift", ENDPOINT, "--baseline", "run:nosuchrun")
    assert missing.code == 3 and "run nosuchrun not found" in missing.err


def test_parquet_needs_pyarrow_or_reads(cli: Cli, collect: Collect, tmp_path: Path) -> None:
    collect(frame(800, seed=2, age_mean=48.0))
    path = tmp_path / "base.parquet"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        path.write_bytes(b"PAR1")
        result = cli("monitor", "drift", ENDPOINT, "--baseline", path)
        assert result.code == 2 and "Parquet needs pyarrow" in result.err
        return
    pd.DataFrame(frame(1500, seed=1)).to_parquet(path)
    assert _drifted(cli, path, tmp_path / "out") == [SHIFTED]

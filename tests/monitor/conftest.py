"""Fixtures of the drift tests: a synthetic baseline and collected records written in the
collector's layout (:mod:`serving.scoring.collection.layout`), with one feature shifted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from serving.runs.datastores import DatastoreStore
from serving.scoring.collection import layout
from serving.workspace import Workspace

ENDPOINT = "shop"
SHIFTED = "age"
STEADY = ("income", "score", "color")


def frame(rows: int, seed: int, age_mean: float = 40.0) -> pd.DataFrame:
    """Four features; ``age`` centred on ``age_mean`` (40 in the baseline)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(age_mean, 10.0, rows),
        "income": rng.lognormal(10.0, 0.5, rows),
        "score": rng.normal(0.0, 1.0, rows),
        "color": rng.choice(["red", "green", "blue"], rows),
    })  # fmt: skip


@pytest.fixture()
def baseline_csv(tmp_path: Path) -> Path:
    path = tmp_path / "baseline.csv"
    frame(2000, seed=1).to_csv(path, index=False)
    return path


Collect = Callable[..., Path]


@pytest.fixture()
def collect(ws: Workspace) -> Collect:
    """``collect(data, ago=timedelta, endpoint=..., per_record=8, feature_names=None)``:
    write ``data`` as ModelDataCollector records (``per_record`` rows each) made ``ago``."""
    root = DatastoreStore(ws.path, ws.db).default().path

    def write(
        data: Any,
        *,
        ago: timedelta = timedelta(minutes=5),
        endpoint: str = ENDPOINT,
        per_record: int = 8,
        feature_names: list[str] | None = None,
        writer: str = "w1",
    ) -> Path:
        when = datetime.now(UTC) - ago
        path = layout.record_file(root, endpoint, "model", "1", "inputs", when.date(), writer)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:  # layout.encode gives bytes
            for start in range(0, len(data), per_record):
                record = layout.make_record(
                    endpoint=endpoint, model_name="model", model_version="1",
                    designation="inputs", correlation_id=f"c{start}",
                    data=data[start : start + per_record], feature_names=feature_names,
                    time=when,
                )  # fmt: skip
                handle.write(layout.encode(record))
        return path

    return write

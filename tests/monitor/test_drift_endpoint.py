"""End to end: a local endpoint whose score.py collects its inputs with ModelDataCollector
is sent traffic with one feature shifted; after a graceful stop, ``monitor drift`` flags
that feature and passes the others."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import Cli
from tests.monitor.conftest import frame

pytestmark = pytest.mark.slow

SCORE = Path(__file__).with_name("collecting_score.py")
FEATURES = ["age", "income", "score"]


@pytest.fixture(autouse=True)
def _shared_envs(shared_envs: Path) -> None:
    """The deployment builds its venv in the session's cache."""


def test_collected_traffic_with_a_shifted_feature_is_flagged(
    cli: Cli, tmp_path: Path, runtime_only_env: Path
) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"the score.py needs no model")
    assert cli("models", "register", model, "--name", "shop-model").code == 0
    deployed = cli("deploy", "drift-shop", "--model", "shop-model", "--entry-script", SCORE,
                   "--env", runtime_only_env, "--target", "local", "--collect-model-data",
                   "-o", "json")  # fmt: skip
    assert deployed.code == 0, deployed.err
    uri = str(deployed.json()["scoring_uri"])  # type: ignore[index]
    try:
        rows = frame(600, seed=2, age_mean=48.0)[FEATURES].to_numpy().tolist()
        deadline = time.monotonic() + 120
        with requests.Session() as http:
            for start in range(0, len(rows), 6):
                assert time.monotonic() < deadline, "scoring 100 requests took over 2 minutes"
                body = {"data": rows[start : start + 6], "id": f"r{start}"}
                answer = http.post(uri, data=json.dumps(body), timeout=30,
                                   headers={"Content-Type": "application/json"})  # fmt: skip
                assert answer.status_code == 200, answer.text
    finally:
        assert cli("endpoints", "delete", "drift-shop").code == 0  # a graceful stop flushes
    baseline = tmp_path / "baseline.csv"
    frame(1500, seed=1)[FEATURES].to_csv(baseline, index=False)
    result = cli("monitor", "drift", "drift-shop", "--baseline", baseline,
                 "--output", tmp_path / "report", "-o", "json")  # fmt: skip
    assert result.code == 0, result.err
    report = result.json()
    assert report["collected_rows"] == 600 and report["collected_records"] == 100  # type: ignore[index]
    assert report["drifted"] == ["age"]  # type: ignore[index]
    assert report["models"] == ["shop-model:1"]  # type: ignore[index]

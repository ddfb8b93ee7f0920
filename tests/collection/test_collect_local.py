"""Model data collection on a local endpoint end to end: a real gunicorn server (two
workers) running a score.py that collects its inputs and predictions; after a graceful
stop every request's two records are on the default datastore, and with the buffer forced
to one record every request still succeeds while the drop counter on /metrics rises."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import requests

from serving.runs.datastores import model_data_folder
from serving.workspace import Workspace
from tests.collection.collect_load import FIXTURE_ROW, collected, counters, send_many
from tests.helpers import FIXTURES, Cli

pytestmark = pytest.mark.slow
NAME = "collect-svc"


@pytest.fixture(autouse=True)
def _shared_envs(shared_envs: Path) -> None:
    """Venvs built once a session."""


def _deploy(cli: Cli, tmp_path: Path, env: Path, *extra: str) -> str:
    model = tmp_path / "model.bin"
    model.write_bytes(b"the script needs no model")
    assert cli("models", "register", model, "--name", "digits").code == 0
    result = cli(
        "deploy", NAME, "--model", "digits", "--entry-script",
        FIXTURES / "collects_model_data.py", "--env", env, "--workers", "2", "-o", "json", *extra,
    )  # fmt: skip
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    return str(data["scoring_uri"])


def test_local_endpoint_collects_every_request(
    cli: Cli, ws: Workspace, tmp_path: Path, runtime_only_env: Path
) -> None:
    uri = _deploy(cli, tmp_path, runtime_only_env, "--collect-model-data")
    sent = send_many(uri, clients=4, per_client=50, limit_s=120)
    assert not sent.failed and len(sent.ok) == 200, sent.failed[:3]
    before = counters(requests.get(uri.replace("/score", "/metrics"), timeout=10).text)
    assert before["dropped"] == 0
    assert cli("endpoints", "delete", NAME).code == 0  # the graceful stop flushes
    root = Path(model_data_folder(ws))
    for designation in ("inputs", "predictions"):
        got = collected(root, NAME, designation)
        assert got == dict.fromkeys(sent.ok, 1), designation
    shown = cast(list[dict[str, Any]], cli("endpoints", "data", NAME, "-o", "json").json())
    assert {(c["designation"], c["model_version"], c["records"]) for c in shown} == {
        ("inputs", "1", 200),
        ("predictions", "1", 200),
    }
    out = tmp_path / "export"
    assert cli("endpoints", "data", NAME, "--output", out, "--file-format", "csv").code == 0
    inputs = (out / f"{NAME}-inputs.csv").read_text().splitlines()
    assert inputs[0] == "time,correlation_id,model_name,model_version,a,b,c"
    assert len(inputs) == 1 + 400  # two rows per request
    assert any(line.endswith(",".join(str(v) for v in FIXTURE_ROW)) for line in inputs)
    totals = (out / f"{NAME}-predictions.csv").read_text()
    assert f",{sum(FIXTURE_ROW)}\n" in totals


def test_local_tiny_buffer_drops_but_never_fails(
    cli: Cli, ws: Workspace, tmp_path: Path, runtime_only_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_MODEL_DATA_QUEUE", "1")  # the local server inherits it
    uri = _deploy(cli, tmp_path, runtime_only_env, "--collect-model-data")
    sent = send_many(uri, clients=4, per_client=100, limit_s=120, prefix="t")
    assert not sent.failed and len(sent.ok) == 400, sent.failed[:3]
    metrics = uri.replace("/score", "/metrics")
    dropped = counters(requests.get(metrics, timeout=10).text)["dropped"]
    assert dropped > 0
    assert cli("endpoints", "delete", NAME).code == 0
    root = Path(model_data_folder(ws))
    on_disk = sum(sum(collected(root, NAME, d).values()) for d in ("inputs", "predictions"))
    assert on_disk + dropped == 2 * 400  # every record was either written or counted


def test_collection_off_writes_nothing(
    cli: Cli, ws: Workspace, tmp_path: Path, runtime_only_env: Path
) -> None:
    uri = _deploy(cli, tmp_path, runtime_only_env)
    sent = send_many(uri, clients=2, per_client=5, limit_s=60, prefix="o")
    assert len(sent.ok) == 10
    assert cli("endpoints", "delete", NAME).code == 0
    assert not (Path(model_data_folder(ws)) / "modeldata").exists()

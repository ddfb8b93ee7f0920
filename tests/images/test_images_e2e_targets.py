"""One end-to-end suite, parametrised by deploy target: the same score.py, model and
environment give the same answers under ``--target local`` and ``--target docker``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests
from sklearn.datasets import load_digits

from tests.helpers import CliResult
from tests.images.conftest import DOCKER_TIMEOUT, SAMPLE, SKLEARN

Cli = Callable[..., CliResult]
pytestmark = pytest.mark.timeout(DOCKER_TIMEOUT)
TARGETS = [
    pytest.param("local", marks=pytest.mark.slow),
    pytest.param("docker", marks=[pytest.mark.docker, pytest.mark.slow]),
]


@pytest.fixture(scope="session")
def envs_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-envs")


@pytest.fixture()
def _shared_envs(envs_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SERVING_ENVS_DIR", str(envs_cache))
    yield


def _payloads() -> list[list[list[float]]]:
    x, _ = load_digits(return_X_y=True)
    rows = x[[0, 7, 13, 42, 99, 512, 1000, 1700]].tolist()
    return [json.loads(SAMPLE.read_text())["data"], rows[:1], rows]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.usefixtures("_shared_envs")
def test_same_answers_on_every_target(
    cli: Cli, template_model: Path, target: str, request: pytest.FixtureRequest
) -> None:
    if target == "docker":
        request.getfixturevalue("base_image")
    assert cli("models", "register", template_model, "--name", "digits").code == 0
    name = f"e2e-{target}"
    deployed = cli(
        "deploy",
        name,
        "--model",
        "digits:1",
        "--entry-script",
        SKLEARN / "score.py",
        "--env",
        SKLEARN / "env.yml",
        "--target",
        target,
        "--workers",
        "1",
        "-o",
        "json",
    )
    assert deployed.code == 0, deployed.err
    data = deployed.json()
    assert isinstance(data, dict) and data["target"] == target and data["state"] == "Healthy"
    uri = str(data["scoring_uri"])
    try:
        model = joblib.load(template_model)
        for rows in _payloads():
            resp = requests.post(uri, json={"data": rows}, timeout=30)
            assert resp.status_code == 200, resp.text
            assert resp.json() == model.predict(np.array(rows)).tolist()
        bad = requests.post(uri, json={"data": [[1.0, 2.0]]}, timeout=30)
        assert bad.status_code in (400, 500) and "message" in bad.json()
        swagger = requests.get(str(data["swagger_uri"]), timeout=10).json()
        assert swagger["swagger"] == "2.0"
        invoked = cli("endpoints", "invoke", name, "--data", f"@{SAMPLE}")
        assert invoked.code == 0 and json.loads(invoked.out) == [0]
    finally:
        assert cli("endpoints", "delete", name).code == 0

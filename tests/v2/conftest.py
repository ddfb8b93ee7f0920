"""Real gunicorn servers for the Open Inference Protocol tests: ``run_v2`` scripts (echo,
a declared sum, the digits classifier as ONNX) and a plain score.py; tritonclient clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.inprocess import _isolate_loaded_scripts, client_for, scripts_dir, settings_for
from tests.server.conftest import ServerProcess, start_server

__all__ = ["_isolate_loaded_scripts", "client_for", "scripts_dir", "settings_for"]

SCRIPTS = Path(__file__).resolve().parent / "scripts"
KEY = "v2-test-key"


def _serve(base: Path, script: str | Path, **kwargs: object) -> Iterator[ServerProcess]:
    server = start_server(base, script, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """run_v2 returns its inputs; model ``echo`` version 3."""
    env = {"SERVING_MODEL_NAME": "echo", "SERVING_MODEL_VERSION": "3"}
    yield from _serve(tmp_path_factory.mktemp("echo"), SCRIPTS / "v2_echo.py", extra_env=env)


@pytest.fixture(scope="module")
def sum_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Declared inputs; no model name or version: the service name, unversioned."""
    env = {"SERVICE_NAME": "summer"}
    yield from _serve(tmp_path_factory.mktemp("sum"), SCRIPTS / "v2_sum.py", extra_env=env)


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"SERVING_MODEL_NAME": "echo", "SERVING_KEYS": KEY, "SERVING_AUTH": "key"}
    yield from _serve(tmp_path_factory.mktemp("keyed"), SCRIPTS / "v2_echo.py", extra_env=env)


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A score.py without run_v2."""
    yield from _serve(tmp_path_factory.mktemp("plain"), "ok.py")


@pytest.fixture(scope="session")
def digits_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A logistic regression on the digits as ONNX; the features and sklearn's labels."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    model = LogisticRegression(max_iter=2000).fit(x, y)
    onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    path = tmp_path_factory.mktemp("onnx") / "digits.onnx"
    path.write_bytes(onx.SerializeToString())
    return path, x, model.predict(x)


@pytest.fixture(scope="module")
def digits_server(
    tmp_path_factory: pytest.TempPathFactory, digits_onnx: tuple[Path, np.ndarray, np.ndarray]
) -> Iterator[ServerProcess]:
    env = {"SERVING_MODEL_NAME": "digits", "DIGITS_ONNX": str(digits_onnx[0])}
    yield from _serve(tmp_path_factory.mktemp("digits"), SCRIPTS / "v2_digits.py", extra_env=env)

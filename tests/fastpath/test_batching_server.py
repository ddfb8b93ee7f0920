"""Dynamic batching in a real gunicorn server (the keep-alive worker) on the V2 infer route.

A ``run_v2`` script (a linear map that raises on a marked row) is served with
``SERVING_MAX_BATCH_SIZE`` 8; concurrent requests must be answered by one model call (the
``serving_batch_size`` histogram on ``/metrics``), each with its own rows in order, and a
bad request among good ones must fail alone.

The server is started as deployments start it (``gunicorn_argv``): batching keeps the
one-thread keep-alive worker, which parks batched requests until their batch is done
(``serving.server.deferred``), and ``create_app`` installs the batcher.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from serving.server.gunicorn import KEEPALIVE_WORKER, gunicorn_argv
from tests.server.conftest import ServerProcess, start_server

pytestmark = pytest.mark.slow

SCRIPT = """
import numpy as np

V2_INPUTS = [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
V2_OUTPUTS = [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]


def init():
    pass


def run(data):
    return {}


def run_v2(inputs):
    x = inputs["x"]
    if (x[:, 0] == -1).any():
        raise ValueError("marked row")
    return {"y": x.sum(axis=1, keepdims=True) + 1}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("batching")
    script = base / "linear_v2.py"
    script.write_text(SCRIPT)
    env = {
        "SERVING_MODEL_NAME": "linear",
        "SERVING_MAX_BATCH_SIZE": "8",
        "SERVING_MAX_BATCH_DELAY_MS": "500",
    }
    proc = start_server(base, script, extra_env=env)
    argv = gunicorn_argv(proc.settings)
    assert "--threads" not in argv  # no request threads: the worker's loop parks requests
    assert argv[argv.index("--worker-class") + 1] == KEEPALIVE_WORKER
    try:
        yield proc
    finally:
        proc.stop()


def rows_for(i: int) -> np.ndarray:
    """Request i's rows: 1 to 3 rows of distinct values."""
    n = 1 + i % 3
    return (10.0 * i + np.arange(n * 3, dtype=np.float32)).reshape(n, 3)


def infer(url: str, x: np.ndarray) -> requests.Response:
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape),
                        "data": x.ravel().tolist()}]}  # fmt: skip
    return requests.post(f"{url}/v2/models/linear/infer", json=body, timeout=30)


def concurrent_infer(url: str, inputs: list[np.ndarray]) -> list[requests.Response]:
    barrier = threading.Barrier(len(inputs))

    def call(x: np.ndarray) -> requests.Response:
        barrier.wait(10)
        return infer(url, x)

    with ThreadPoolExecutor(len(inputs)) as pool:
        return list(pool.map(call, inputs))


def samples(url: str) -> dict[tuple[str, str], float]:
    """``/metrics`` as (sample name, le or reason label) → value."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            label = s.labels.get("le") or s.labels.get("reason") or ""
            found[(s.name, label)] = s.value
    return found


def batched_calls(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> float:
    """Model calls between the two scrapes that served more than one request."""
    keys = (("serving_batch_size_count", ""), ("serving_batch_size_bucket", "1.0"))
    calls, alone = (after.get(k, 0) - before.get(k, 0) for k in keys)
    return calls - alone


def output(response: requests.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    (tensor,) = response.json()["outputs"]
    return np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])


def test_concurrent_requests_share_one_model_call_and_get_their_own_rows(
    server: ServerProcess,
) -> None:
    before = samples(server.url)
    inputs = [rows_for(i) for i in range(8)]
    responses = concurrent_infer(server.url, inputs)
    for x, response in zip(inputs, responses, strict=True):
        np.testing.assert_array_equal(output(response), x.sum(axis=1, keepdims=True) + 1)
    after = samples(server.url)
    calls = after[("serving_batch_size_count", "")] - before.get(
        ("serving_batch_size_count", ""), 0
    )
    served = after[("serving_batch_size_sum", "")] - before.get(("serving_batch_size_sum", ""), 0)
    assert served == 8
    assert calls < 8 and batched_calls(before, after) >= 1, f"8 requests took {calls} calls"
    assert after[("serving_batch_queue_seconds_count", "")] >= 8


def test_a_bad_request_among_good_ones_fails_alone(server: ServerProcess) -> None:
    before = samples(server.url)
    inputs = [rows_for(i) for i in range(8)]
    inputs[5] = np.array([[1, 2, 3], [-1, 0, 0]], dtype=np.float32)
    responses = concurrent_infer(server.url, inputs)
    assert responses[5].status_code == 500
    assert "error" in json.loads(responses[5].text)
    for i, (x, response) in enumerate(zip(inputs, responses, strict=True)):
        if i != 5:
            np.testing.assert_array_equal(output(response), x.sum(axis=1, keepdims=True) + 1)
    after = samples(server.url)
    failures = ("serving_batch_failures_total", "")
    assert after[failures] - before.get(failures, 0) >= 1  # the batch failed; each ran alone


def test_a_request_that_breaks_the_signature_is_refused_before_batching(
    server: ServerProcess,
) -> None:
    inputs: list[Any] = [rows_for(i) for i in range(4)]
    inputs[2] = np.zeros((2, 4), dtype=np.float32)
    responses = concurrent_infer(server.url, inputs)
    assert responses[2].status_code == 400
    assert [r.status_code for i, r in enumerate(responses) if i != 2] == [200, 200, 200]


@pytest.fixture(scope="module")
def nocode_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A no-code scikit-learn deployment (digits: square root, then LogisticRegression, so
    a negative pixel makes the model raise) with batching on."""
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    base = tmp_path_factory.mktemp("nocode-batching")
    x, y = load_digits(return_X_y=True)
    models = base / "model"
    models.mkdir()
    model = make_pipeline(FunctionTransformer(np.sqrt), LogisticRegression(max_iter=2000))
    joblib.dump(model.fit(x, y), models / "digits.pkl")
    env = {
        "SERVING_NOCODE_FRAMEWORK": "sklearn",
        "AZUREML_MODEL_DIR": str(models),
        "SERVING_MODEL_NAME": "digits",
        "SERVING_MAX_BATCH_SIZE": "8",
        "SERVING_MAX_BATCH_DELAY_MS": "500",
    }
    proc = start_server(base, "ok.py", extra_env=env)
    try:
        yield proc
    finally:
        proc.stop()


def test_nocode_score_requests_are_batched_and_a_failing_one_fails_alone(
    nocode_server: ServerProcess,
) -> None:
    from sklearn.datasets import load_digits

    x = load_digits().data
    bodies = [json.dumps({"data": x[i : i + 1 + i % 2].tolist()}) for i in range(8)]
    bodies[6] = '{"data": [[-1' + ", 0" * 63 + "]]}"  # valid input; the model raises (NaN)
    barrier = threading.Barrier(len(bodies))

    def post(body: str) -> requests.Response:
        barrier.wait(10)
        headers = {"Content-Type": "application/json"}
        return requests.post(f"{nocode_server.url}/score", data=body, headers=headers, timeout=30)

    before = samples(nocode_server.url)
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(post, bodies))
    assert responses[6].status_code == 500
    for i, response in enumerate(responses):
        if i != 6:
            assert response.status_code == 200, response.text
            assert len(response.json()) == 1 + i % 2
    after = samples(nocode_server.url)
    assert batched_calls(before, after) >= 1  # /score went through the batcher
    failures = ("serving_batch_failures_total", "")
    assert after[failures] - before.get(failures, 0) >= 1  # the batch failed; each ran alone

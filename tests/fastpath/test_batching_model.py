"""Dynamic batching (serving.scoring.batching) with a real numpy model and real threads.

The model is a small linear map that counts its calls, records the rows of each call, and
raises on a marked row (first feature -1), or blocks on an event to hold the batcher busy.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from serving.config import ServerSettings
from serving.scoring.batching import (
    BatchingModel,
    BatchQueueFullError,
    install_batching,
    server_threads,
)
from serving.scoring.batching_metrics import batching_metrics
from serving.scoring.exceptions import BadInputError, ScoringTimeoutError
from serving.scoring.tensors import TensorModel, TensorSpec

BAD = -1.0
"""A row whose first feature is this makes the model raise."""


class LinearModel:
    """``y = x @ w + 1`` over ``width`` features (None: any width, ``y`` = row sums + 1)."""

    name = "linear"
    version = "1"
    platform = "numpy"

    def __init__(self, width: int | None = 3, *, row_aligned: bool = True) -> None:
        self.width = width
        self.row_aligned = row_aligned
        self.inputs: tuple[TensorSpec, ...] = (
            TensorSpec("x", "FP32", (-1, -1 if width is None else width)),
        )
        self.outputs: tuple[TensorSpec, ...] = (TensorSpec("y", "FP32", (-1, 1)),)
        self.calls: list[np.ndarray] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["x"]
        with self.lock:
            self.calls.append(x.copy())
        self.entered.set()
        self.release.wait(10)
        if (x[:, 0] == BAD).any():
            raise ValueError("marked row")
        if not self.row_aligned:
            return {"y": np.asarray(x.sum(), dtype=np.float32)}
        return {"y": expected(x)}


def expected(x: np.ndarray) -> np.ndarray:
    """What the model answers for ``x`` alone."""
    y: np.ndarray = (x.sum(axis=1, keepdims=True) + 1).astype(np.float32)
    return y


def request(marker: float, rows: int = 1, width: int = 3) -> dict[str, np.ndarray]:
    """A request whose rows are marker, marker+0.25, ... in every column (so rows differ)."""
    col = marker + 0.25 * np.arange(rows, dtype=np.float32)
    return {"x": np.repeat(col[:, None], width, axis=1).astype(np.float32)}


def batcher(model: TensorModel, registry: CollectorRegistry, **kwargs: Any) -> BatchingModel:
    kwargs.setdefault("max_batch_size", 8)
    kwargs.setdefault("max_delay_ms", 2000.0)
    return BatchingModel(model, metrics=batching_metrics(registry), **kwargs)


def concurrently(calls: list[Callable[[], Any]], *, stagger_s: float = 0.0) -> list[Any]:
    """Run the calls on their own threads; each slot holds its result or its exception."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
        time.sleep(stagger_s)
    for t in threads:
        t.join(20)
    return results


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_concurrent_requests_are_one_model_call_split_back_in_order(
    registry: CollectorRegistry,
) -> None:
    model = LinearModel()
    bm = batcher(model, registry)
    reqs = [request(10.0 * i, rows=1 + i % 3) for i in range(8)]
    results = concurrently([partial(bm.infer, r) for r in reqs])
    bm.close()
    assert len(model.calls) == 1 and len(model.calls[0]) == sum(1 + i % 3 for i in range(8))
    for req, res in zip(reqs, results, strict=True):
        np.testing.assert_array_equal(res["y"], expected(req["x"]))
    assert metric(registry, "serving_batch_size_count") == 1
    assert metric(registry, "serving_batch_size_sum") == 8
    assert metric(registry, "serving_batch_queue_seconds_count") == 8
    assert metric(registry, "serving_batch_exec_seconds_count") == 1


def test_a_bad_request_among_good_ones_fails_alone(registry: CollectorRegistry) -> None:
    model = LinearModel()
    bm = batcher(model, registry, max_batch_size=6)
    reqs = [request(float(i + 1), rows=2) for i in range(6)]
    reqs[3] = {"x": np.array([[5, 5, 5], [BAD, 0, 0]], dtype=np.float32)}
    results = concurrently([partial(bm.infer, r) for r in reqs])
    bm.close()
    assert isinstance(results[3], ValueError) and str(results[3]) == "marked row"
    for i in (0, 1, 2, 4, 5):
        np.testing.assert_array_equal(results[i]["y"], expected(reqs[i]["x"]))
    assert [len(c) for c in model.calls] == [12, 2, 2, 2, 2, 2, 2]  # the batch, then each alone
    assert metric(registry, "serving_batch_failures_total") == 1


def test_requests_are_checked_before_they_are_queued(registry: CollectorRegistry) -> None:
    model = LinearModel()
    bm = batcher(model, registry)
    with pytest.raises(BadInputError, match=r"input x has shape \[1, 4\]; the model expects"):
        bm.infer(request(1.0, width=4))
    with pytest.raises(BadInputError, match=r"missing input.* x; unknown input.* z") as info:
        bm.infer({"z": np.zeros((1, 3), np.float32)})
    assert info.value.http_status == 400
    bm.close()
    assert model.calls == []


def test_different_shapes_go_to_separate_batches(registry: CollectorRegistry) -> None:
    model = LinearModel(width=None)
    bm = batcher(model, registry)
    reqs = [request(float(i), width=3 if i % 2 else 5) for i in range(8)]
    results = concurrently([partial(bm.infer, r) for r in reqs])
    bm.close()
    assert sorted(c.shape for c in model.calls) == [(4, 3), (4, 5)]
    for req, res in zip(reqs, results, strict=True):
        np.testing.assert_array_equal(res["y"], expected(req["x"]))


def test_requests_within_the_delay_share_a_call(registry: CollectorRegistry) -> None:
    model = LinearModel()
    bm = batcher(model, registry, max_delay_ms=1000.0)
    start = time.monotonic()
    results = concurrently([partial(bm.infer, request(float(i))) for i in range(3)], stagger_s=0.05)
    elapsed = time.monotonic() - start
    bm.close()
    assert [len(c) for c in model.calls] == [3]  # not full (8): closed by the delay
    assert 0.95 <= elapsed < 5
    assert all(isinstance(r, dict) for r in results)


def test_no_delay_runs_what_is_there(registry: CollectorRegistry) -> None:
    model = LinearModel()
    bm = batcher(model, registry, max_delay_ms=0.0)
    start = time.monotonic()
    out = bm.infer(request(2.0, rows=3))
    assert time.monotonic() - start < 1
    bm.close()
    np.testing.assert_array_equal(out["y"], expected(request(2.0, rows=3)["x"]))


def hold_batcher(model: LinearModel, bm: BatchingModel) -> threading.Thread:
    """Start a request that blocks inside the model, so later ones stay queued."""
    model.release.clear()
    model.entered.clear()
    holder = threading.Thread(target=lambda: _swallow(lambda: bm.infer(request(100.0))))
    holder.start()
    assert model.entered.wait(5)
    return holder


def _swallow(call: Callable[[], Any]) -> None:
    with contextlib.suppress(ScoringTimeoutError):
        call()


def wait_queued(bm: BatchingModel, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(bm._queue) < n:
        assert time.monotonic() < deadline, "requests did not queue"
        time.sleep(0.005)


def test_a_full_queue_answers_503(registry: CollectorRegistry) -> None:
    model = LinearModel()
    bm = batcher(model, registry, max_batch_size=2, max_queue=2, max_delay_ms=0.0)
    holder = hold_batcher(model, bm)
    waiting = [threading.Thread(target=bm.infer, args=(request(float(i)),)) for i in (1, 2)]
    for t in waiting:
        t.start()
    wait_queued(bm, 2)
    with pytest.raises(BatchQueueFullError) as info:
        bm.infer(request(3.0))
    assert info.value.http_status == 503
    model.release.set()
    for t in (holder, *waiting):
        t.join(5)
    bm.close()
    assert [len(c) for c in model.calls] == [1, 2]  # the full one never reached the model
    assert metric(registry, "serving_batch_rejected_total", reason="full") == 1


def test_a_request_past_its_deadline_gets_504_and_never_runs(registry: CollectorRegistry) -> None:
    model = LinearModel()
    bm = batcher(model, registry, max_delay_ms=0.0, timeout_ms=200)
    holder = hold_batcher(model, bm)
    start = time.monotonic()
    with pytest.raises(ScoringTimeoutError) as info:
        bm.infer(request(7.0))
    assert 0.15 <= time.monotonic() - start < 2
    assert info.value.http_status == 504
    holder.join(5)  # its caller gave up too, though its call is still running
    model.release.set()
    bm.close()
    assert len(model.calls) == 1 and model.calls[0][0, 0] == 100.0  # the expired one was dropped
    assert metric(registry, "serving_batch_rejected_total", reason="timeout") == 2


def test_a_model_whose_outputs_are_not_per_row_is_served_alone(
    registry: CollectorRegistry,
) -> None:
    model = LinearModel(row_aligned=False)
    bm = batcher(model, registry, max_batch_size=4)
    reqs = [request(float(i + 1), rows=2) for i in range(4)]
    results = concurrently([partial(bm.infer, r) for r in reqs])
    again = bm.infer(reqs[0])
    bm.close()
    for req, res in zip(reqs, results, strict=True):
        assert float(res["y"]) == pytest.approx(float(req["x"].sum()))
    assert float(again["y"]) == pytest.approx(float(reqs[0]["x"].sum()))
    assert [len(c) for c in model.calls] == [8, 2, 2, 2, 2, 2]  # one try, then alone for good


def test_install_wraps_the_scorers_model_only_when_batching_is_on() -> None:
    model = LinearModel()
    scorer = SimpleNamespace(tensor_model=model)
    assert not install_batching(scorer, ServerSettings(max_batch_size=1))  # type: ignore[arg-type]
    assert scorer.tensor_model is model
    on = ServerSettings(max_batch_size=8, max_batch_delay_ms=5.0, threads=4, workers=1)
    assert install_batching(scorer, on, CollectorRegistry())  # type: ignore[arg-type]
    wrapped = scorer.tensor_model
    assert isinstance(wrapped, BatchingModel) and wrapped.inner is model
    assert isinstance(wrapped, TensorModel)
    assert (wrapped.max_batch_size, wrapped.max_delay_s, wrapped.max_queue) == (8, 0.005, 256)
    assert install_batching(scorer, on)  # type: ignore[arg-type]
    assert scorer.tensor_model is wrapped  # not wrapped twice
    assert not install_batching(SimpleNamespace(tensor_model=None), on)  # type: ignore[arg-type]
    wrapped.close()


def test_server_threads_are_the_settings_threads_batching_or_not() -> None:
    assert server_threads(ServerSettings(threads=1)) == 1
    assert server_threads(ServerSettings(threads=1, max_batch_size=1)) == 1
    assert server_threads(ServerSettings(threads=1, max_batch_size=16)) == 1
    assert server_threads(ServerSettings(threads=64, max_batch_size=16)) == 64


def test_metrics_are_made_once_per_registry() -> None:
    registry = CollectorRegistry()
    assert batching_metrics(registry) is batching_metrics(registry)
    assert batching_metrics() is batching_metrics()
    assert batching_metrics() is not batching_metrics(registry)


class ScoringLinearModel(LinearModel):
    """A model that answers /score itself, as a no-code model does (BatchAware)."""

    def __init__(self) -> None:
        super().__init__()
        self.via: TensorModel = self

    def use_batcher(self, batched: TensorModel) -> None:
        self.via = batched


def test_a_batch_aware_model_is_told_the_wrapper_and_its_signature_is_read_through() -> None:
    model = ScoringLinearModel()
    scorer = SimpleNamespace(tensor_model=model, allow_concurrent_runs=lambda: None)
    install_batching(scorer, ServerSettings(max_batch_size=4), CollectorRegistry())  # type: ignore[arg-type]
    assert model.via is scorer.tensor_model
    model.inputs = (TensorSpec("x", "FP32", (-1, 5)),)  # a no-code model fills them at init()
    wrapped = scorer.tensor_model
    assert isinstance(wrapped, BatchingModel) and wrapped.inputs == model.inputs
    wrapped.close()

"""The scoring timeout: SIGALRM in the main thread, a runner thread elsewhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from serving.scoring import ScoringTimeoutError
from serving.scoring.runner import RunCaller


def _in_thread(func: Callable[[], Any]) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(10)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.mark.parametrize("threaded", [False, True], ids=["main-thread", "other-thread"])
def test_result_and_elapsed_time(threaded: bool) -> None:
    caller = RunCaller(timeout_ms=2000)

    def call() -> tuple[Any, float]:
        return caller.call(_sleep, {"seconds": 0.01})

    value, elapsed_ms = _in_thread(call) if threaded else call()
    assert value == 0.01
    assert 5 < elapsed_ms < 1000


@pytest.mark.parametrize("threaded", [False, True], ids=["main-thread", "other-thread"])
def test_timeout_answers_on_time_and_the_next_call_works(threaded: bool) -> None:
    caller = RunCaller(timeout_ms=200)

    def slow() -> Any:
        return caller.call(_sleep, {"seconds": 1.5})

    started = time.monotonic()
    with pytest.raises(ScoringTimeoutError) as info:
        _in_thread(slow) if threaded else slow()
    assert time.monotonic() - started < 1.0
    assert info.value.http_status == 504
    assert info.value.run_failed
    assert info.value.message == "Scoring timeout after 200 ms"

    def fast() -> Any:
        return caller.call(_sleep, {"seconds": 0})

    started = time.monotonic()
    assert (_in_thread(fast) if threaded else fast())[0] == 0
    assert time.monotonic() - started < 0.5


def test_python_code_of_an_abandoned_run_is_stopped() -> None:
    caller = RunCaller(timeout_ms=100)
    progress: list[int] = []

    def busy() -> None:
        for i in range(400):
            progress.append(i)
            time.sleep(0.005)

    with pytest.raises(ScoringTimeoutError):
        _in_thread(lambda: caller.call(busy, {}))
    time.sleep(0.3)
    count = len(progress)
    time.sleep(0.2)
    assert len(progress) == count < 400


@pytest.mark.parametrize("threaded", [False, True], ids=["main-thread", "other-thread"])
def test_exceptions_propagate(threaded: bool) -> None:
    caller = RunCaller(timeout_ms=1000)

    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        _in_thread(lambda: caller.call(boom, {})) if threaded else caller.call(boom, {})


def test_no_timeout_calls_directly() -> None:
    caller = RunCaller(timeout_ms=0)
    assert caller.call(threading.get_ident, {})[0] == threading.get_ident()


def test_calls_from_several_threads_run_one_at_a_time() -> None:
    caller = RunCaller(timeout_ms=5000)
    active: list[int] = []
    overlap: list[bool] = []

    def run() -> None:
        active.append(1)
        overlap.append(len(active) > 1)
        time.sleep(0.02)
        active.pop()

    threads = [threading.Thread(target=caller.call, args=(run, {})) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert overlap == [False] * 5

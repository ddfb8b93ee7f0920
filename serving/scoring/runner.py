"""Call run() with the scoring timeout (``SCORING_TIMEOUT_MS``), one call at a time.

Two mechanisms, picked per call:

* **Main thread** (gunicorn sync workers, Flask's test client): ``SIGALRM`` via
  ``setitimer``, as Azure does. The alarm interrupts blocking calls like ``time.sleep`` and
  costs two system calls per request; no thread hop.
* **Any other thread** (gthread workers): run() executes on a dedicated runner thread and
  the request thread waits on a lock with a timeout. On timeout the request gets its
  answer at once, the runner thread is retired (an exception is injected so Python code
  stops at its next bytecode; C code runs to completion) and a fresh runner takes the next
  call, so the worker stays usable. The hop costs two thread switches per request.

Calls are serialised per process with a lock (an Azure score.py assumes one request at a
time). The lock is held for at most the timeout: a call abandoned after a timeout no longer
blocks the next one.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import logging
import signal
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from serving.scoring.exceptions import ScoringTimeoutError

_log = logging.getLogger("serving.scoring")


class ScoringInterrupted(BaseException):
    """Raised inside run() when its time is up (a BaseException: ``except Exception`` in
    user code does not swallow it)."""


class _Job:
    __slots__ = ("context", "done", "error", "func", "kwargs", "result", "state")

    def __init__(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self.func = func
        self.kwargs = kwargs
        self.context = contextvars.copy_context()  # Flask's request context travels along
        self.done = threading.Lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.state = 0  # 0 queued, 1 running, 2 finished, 3 abandoned


class _RunnerThread:
    """A daemon thread that executes jobs from its queue until it is retired."""

    def __init__(self, state_lock: threading.Lock) -> None:
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._state_lock = state_lock
        self.retired = False
        self.thread = threading.Thread(target=self._loop, name="serving-run", daemon=True)
        self.thread.start()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def _loop(self) -> None:
        try:
            while not self.retired:
                self._execute(self._jobs.get())
        except ScoringInterrupted:
            pass  # injected after a timeout, outside run(): this thread is done anyway
        _log.info("runner thread %s exits", self.thread.name)

    def _execute(self, job: _Job) -> None:
        with self._state_lock:
            if job.state == 3:
                return
            job.state = 1
        try:
            job.result = job.context.run(job.func, **job.kwargs)
        except BaseException as exc:
            job.error = exc
        with self._state_lock:
            if job.state == 1:
                job.state = 2
                job.done.release()


_NO_LOCK = contextlib.nullcontext()


class RunCaller:
    """Calls functions with an optional timeout; see the module docstring."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.concurrent = False
        """Call at once from any thread, without the per-process lock and the timeout
        (set by :meth:`serving.scoring.scorer.Scorer.allow_concurrent_runs`)."""
        self._serial = threading.Lock()
        self._state_lock = threading.Lock()
        self._runner: _RunnerThread | None = None
        self._alarm_installed = False
        self._alarm_armed = False

    def call(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[Any, float]:
        """Call ``func(**kwargs)``; return its result and the elapsed milliseconds.

        Exceptions from ``func`` propagate unchanged; running out of time raises
        :class:`ScoringTimeoutError`. With :attr:`concurrent` set: no lock, no timeout.
        """
        with _NO_LOCK if self.concurrent else self._serial:
            start = time.perf_counter()
            if self.concurrent or self.timeout_ms <= 0:
                result = func(**kwargs)
            elif threading.current_thread() is threading.main_thread():
                result = self._call_with_alarm(func, kwargs)
            else:
                result = self._call_on_runner(func, kwargs)
            return result, (time.perf_counter() - start) * 1000.0

    # -- main thread: SIGALRM ------------------------------------------------------------

    def _on_alarm(self, signum: int, frame: object) -> None:
        if self._alarm_armed:
            self._alarm_armed = False
            raise ScoringInterrupted()

    def _call_with_alarm(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if not self._alarm_installed:
            signal.signal(signal.SIGALRM, self._on_alarm)
            self._alarm_installed = True
        self._alarm_armed = True
        signal.setitimer(signal.ITIMER_REAL, self.timeout_ms / 1000.0)
        try:
            result = func(**kwargs)
            self._alarm_armed = False
            return result
        except ScoringInterrupted:
            raise ScoringTimeoutError(self.timeout_ms) from None
        finally:
            self._alarm_armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    # -- other threads: a runner thread ----------------------------------------------------

    def _call_on_runner(self, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        runner = self._runner
        if runner is None:
            runner = self._runner = _RunnerThread(self._state_lock)
        job = _Job(func, kwargs)
        runner.submit(job)
        if not job.done.acquire(timeout=self.timeout_ms / 1000.0):
            with self._state_lock:
                if job.state != 2:  # not finished in the meantime
                    job.state = 3
                    self._retire(runner)
                    raise ScoringTimeoutError(self.timeout_ms)
        if job.error is not None:
            raise job.error
        return job.result

    def _retire(self, runner: _RunnerThread) -> None:
        runner.retired = True
        self._runner = None
        ident = runner.thread.ident
        if ident is not None:
            # Best effort: stop Python code in the abandoned run() at its next bytecode.
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(ScoringInterrupted)
            )
        _log.warning("run() exceeded %d ms; its thread was abandoned", self.timeout_ms)

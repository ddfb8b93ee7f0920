"""gunicorn server hooks, loaded with ``--config python:serving.server.gunicorn_hooks``.

Runs in the master: prepares the Prometheus multiprocess folder before workers fork and
drops a dead worker's live metrics; in an exiting worker, flushes the model data it
collected. ``prometheus_client`` is imported only inside hooks so the master sets
``PROMETHEUS_MULTIPROC_DIR`` before any import reads it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

_ENV = "PROMETHEUS_MULTIPROC_DIR"
_created: list[str] = []


def on_starting(server: Any) -> None:
    """Create (or empty) the metrics folder that the workers share."""
    directory = os.environ.get(_ENV)
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # left by an earlier server: would be summed in
            stale.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="serving-metrics-")
        _created.append(directory)
        os.environ[_ENV] = directory
    server.log.info("Prometheus multiprocess metrics in %s", directory)


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: mark its gauges dead (counters and histograms are kept)."""
    if os.environ.get(_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_exit(server: Any, worker: Any) -> None:
    """In a worker that is exiting (gracefully): write the model data it collected and
    still holds (:mod:`serving.scoring.collection.writer`; nothing when it collected none)."""
    from serving.scoring.collection import writer

    writer.stop_current()


def on_exit(server: Any) -> None:
    """Remove the metrics folder if this master created it."""
    for directory in _created:
        shutil.rmtree(directory, ignore_errors=True)

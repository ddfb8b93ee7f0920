"""What ``azureml.monitoring.ModelDataCollector`` records through: this process's
:class:`~serving.scoring.collection.writer.Writer` when the deployment collects model data
(``SERVING_MODEL_DATA_DIR`` set by the deploy target), else nothing.

The settings are read once per process; the writer (and its thread) is made on the first
``collect()``, in the worker that calls it, never in a gunicorn master before a fork. If it
cannot be made (say the metrics folder is unwritable), collection is off for the process,
with one warning: a request is never failed by collection.

The record's line is encoded and framed in ``collect()`` (orjson, a few microseconds for a
64-feature row) and buffered as bytes: the script may change its objects afterwards, the
buffer holds no object graphs for the garbage collector to walk, and the writer's thread
only writes bytes, so it seldom competes with the request thread for the GIL (see
:mod:`.writer`).

New correlation ids are UUID 4 shaped: a random prefix per process (74 random bits, drawn
again after a fork) and a counter, ~0.2 us, where ``str(uuid.uuid4())`` (a ``urandom``
call and a ``UUID`` object per request) measured ~2.5 us in the request thread.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import uuid
from typing import Any

from serving.config import ServerSettings
from serving.scoring.collection import layout
from serving.scoring.collection import writer as writers

log = logging.getLogger("serving.model_data")

_settings: ServerSettings | None = None
_unavailable = False
_ids = (str(uuid.uuid4())[:24], itertools.count())


def _new_ids() -> None:
    global _ids
    _ids = (str(uuid.uuid4())[:24], itertools.count())


os.register_at_fork(after_in_child=_new_ids)  # a forked child must not repeat the parent's


def correlation_id() -> str:
    """A new correlation id, unique across processes (see the module doc)."""
    prefix, counter = _ids
    return f"{prefix}{next(counter):012x}"


def settings() -> ServerSettings:
    global _settings
    if _settings is None:
        _settings = ServerSettings.from_env()
    return _settings


def enabled() -> bool:
    """Whether this process's deployment collects model data."""
    return settings().model_data_dir is not None


def _make() -> writers.Writer:
    config = settings()
    assert config.model_data_dir is not None
    replica = config.replica_id or socket.gethostname()
    return writers.Writer(
        config.model_data_dir,
        config.service_name,
        versions=writers.model_versions(config.app_root),
        capacity=config.model_data_queue,
        writer_id=f"{layout.segment(replica, 'replica')}-{os.getpid()}",
        counted=writers.prometheus_counter(),
    )


def _sink() -> writers.Writer | None:
    """This process's writer, made on first use; None when collection is off here."""
    global _unavailable
    if _unavailable or not enabled():
        return None
    try:
        return writers.current(_make)
    except Exception as exc:  # whatever it is, the request goes on
        _unavailable = True
        log.warning("model data collection is off in this process: %s", exc)
        return None


def record(
    model_name: str,
    designation: str,
    feature_names: list[str] | None,
    data: Any,
    correlation_id: str,
) -> None:
    """Record one ``collect()`` call (nothing when collection is off). Never raises: a
    failure here is a dropped record, not a failed request. The line is framed before this
    returns, so the script may change its objects afterwards."""
    sink = writers.made()  # the fast path: one module read once the writer exists
    if sink is None and (sink := _sink()) is None:
        return
    try:
        if type(data) is not list and hasattr(data, "columns") and hasattr(data, "to_numpy"):
            data, feature_names = layout.normalise(data, feature_names)  # a DataFrame's names
        sink.add(writers.now(), model_name, designation, feature_names, correlation_id, data)
    except Exception:  # collection must not fail the request: a dropped record instead
        sink.count_failure()


__all__ = ["correlation_id", "enabled", "record", "settings"]

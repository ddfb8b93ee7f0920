"""What ``azureml.monitoring.ModelDataCollector`` records through: this process's
:class:`~serving.scoring.collection.writer.Writer` when the deployment collects model data
(``SERVING_MODEL_DATA_DIR`` set by the deploy target), else nothing.

The settings are read once per process; the writer (and its thread) is made on the first
``collect()``, in the worker that calls it, never in a gunicorn master before a fork.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from serving.config import ServerSettings
from serving.scoring.collection import writer as writers
from serving.scoring.collection.layout import segment

_settings: ServerSettings | None = None


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
        writer_id=f"{segment(replica, 'replica')}-{os.getpid()}",
        counted=writers.prometheus_counter(),
    )


def record(
    model_name: str,
    designation: str,
    feature_names: list[str] | None,
    data: Any,
    correlation_id: str,
) -> None:
    """Queue one ``collect()`` call (nothing when collection is off). Never raises: a
    failure here is a dropped record, not a failed request."""
    if not enabled():
        return
    sink = writers.current(_make)
    try:
        if hasattr(data, "tolist") and hasattr(data, "copy") and not hasattr(data, "columns"):
            data = data.copy()  # a numpy array: the script may reuse it (encoded later)
        names = None if feature_names is None else list(feature_names)
        item = writers.Item(writers.now(), model_name, designation, names, correlation_id, data)
    except Exception:  # collection must not fail the request: a dropped record instead
        sink.count_failure()
        return
    sink.submit(item)


__all__ = ["enabled", "record", "settings"]

"""Shim of ``azureml.monitoring``: ``ModelDataCollector`` records to the workspace's default
datastore when the deployment collects model data (``--collect-model-data``,
``collect_model_data=True``), else does nothing (or prints, with ``AML_MODEL_DC_DEBUG``).

Recording is :mod:`serving.scoring.collection` (docs/data-collection.md): ``collect()``
only queues the record; a background thread writes it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from serving.scoring.collection import collector

_CORRELATION_KEYS = ("$aml_dc_correlation_id", "correlation_id")


def _correlation_of(correlations: Any) -> str | None:
    """The correlation id in what ``collect()`` returned (a string) or in an Azure-style
    correlations dict."""
    if isinstance(correlations, str):
        return correlations or None
    if isinstance(correlations, dict):
        for key in _CORRELATION_KEYS:
            if correlations.get(key):
                return str(correlations[key])
    return None


class ModelDataCollector:
    """Collects one model's data of one ``designation`` (``inputs``, ``predictions``, ...)
    with optional ``feature_names``; with ``AML_MODEL_DC_DEBUG=true`` it also prints."""

    def __init__(
        self,
        model_name: str,
        designation: str = "",
        feature_names: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.model_name = model_name
        self.designation = designation or kwargs.get("identifier") or "general"
        self.feature_names = feature_names
        self._debug = os.environ.get("AML_MODEL_DC_DEBUG", "").lower() == "true"
        self._pending = threading.local()

    def collect(self, input_data: Any, user_correlation_id: str = "") -> str:
        """Record one batch of data; returns the correlation id (given, the one
        :meth:`add_correlations` attached to this very object, or a new one)."""
        correlation_id = (
            user_correlation_id or self._attached(input_data) or collector.correlation_id()
        )
        if self._debug:
            print(
                f"ModelDataCollector {self.model_name}/{self.designation} "
                f"[{correlation_id}]: {input_data!r}"
            )
        collector.record(
            self.model_name, self.designation, self.feature_names, input_data, correlation_id
        )
        return correlation_id

    def add_correlations(self, input_data: Any, correlations: Any) -> Any:
        """Attach ``correlations`` (what another collector's ``collect()`` returned) to
        ``input_data`` for this collector's next ``collect()`` of that same object, so
        predictions share their inputs' correlation id; the data comes back unchanged."""
        self._pending.value = (id(input_data), _correlation_of(correlations))
        return input_data

    def _attached(self, input_data: Any) -> str | None:
        pending: tuple[int, str | None] | None = getattr(self._pending, "value", None)
        if pending is None or pending[0] != id(input_data):
            return None
        self._pending.value = None
        return pending[1]


__all__ = ["ModelDataCollector"]

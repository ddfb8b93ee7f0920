"""Shim of ``azureml.monitoring``: model data collection is a no-op (or stdout in debug)."""

from __future__ import annotations

import os
import uuid
from typing import Any


class ModelDataCollector:
    """Accepts ``collect`` calls; with ``AML_MODEL_DC_DEBUG=true`` it prints what it got."""

    def __init__(
        self,
        model_name: str,
        designation: str = "",
        feature_names: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.model_name = model_name
        self.designation = designation
        self.feature_names = feature_names
        self._debug = os.environ.get("AML_MODEL_DC_DEBUG", "").lower() == "true"

    def collect(self, input_data: Any, user_correlation_id: str = "") -> str:
        """Record one batch of data; returns the correlation id."""
        correlation_id = user_correlation_id or str(uuid.uuid4())
        if self._debug:
            print(
                f"ModelDataCollector {self.model_name}/{self.designation} "
                f"[{correlation_id}]: {input_data!r}"
            )
        return correlation_id

    def add_correlations(self, input_data: Any, correlations: Any) -> Any:
        """Correlations are not stored; the data comes back unchanged."""
        return input_data


__all__ = ["ModelDataCollector"]

"""``azureml.core.run.Run`` for code running outside an experiment: logs instead of failing."""

from __future__ import annotations

import logging
from typing import Any

_log = logging.getLogger("azureml.core.run")


class Run:
    """An offline run: metrics, tags and properties go to the log."""

    def __init__(self) -> None:
        self.id = "OfflineRun"
        self.experiment = None
        self.tags: dict[str, Any] = {}
        self.properties: dict[str, Any] = {}

    @classmethod
    def get_context(cls, allow_offline: bool = True, **kwargs: Any) -> Run:
        """The current run: always an offline one inside a deployment."""
        return cls()

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log one metric value."""
        _log.info("run.log %s=%r", name, value)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        """Log a list of metric values."""
        _log.info("run.log_list %s=%r", name, value)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Log one row of a table metric."""
        _log.info("run.log_row %s=%r", name, kwargs)

    def log_table(self, name: str, value: Any, description: str = "") -> None:
        """Log a table metric."""
        _log.info("run.log_table %s=%r", name, value)

    def log_image(self, name: str, path: Any = None, plot: Any = None, **kwargs: Any) -> None:
        """Images are not stored offline; note the call."""
        _log.info("run.log_image %s (not stored offline)", name)

    def tag(self, key: str, value: Any = None) -> None:
        """Set a tag."""
        self.tags[key] = value
        _log.info("run.tag %s=%r", key, value)

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set several tags."""
        for key, value in tags.items():
            self.tag(key, value)

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add properties."""
        self.properties.update(properties)
        _log.info("run.add_properties %r", properties)

    def get_tags(self) -> dict[str, Any]:
        """The tags set so far."""
        return dict(self.tags)

    def get_properties(self) -> dict[str, Any]:
        """The properties set so far."""
        return dict(self.properties)

    def upload_file(self, name: str, path_or_stream: Any) -> None:
        """Files are not uploaded offline; note the call."""
        _log.info("run.upload_file %s (not uploaded offline)", name)

    def complete(self, **kwargs: Any) -> None:
        """Nothing to complete offline."""

    def flush(self, **kwargs: Any) -> None:
        """Nothing to flush offline."""

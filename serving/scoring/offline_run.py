"""``Run.get_context()`` outside a submitted run: Azure ML v1's ``_OfflineRun``.

Every logging call prints what it would have logged and returns; nothing raises, so a
training script can be tested by running it with plain ``python``. As in v1 it has no
``experiment``, ``get_metrics``, ``register_model``, ``parent`` or ``get_details``
(they raise ``AttributeError``); unlike v1 its ``log`` accepts ``step=``.

It lives in the scoring layer because deployment images carry only the serving runtime
(scoring and server): a ``score.py`` calling ``Run.get_context()`` gets this run there.
"""

from __future__ import annotations

import uuid
from typing import Any


class OfflineRun:
    """A run that prints instead of recording."""

    def __init__(self, run_id: str | None = None) -> None:
        self.id = run_id or f"OfflineRun_{uuid.uuid4()}"
        self.tags: dict[str, Any] = {}
        self.properties: dict[str, Any] = {}
        self.input_datasets: dict[str, Any] = {}
        self.output_datasets: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"_OfflineRun(Id: {self.id})"

    def _attempted(self, what: str, name: str, value: Any) -> None:
        print(f"Attempted to log {what} metric {name}:\n{value}")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        self._attempted("scalar", name, value)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        self._attempted("list", name, value)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        self._attempted("row", name, kwargs)

    def log_table(self, name: str, value: Any, description: str = "") -> None:
        self._attempted("table", name, value)

    def log_image(
        self, name: str, path: Any = None, plot: Any = None, description: str = ""
    ) -> None:
        self._attempted("image", name, path if path is not None else plot)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        self._attempted("residuals", name, value)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        self._attempted("predictions", name, value)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        self._attempted("accuracy_table", name, value)

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        self._attempted("confusion_matrix", name, value)

    def tag(self, key: str, value: Any = None) -> None:
        self.tags[key] = value
        print(f"Attempted to set tag {key} to {value}")

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.tags.update(tags)
        print(f"Attempted to set tags {tags}")

    def get_tags(self) -> dict[str, Any]:
        return dict(self.tags)

    def add_properties(self, properties: dict[str, Any]) -> None:
        self.properties.update(properties)
        print(f"Attempted to add properties {properties}")

    def get_properties(self) -> dict[str, Any]:
        return dict(self.properties)

    def upload_file(self, name: str, path_or_stream: Any, **kwargs: Any) -> None:
        print(f"Attempted to upload file {name} from {path_or_stream}")

    def upload_files(self, names: list[str], paths: list[Any], **kwargs: Any) -> None:
        print(f"Attempted to upload files {names}")

    def upload_folder(self, name: str, path: Any, **kwargs: Any) -> None:
        print(f"Attempted to upload folder {name} from {path}")

    def child_run(
        self, name: str | None = None, run_id: str | None = None, outputs: Any = None
    ) -> OfflineRun:
        return OfflineRun(f"{self.id}.{run_id or uuid.uuid4()}")

    def complete(self, **kwargs: Any) -> None:
        """Nothing to complete offline."""

    def fail(self, error_details: Any = None, error_code: Any = None, **kwargs: Any) -> None:
        print(f"Attempted to fail the run: {error_details}")

    def cancel(self) -> None:
        """Nothing to cancel offline."""

    def flush(self, timeout_seconds: int = 300) -> None:
        """Nothing to flush offline."""

    def get_status(self) -> str:
        return "Running"

    def __enter__(self) -> OfflineRun:
        print(f"[START] {self.id}")
        return self

    def __exit__(self, *exc: object) -> None:
        print(f"[STOP] {self.id}")

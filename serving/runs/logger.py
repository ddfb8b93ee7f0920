"""The logging half of ``Run``: metrics, tags, properties and uploads, with v1's rules.

Metrics go through :class:`serving.runs.metrics.MetricsWriter` (buffered, flushed in the
background); tags and properties are short database writes; uploads are atomic copies
into the run folder. Numpy scalars are stored as numbers (v1 stored ``np.int64`` as a
string); ``log`` of a list fails with v1's message. Standard library only.
"""

from __future__ import annotations

import io
import json
import tempfile
import types
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from serving.runs import artifacts
from serving.runs import metrics as m
from serving.runs.errors import UserErrorException
from serving.runs.store import RunStore

_NOT_SCALAR = (list, tuple, range, set, types.GeneratorType)
_FAST = frozenset({int, float, str, bool, type(None)})
TAG_LIMIT = 50
_writers: dict[Path, m.MetricsWriter] = {}


def writer_for(path: Path) -> m.MetricsWriter:
    """One writer per metrics file in this process (all Run objects of a run share it)."""
    writer = _writers.get(path)
    if writer is None:
        writer = _writers.setdefault(path, m.MetricsWriter(path))
    return writer


def _scalar(value: Any) -> Any:
    try:
        return m.to_plain(value)
    except m.MetricValueError as exc:
        raise UserErrorException(str(exc)) from None


def _artifact_metric_value(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise UserErrorException("the metric value must be JSON text or a dict") from None
    if not isinstance(value, Mapping):
        raise UserErrorException("the metric value must be JSON text or a dict")
    return dict(value)


class RunLogging:
    """Mixed into ``Run``: needs ``_store``, ``_run_id`` and ``_run_dir``."""

    _store: RunStore
    _run_id: str
    _run_dir: Path

    @property
    def _metrics(self) -> m.MetricsWriter:
        writer: m.MetricsWriter | None = self.__dict__.get("_writer")
        if writer is None:
            writer = self.__dict__["_writer"] = writer_for(self._run_dir / "metrics.jsonl")
        return writer

    # -- metrics ---------------------------------------------------------------------------
    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log one value; the same name again builds a list."""
        if type(value) not in _FAST:
            if isinstance(value, _NOT_SCALAR):
                raise UserErrorException(
                    "run.log does not support list type. Use run.log_list instead"
                )
            value = _scalar(value)
        self._metrics.add(name, m.SCALAR, value, step, description)

    def log_list(self, name: str, value: Sequence[Any], description: str = "") -> None:
        self._metrics.add(name, m.LIST, [_scalar(v) for v in value], None, description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        row = {col: _scalar(v) for col, v in kwargs.items()}
        self._metrics.add(name, m.ROW, row, None, description or "")

    def log_table(
        self, name: str, value: Mapping[str, Sequence[Any]], description: str = ""
    ) -> None:
        columns = {col: [_scalar(v) for v in cells] for col, cells in value.items()}
        if len({len(cells) for cells in columns.values()}) > 1:
            raise UserErrorException(
                f"InvalidColumnLength: the columns of table {name!r} have different lengths"
            )
        self._metrics.add(name, m.TABLE, columns, None, description)

    def log_image(
        self, name: str, path: str | Path | None = None, plot: Any = None, description: str = ""
    ) -> None:
        """An image from a file (uploaded under the same path) or a matplotlib figure."""
        if (path is None) == (plot is None):
            raise UserErrorException("log_image needs exactly one of path and plot")
        if plot is not None:
            artifact = artifacts.figure_artifact(name)
            with tempfile.TemporaryDirectory() as tmp:
                figure = artifacts.save_figure(plot, Path(tmp))
                artifacts.write_atomic(artifacts.artifact_path(self._run_dir, artifact), figure)
        else:
            artifact = artifacts.image_artifact(path)  # type: ignore[arg-type]
            artifacts.write_atomic(artifacts.artifact_path(self._run_dir, artifact), Path(path))  # type: ignore[arg-type]
        self._metrics.add(name, "image", self._aml_location(artifact), None, description)

    def _artifact_metric(self, kind: str, name: str, value: Any, description: str) -> None:
        data = json.dumps(_artifact_metric_value(value)).encode("utf-8")
        artifact = artifacts.metric_artifact(name)
        artifacts.write_atomic(artifacts.artifact_path(self._run_dir, artifact), io.BytesIO(data))
        self._metrics.add(name, kind, self._aml_location(artifact), None, description)

    def log_confusion_matrix(self, name: str, value: Any, description: str = "") -> None:
        self._artifact_metric("confusion_matrix", name, value, description)

    def log_accuracy_table(self, name: str, value: Any, description: str = "") -> None:
        self._artifact_metric("accuracy_table", name, value, description)

    def log_residuals(self, name: str, value: Any, description: str = "") -> None:
        self._artifact_metric("residuals", name, value, description)

    def log_predictions(self, name: str, value: Any, description: str = "") -> None:
        self._artifact_metric("predictions", name, value, description)

    def _aml_location(self, artifact: str) -> str:
        return f"aml://artifactId/ExperimentRun/dcid.{self._run_id}/{artifact}"

    def flush(self, timeout_seconds: int = 300) -> None:
        """Write every queued metric now."""
        self._metrics.flush()

    # -- tags and properties ---------------------------------------------------------------
    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        clean: dict[str, Any] = {}
        for key, value in tags.items():
            if value is not None and not isinstance(value, str):
                warnings.warn(f"Converted tag value of {key} to string", stacklevel=2)
                value = str(value)
            clean[str(key)] = value
        merged = self._store.update_json(self._run_id, "tags", clean)
        if len(merged) > TAG_LIMIT:
            warnings.warn(
                f"run {self._run_id} has {len(merged)} tags (Azure's limit is {TAG_LIMIT})",
                stacklevel=2,
            )

    def remove_tags(self, tags: Sequence[str]) -> None:
        self._store.remove_tags(self._run_id, tags)

    def get_tags(self) -> dict[str, Any]:
        return dict(self._store.get(self._run_id).tags)

    def add_properties(self, properties: Mapping[str, Any]) -> None:
        """Properties are write-once: a key already set keeps its first value."""
        self._store.update_json(
            self._run_id,
            "properties",
            {str(k): str(v) for k, v in properties.items()},
            write_once=True,
        )

    def get_properties(self) -> dict[str, Any]:
        return dict(self._store.get(self._run_id).properties)

    # -- uploads ---------------------------------------------------------------------------
    def upload_file(
        self, name: str, path_or_stream: str | Path | IO[Any], datastore_name: str | None = None
    ) -> dict[str, str]:
        dest = artifacts.artifact_path(self._run_dir, name)
        source = Path(path_or_stream) if isinstance(path_or_stream, (str, Path)) else path_or_stream
        artifacts.write_atomic(dest, source)
        return {"name": name, "path": str(dest)}

    def upload_files(
        self,
        names: Sequence[str],
        paths: Sequence[str | Path],
        return_artifacts: bool = False,
        timeout_seconds: int | None = None,
        datastore_name: str | None = None,
    ) -> list[dict[str, str]] | None:
        if len(names) != len(paths):
            raise TypeError("names and paths must have the same length")
        done = [self.upload_file(n, p) for n, p in zip(names, paths, strict=True)]
        return done if return_artifacts else None

    def upload_folder(
        self, name: str, path: str | Path, datastore_name: str | None = None
    ) -> list[dict[str, str]]:
        root = str(Path(path))
        files = sorted(p for p in Path(root).rglob("*") if p.is_file())
        return [self.upload_file(name + str(f)[len(root) :], f) for f in files]

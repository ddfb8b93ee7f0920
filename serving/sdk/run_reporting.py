"""``Run.get_context()`` inside a run that reports to its workspace server (Docker compute
of a server's workspace): the same logging calls as :class:`serving.sdk.run.Run`, sent
through the run's own routes with its run token (:mod:`serving.runs.reporting`).

Metrics are batched (:class:`~serving.runs.reporting.HttpMetricsWriter`); tags,
properties and uploads are one call each; ``register_model`` uploads the named file or
folder from the working folder when the run has no such file yet (v1 scripts register
``outputs/model.pkl`` before the run's outputs are collected), then registers it on the
server with the run as lineage. Standard library and the runs layer only.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from serving.runs import artifacts
from serving.runs import metrics as m
from serving.runs.errors import UserErrorException
from serving.runs.logger import RunLogging, _artifact_metric_value
from serving.runs.reporting import HttpMetricsWriter, RunReporter
from serving.sdk.run_view import RunShortcuts

_writers: dict[str, HttpMetricsWriter] = {}


@dataclass(frozen=True)
class RegisteredModel:
    """What ``register_model`` gives back inside a reporting run (the SDK's Model needs
    the workspace): the version's name, number, id and record."""

    name: str
    version: int
    id: str
    record: dict[str, Any]


@dataclass(frozen=True)
class RunExperiment:
    """What a reporting run knows of its experiment."""

    name: str
    workspace: None = None


class ReportingRun(RunLogging, RunShortcuts):
    """The run this script executes in, reported through the workspace server."""

    def __init__(self, reporter: RunReporter, experiment: str = "") -> None:
        self._reporter = reporter
        self._run_id = reporter.run_id
        self._run_dir = Path.cwd()
        self._experiment = RunExperiment(experiment)
        self._in_script = True

    @property
    def _metrics(self) -> m.MetricsWriter:
        writer = _writers.get(self._run_id)
        if writer is None:
            writer = _writers.setdefault(self._run_id, HttpMetricsWriter(self._reporter))
        return writer

    @property
    def experiment(self) -> RunExperiment:
        return self._experiment

    def __repr__(self) -> str:
        return f"Run(Experiment: {self._experiment.name},\nId: {self._run_id})"

    # -- read back -------------------------------------------------------------------------
    def _shown(self) -> dict[str, Any]:
        found: dict[str, Any] = self._reporter.call("GET", "")
        return found

    def get_status(self) -> str:
        return str(self._shown()["status"])

    def get_details(self) -> dict[str, Any]:
        shown = self._shown()
        return {"runId": self._run_id, "status": shown["status"], "target": shown["target"]}

    def get_tags(self) -> dict[str, Any]:
        return dict(self._shown()["tags"])

    def get_properties(self) -> dict[str, Any]:
        return dict(self._shown()["properties"])

    def get_metrics(self, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """v1's shapes, exactly as a folder workspace gives them (the metrics route's
        ``all_values``)."""
        self._metrics.flush()
        params = {"max_points": "3", "all_values": "true", **({"name": name} if name else {})}
        found = self._reporter.call("GET", "/metrics", params=params)
        return dict(found["values"])

    # -- writes ----------------------------------------------------------------------------
    def set_tags(self, tags: Mapping[str, Any]) -> None:
        clean = {str(k): None if v is None else str(v) for k, v in tags.items()}
        self._reporter.json("PATCH", "", {"add_tags": clean})

    def remove_tags(self, tags: Sequence[str]) -> None:
        self._reporter.json("PATCH", "", {"remove_tags": [str(t) for t in tags]})

    def add_properties(self, properties: Mapping[str, Any]) -> None:
        clean = {str(k): str(v) for k, v in properties.items()}
        self._reporter.json("PATCH", "", {"add_properties": clean})

    def upload_file(
        self, name: str, path_or_stream: str | Path | IO[Any], datastore_name: str | None = None
    ) -> dict[str, str]:
        source = Path(path_or_stream) if isinstance(path_or_stream, (str, Path)) else path_or_stream
        self._reporter.upload_file(name, source)
        return {"name": name, "path": name}

    def upload_folder(
        self, name: str, path: str | Path, datastore_name: str | None = None
    ) -> list[dict[str, str]]:
        done = self._reporter.upload_folder(name, Path(path))
        return [{"name": n, "path": n} for n in done]

    def log_image(
        self, name: str, path: str | Path | None = None, plot: Any = None, description: str = ""
    ) -> None:
        if (path is None) == (plot is None):
            raise UserErrorException("log_image needs exactly one of path and plot")
        if plot is not None:
            artifact = artifacts.figure_artifact(name)
            with tempfile.TemporaryDirectory() as tmp:
                self._reporter.upload_file(artifact, artifacts.save_figure(plot, Path(tmp)))
        else:
            artifact = artifacts.image_artifact(path)  # type: ignore[arg-type]
            self._reporter.upload_file(artifact, Path(str(path)))
        self._metrics.add(name, "image", self._aml_location(artifact), None, description)

    def _artifact_metric(self, kind: str, name: str, value: Any, description: str) -> None:
        data = json.dumps(_artifact_metric_value(value)).encode("utf-8")
        artifact = artifacts.metric_artifact(name)
        self._reporter.upload_file(artifact, io.BytesIO(data))
        self._metrics.add(name, kind, self._aml_location(artifact), None, description)

    # -- lifecycle (the supervisor owns the status) ----------------------------------------
    def complete(self, _set_status: bool = True) -> None:
        self._metrics.flush()

    def fail(self, error_details: Any = None, error_code: str | None = None, **kwargs: Any) -> None:
        self._metrics.flush()

    def cancel(self) -> None:
        warnings.warn("a submitted run cannot cancel itself; the call is ignored", stacklevel=2)

    def wait_for_completion(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise UserErrorException("a run cannot wait for itself to complete")

    def child_run(self, *args: Any, **kwargs: Any) -> Any:
        raise UserErrorException(
            "child runs cannot be made from a run that reports to a workspace server yet"
        )

    def register_model(
        self,
        model_name: str,
        model_path: str | None = None,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> RegisteredModel:
        """Register the run's file or folder ``model_path`` (uploaded first from the
        working folder when the run has none under that name); the model's record."""
        self._metrics.flush()
        wanted = str(model_path if model_path is not None else model_name)
        wanted = wanted.replace("\\", "/").strip("/")
        local = Path.cwd() / wanted
        if local.is_file():
            self._reporter.upload_file(wanted, local)
        elif local.is_dir():
            self._reporter.upload_folder(wanted, local)
        body = {
            "model_name": model_name,
            "model_path": wanted,
            "tags": dict(tags or {}),
            "properties": dict(properties or {}),
            "description": description,
            "model_framework": model_framework,
            "model_framework_version": model_framework_version,
        }
        found: dict[str, Any] = self._reporter.call(
            "POST", "/register", json.dumps(body).encode("utf-8")
        )
        name, version = str(found["name"]), int(found["version"])
        return RegisteredModel(name, version, str(found.get("id") or f"{name}:{version}"), found)

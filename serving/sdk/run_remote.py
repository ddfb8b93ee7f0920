"""``Run`` of a workspace server, seen from a notebook or the CLI's machine: the same
methods as :class:`serving.sdk.run.Run` for a submitted run, over
:class:`serving.hub.remote.runs.RemoteRunStore` (status, details, metrics, files,
download, tags, properties, cancel, ``wait_for_completion(show_output=True)`` tailing the
log route, ``register_model``, children).

Interactive runs (``Experiment.start_logging``) and child runs log through the run's
routes with the client's token, batched as inside a reporting run
(:class:`serving.sdk.run_reporting.ReportingRun` does the logging), and end with
``complete()``/``fail()`` (``POST /runs/{id}/status``).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from serving.runs import records as rec
from serving.runs.errors import UserErrorException
from serving.runs.records import RunRecord
from serving.sdk.run_view import RunView

if TYPE_CHECKING:
    from serving.hub.remote.runs import RemoteRunStore
    from serving.sdk.experiment import Experiment
    from serving.sdk.run_reporting import ReportingRun


def remote_runs(workspace: Any) -> RemoteRunStore | None:
    """The run store of a workspace server, or None for a folder workspace."""
    if getattr(workspace, "client", None) is None:
        return None
    from serving.hub.remote.runs import RemoteRunStore

    runs = getattr(workspace, "runs", None)
    return runs if isinstance(runs, RemoteRunStore) else None


def not_on_a_server(what: str) -> UserErrorException:
    return UserErrorException(
        f"{what} is not available against a workspace server yet",
        hint="submit a ScriptRunConfig: the run executes on the server's machine",
    )


_TYPED = {
    "hyperdrive": ("serving.sdk.hyperdrive_remote", "RemoteHyperDriveRun"),
    "azureml.PipelineRun": ("serving.sdk.pipeline_remote", "RemotePipelineRun"),
    "azureml.StepRun": ("serving.sdk.pipeline_remote", "RemoteStepRun"),
}


def typed_remote_run(experiment: Experiment, record: RunRecord) -> RemoteRun:
    """The server's run as its type (a sweep's parent, a pipeline run, a step run), as
    :func:`serving.sdk.run.typed_run` does for a folder's."""
    where = _TYPED.get(record.kind)
    if where is None:
        return RemoteRun(experiment, record.id, _record=record)
    import importlib

    cls: type[RemoteRun] = getattr(importlib.import_module(where[0]), where[1])
    return cls(experiment, record.id, _record=record)


class RemoteRun(RunView):
    """A run of an experiment in a workspace server."""

    def __init__(
        self,
        experiment: Experiment,
        run_id: str,
        outputs: str | None = None,
        _record: RunRecord | None = None,
        **kwargs: Any,
    ) -> None:
        """``_record``: the run's record when the caller has just read it (a listing)."""
        runs = remote_runs(experiment.workspace)
        if runs is None:
            raise UserErrorException("RemoteRun needs a workspace server")
        self._experiment = experiment
        self._runs: RemoteRunStore = runs
        self._run_id = run_id
        self._record: RunRecord = _record or runs.get(run_id)
        self._outputs = outputs
        self._logger: ReportingRun | None = None

    def _logging(self) -> ReportingRun:
        """The logging half (metrics batched, uploads), over this run's routes."""
        if self._logger is None:
            from serving.sdk.run_reporting import ReportingRun

            self._logger = ReportingRun(self._runs.reporter(self._run_id), self._experiment.name)
        return self._logger

    # -- identity and details (the rest: RunView) ---------------------------------------
    @property
    def record(self) -> RunRecord:
        return self._runs.get(self._run_id)

    @property
    def parent(self) -> RemoteRun | None:
        parent_id = self._record.parent_id
        if parent_id is None:
            return None
        return typed_remote_run(self._experiment, self._runs.get(parent_id))

    def get_portal_url(self) -> str:
        return self._runs.page_url(self._run_id)

    def _wait(self, out: TextIO | None) -> RunRecord:
        return self._runs.wait(self._run_id, out=out)

    # -- metrics (the rest: RunView) ---------------------------------------------------------
    def _own_metrics(self, name: str | None) -> dict[str, Any]:
        return self._runs.get_metrics(self._run_id, name)

    def _populate(self, value: Any) -> Any:
        prefix = f"aml://artifactId/ExperimentRun/dcid.{self._run_id}/"
        if not (isinstance(value, str) and value.startswith(prefix)):
            return value
        name = value[len(prefix) :]
        if not name.endswith(".json"):
            return name
        with tempfile.TemporaryDirectory() as tmp:
            dest = self._runs.download(self._run_id, name, Path(tmp) / "metric.json")
            return json.loads(dest.read_text(encoding="utf-8"))

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        self._logging().log(name, value, description, step)

    def log_list(self, name: str, value: Sequence[Any], description: str = "") -> None:
        self._logging().log_list(name, value, description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        self._logging().log_row(name, description, **kwargs)

    def log_table(
        self, name: str, value: Mapping[str, Sequence[Any]], description: str = ""
    ) -> None:
        self._logging().log_table(name, value, description)

    def log_image(
        self, name: str, path: Any = None, plot: Any = None, description: str = ""
    ) -> None:
        self._logging().log_image(name, path, plot, description)

    def flush(self, timeout_seconds: int = 300) -> None:
        if self._logger is not None:
            self._logger.flush()

    # -- tags and properties ---------------------------------------------------------------
    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        clean = {str(k): None if v is None else str(v) for k, v in tags.items()}
        self._runs.update(self._run_id, add_tags=clean)

    def remove_tags(self, tags: Sequence[str]) -> None:
        self._runs.update(self._run_id, remove_tags=[str(t) for t in tags])

    def get_tags(self) -> dict[str, Any]:
        return dict(self.record.tags)

    def add_properties(self, properties: Mapping[str, Any]) -> None:
        clean = {str(k): str(v) for k, v in properties.items()}
        self._runs.update(self._run_id, add_properties=clean)

    def get_properties(self) -> dict[str, Any]:
        return dict(self.record.properties)

    # -- files -----------------------------------------------------------------------------
    def get_file_names(self) -> list[str]:
        return self._runs.file_names(self._run_id)

    def _fetch(self, name: str, dest: Path) -> None:
        self._runs.download(self._run_id, name, dest)

    def upload_file(self, name: str, path_or_stream: Any, **kwargs: Any) -> dict[str, str]:
        return self._logging().upload_file(name, path_or_stream)

    def upload_folder(self, name: str, path: str | Path, **kwargs: Any) -> list[dict[str, str]]:
        return self._logging().upload_folder(name, path)

    # -- children and lifecycle ------------------------------------------------------------
    def _child_records(self) -> list[RunRecord]:
        return self._runs.list(parent_id=self._run_id)

    def _typed(self, record: RunRecord) -> RemoteRun:
        return typed_remote_run(self._experiment, record)

    def child_run(
        self, name: str | None = None, run_id: str | None = None, outputs: str | None = None
    ) -> RemoteRun:
        """A child run, Running at once; ``complete()`` uploads its ``outputs`` folder."""
        if run_id is not None:
            raise not_on_a_server("choosing a child run's id")
        record = self._runs.start_run(
            self._experiment.name, parent_id=self._run_id, display_name=name
        )
        return RemoteRun(self._experiment, record.id, outputs=outputs, _record=record)

    def complete(self, _set_status: bool = True) -> None:
        """End an interactive or child run (its ``outputs`` folder uploaded first)."""
        self.flush()
        if not _set_status:
            return
        if self._outputs and Path(self._outputs).is_dir():
            self.upload_folder("outputs", self._outputs)
        self._runs.end_run(self._run_id, rec.COMPLETED)

    def fail(
        self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True
    ) -> None:
        self.flush()
        if not _set_status:
            return
        error = {
            "code": error_code or "UserError",
            "message": str(error_details or "the run was failed"),
        }
        self._runs.end_run(self._run_id, rec.FAILED, error)

    def cancel(self) -> None:
        self._runs.cancel(self._run_id)

    def clean(self) -> None:
        warnings.warn("a server's run has no working copy here to clean", stacklevel=2)

    # -- models ----------------------------------------------------------------------------
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
    ) -> Any:
        """Register the run's file or folder ``model_path`` on the server (the run as
        lineage); the SDK's Model of the new version."""
        found = self._runs.register_model(
            self._run_id,
            model_name,
            model_path=model_path,
            tags=dict(tags or {}),
            properties=dict(properties or {}),
            description=description,
            model_framework=model_framework,
            model_framework_version=model_framework_version,
        )
        from serving.hub.remote.models import model_record
        from serving.sdk.model import Model

        return Model._wrap(self._experiment.workspace, model_record(found))

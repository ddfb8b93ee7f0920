"""``Run``: Azure ML v1's run class, inside a training script and outside it.

Inside a submitted run, ``Run.get_context()`` returns the run itself (found from the
``AZUREML_RUN_ID`` and ``SERVING_RUN_WORKSPACE`` variables the supervisor sets); there
``complete``, ``fail`` and ``cancel`` do not change the status (the supervisor owns it, from
the script's exit). Outside one it returns an :class:`OfflineRun` that prints, unless
``SERVING_OFFLINE_EXPERIMENT`` names an experiment to record offline runs into.

Depends only on the standard library and the workspace layer: training environments hold
the user's packages, not the platform's dependencies.
"""

from __future__ import annotations

import atexit
import getpass
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from serving.runs import follow
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.errors import UserErrorException
from serving.runs.logger import RunLogging
from serving.runs.records import RunRecord
from serving.runs.registration import register_from_run
from serving.runs.store import STD_LOG, SYSTEM_LOG, RunStore
from serving.scoring.offline_run import OfflineRun
from serving.sdk.run_files import RunFiles
from serving.sdk.run_view import RunView

if TYPE_CHECKING:
    from serving.sdk.experiment import Experiment
    from serving.workspace import Workspace

RUN_ENV = "AZUREML_RUN_ID"
WORKSPACE_ENV = "SERVING_RUN_WORKSPACE"
OFFLINE_EXPERIMENT_ENV = "SERVING_OFFLINE_EXPERIMENT"
_context: dict[str, Any] = {}


class Run(RunFiles, RunLogging, RunView):
    """A run of an experiment: ``Run(experiment, run_id)``."""

    def __new__(cls, experiment: Experiment, run_id: str, *args: Any, **kwargs: Any) -> Any:
        """``Run(experiment, id)`` of a workspace server's experiment is its RemoteRun."""
        if cls is Run and getattr(experiment, "_remote", None) is not None:
            from serving.sdk.run_remote import RemoteRun

            return RemoteRun(experiment, run_id)
        return super().__new__(cls)

    def __init__(
        self,
        experiment: Experiment,
        run_id: str,
        outputs: str | None = None,
        _record: RunRecord | None = None,
        **kwargs: Any,
    ) -> None:
        """``_record``: the run's record when the caller has just read it (a listing)."""
        self._experiment = experiment
        self._store: RunStore = experiment._store
        self._run_id = run_id
        self._run_dir = self._store.run_dir(run_id)
        self._record: RunRecord = _record or self._store.get(run_id)
        self._in_script = False
        self._outputs = outputs

    # -- finding runs ----------------------------------------------------------------------
    @classmethod
    def get_context(
        cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any
    ) -> Any:
        """The run this script executes in, or an offline run outside one."""
        run_id, root = os.environ.get(RUN_ENV), os.environ.get(WORKSPACE_ENV)
        reporting = _reporting_context()
        if reporting is not None:
            return reporting
        if run_id and root:
            key = f"{root}:{run_id}"
            if key not in _context:
                run = cls._open(Path(root), run_id)
                run._in_script = True
                _context[key] = run
            return _context[key]
        offline_exp = os.environ.get(OFFLINE_EXPERIMENT_ENV)
        if offline_exp:
            return cls._recorded_offline(offline_exp)
        if not allow_offline:
            from serving.scoring.compat.azureml.exceptions import RunEnvironmentException

            raise RunEnvironmentException("Could not load a submitted run: not inside a run")
        return OfflineRun()

    @classmethod
    def _open(cls, root: Path, run_id: str) -> Run:
        from serving.sdk.experiment import Experiment
        from serving.sdk.workspace import Workspace

        ws = Workspace(root)
        record = RunStore(ws.path, ws.db).get(run_id)
        return cls(Experiment(ws, record.experiment, _create=False), run_id, _record=record)

    @classmethod
    def _recorded_offline(cls, experiment_name: str) -> Run:
        key = f"offline:{experiment_name}"
        if key not in _context:
            from serving.sdk.experiment import Experiment
            from serving.sdk.workspace import Workspace

            started = Experiment(Workspace.discover(), experiment_name).start_logging()
            atexit.register(started._finish_offline)
            _context[key] = started
        run: Run = _context[key]
        return run

    def _finish_offline(self) -> None:
        if not self._store.get(self._run_id).terminal:
            self.complete()

    @classmethod
    def get(cls, workspace: Workspace, run_id: str) -> Run:
        from serving.sdk.experiment import Experiment
        from serving.sdk.run_remote import remote_runs

        runs = remote_runs(workspace)
        if runs is not None:  # a workspace server's run
            from serving.sdk.run_remote import typed_remote_run

            found = runs.get(run_id)
            remote = typed_remote_run(Experiment(workspace, found.experiment, _create=False), found)
            return remote  # type: ignore[return-value]

        record = RunStore(workspace.path, workspace.db).get(run_id)
        experiment = Experiment(workspace, record.experiment, _create=False)
        if cls is Run:
            return typed_run(experiment, record)
        return cls(experiment, run_id)

    # -- identity (the rest: RunView) --------------------------------------------------
    @property
    def record(self) -> RunRecord:
        return self._store.find(self._run_id)

    @property
    def display_name(self) -> str:
        return self.record.display_name or self._run_id

    @display_name.setter
    def display_name(self, value: str) -> None:
        with self._store.db.write() as conn:
            conn.execute("UPDATE runs SET display_name = ? WHERE id = ?", (value, self._run_id))

    @property
    def parent(self) -> Run | None:
        parent_id = self._record.parent_id
        return None if parent_id is None else typed_run(self._experiment, parent_id)

    @property
    def input_datasets(self) -> dict[str, Any]:
        return {}

    @property
    def output_datasets(self) -> dict[str, Any]:
        return {}

    def _submitter(self) -> str:
        return getpass.getuser()

    def get_details_with_logs(self) -> dict[str, Any]:
        details = self.get_details()
        details["logFiles"] = {
            n: Path(p).read_text(encoding="utf-8", errors="replace")
            for n, p in details["logFiles"].items()
        }
        return details

    def get_portal_url(self) -> str:
        return self._run_dir.as_uri()

    def _wait(self, out: TextIO | None) -> RunRecord:
        if self._in_script:
            raise UserErrorException("a run cannot wait for itself to complete")
        return follow.wait(self._store, self._run_id, out=out)

    # -- metrics (the rest: RunView) ---------------------------------------------------------
    def _own_metrics(self, name: str | None) -> dict[str, Any]:
        self._metrics.flush()
        return m.read_metrics(self._run_dir / "metrics.jsonl", name)

    def _populate(self, value: Any) -> Any:
        prefix = f"aml://artifactId/ExperimentRun/dcid.{self._run_id}/"
        if isinstance(value, str) and value.startswith(prefix):
            path = self._run_dir / value[len(prefix) :]
            if path.suffix == ".json" and path.is_file():
                import json

                return json.loads(path.read_text(encoding="utf-8"))
            return str(path)
        return value

    # -- children --------------------------------------------------------------------------
    def child_run(
        self, name: str | None = None, run_id: str | None = None, outputs: str | None = None
    ) -> Run:
        """A child run, Running at once; ``complete()`` uploads its ``outputs`` folder."""
        record = self._store.create_run(
            self._experiment.name,
            kind=rec.CHILD,
            target=self._record.target,
            run_id=run_id or f"{self._run_id}_{uuid.uuid4().hex[:8]}",
            parent_id=self._run_id,
            display_name=name,
            status=rec.RUNNING,
        )
        self._store.set_status(record.id, rec.RUNNING)
        return Run(self._experiment, record.id, outputs=outputs)

    def create_children(
        self,
        count: int | None = None,
        tag_key: str | None = None,
        tag_values: Sequence[str] | None = None,
    ) -> list[Run]:
        total = len(tag_values) if tag_values is not None else int(count or 0)
        if total > 100:
            raise UserErrorException("create_children makes at most 100 runs at once")
        children = [self.child_run() for _ in range(total)]
        if tag_key is not None and tag_values is not None:
            for child, value in zip(children, tag_values, strict=True):
                child.tag(tag_key, value)
        return children

    def _child_records(self) -> list[RunRecord]:
        return self._store.list(parent_id=self._run_id)

    def _typed(self, record: RunRecord) -> Run:
        return typed_run(self._experiment, record)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._store.set_status(self._run_id, rec.RUNNING)

    def complete(self, _set_status: bool = True) -> None:
        """Ends an interactive or child run; inside a submitted script only flushes (the
        status comes from the script's exit)."""
        self._metrics.flush()
        if self._in_script or not _set_status:
            return
        if self._outputs and Path(self._outputs).is_dir():
            self.upload_folder("outputs", self._outputs)
        self._store.set_status(self._run_id, rec.COMPLETED)

    def fail(
        self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True
    ) -> None:
        self._metrics.flush()
        if self._in_script or not _set_status:
            return
        error = {
            "code": error_code or "UserError",
            "message": str(error_details or "the run was failed"),
        }
        self._store.set_status(self._run_id, rec.FAILED, error=error)

    def cancel(self) -> None:
        if self._in_script:
            warnings.warn("a submitted run cannot cancel itself; the call is ignored", stacklevel=2)
            return
        from serving.runs.control import cancel

        cancel(self._store, self._run_id)

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
        datasets: Any = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Register a file or folder of the run's artifacts (``outputs/model.pkl``) as a
        new model version, with the run as its lineage."""
        self._metrics.flush()
        ws = self._experiment.workspace
        record = register_from_run(
            ws,
            self._run_id,
            model_name,
            model_path,
            tags=tags,
            properties=properties,
            description=description,
            model_framework=model_framework,
            model_framework_version=model_framework_version,
        )
        try:
            from serving.sdk.model import Model
        except ImportError:  # a training environment without the SDK's dependencies
            return record
        return Model._wrap(ws, record)

    def clean(self) -> None:
        """Remove the run's working copy if one is left (a crashed supervisor's)."""
        shutil.rmtree(self._run_dir / ".work", ignore_errors=True)


def _reporting_context() -> Any:
    """The run of a script that reports to its workspace server (Docker compute of a
    server's workspace), or None."""
    from serving.runs.reporting import from_environment

    found = from_environment()
    if found is None:
        return None
    run_id, reporter = found
    key = f"server:{run_id}"
    if key not in _context:
        from serving.sdk.run_reporting import ReportingRun

        _context[key] = ReportingRun(reporter, os.environ.get("AZUREML_EXPERIMENT_ID", ""))
    return _context[key]


_TYPED = {
    "hyperdrive": ("serving.sdk.hyperdrive", "HyperDriveRun"),
    "azureml.PipelineRun": ("serving.sdk.pipeline_run", "PipelineRun"),
    "azureml.StepRun": ("serving.sdk.pipeline_run", "StepRun"),
}


def typed_run(experiment: Experiment, record: RunRecord | str) -> Run:
    """The run as its type, as v1 rehydrates runs: a sweep's parent is a HyperDriveRun, a
    pipeline's run a PipelineRun, its steps StepRuns; anything else a Run."""
    if isinstance(record, str):
        record = experiment._store.get(record)
    where = _TYPED.get(record.kind)
    if where is None:
        return Run(experiment, record.id, _record=record)
    import importlib

    cls: type[Run] = getattr(importlib.import_module(where[0]), where[1])
    return cls(experiment, record.id, _record=record)


__all__ = ["STD_LOG", "SYSTEM_LOG", "Run"]

"""``PipelineRun`` and ``StepRun``: v1's runs of a pipeline and of its steps.

``PipelineRun.wait_for_completion`` shows output by default (v1's default, unlike
``Run.wait_for_completion``) and returns the final status. A reused step's run is
Completed without having run: ``azureml.reusedrunid`` in its properties names the run it
reused, whose outputs and logs it serves.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, TextIO

from serving.runs.datastores import DatastoreStore, download, locate
from serving.runs.errors import UserErrorException
from serving.runs.pipelines import spec as s
from serving.runs.pipelines.watch import wait_pipeline
from serving.runs.records import RunRecord
from serving.runs.store import STD_LOG, SYSTEM_LOG
from serving.sdk.pipeline_view import PipelineSteps
from serving.sdk.run import Run


class PortDataReference:
    """A step run's output (``step_run.get_output_data(name)``): a folder on a datastore."""

    def __init__(self, store: DatastoreStore, name: str, datastore: str, path: str) -> None:
        self._store = store
        self.name = name
        self.datastore_name = datastore
        self.path_on_datastore = path

    @property
    def local_path(self) -> Path:
        """The folder itself (datastores are local folders here)."""
        return locate(self._store.get(self.datastore_name), self.path_on_datastore)

    def download(
        self, local_path: str | Path, overwrite: bool = False, show_progress: bool = True
    ) -> str:
        """Copy the output's files to ``local_path/<path on datastore>``; returns that path."""
        dest = Path(local_path)
        download(
            self._store.get(self.datastore_name),
            dest,
            prefix=self.path_on_datastore,
            overwrite=overwrite,
        )
        return str(dest / self.path_on_datastore)

    def __repr__(self) -> str:
        return (
            f"PortDataReference(name={self.name!r}, datastore={self.datastore_name!r}, "
            f"path_on_datastore={self.path_on_datastore!r})"
        )


class StepRun(Run):
    """The run of one step of a pipeline run."""

    @property
    def reused_run_id(self) -> str | None:
        """The run this step reused (None when it ran)."""
        value = self.record.properties.get(s.REUSED_RUN)
        return None if value is None else str(value)

    def _log_owner(self) -> Path:
        return self._store.run_dir(self.reused_run_id or self._run_id)

    def get_output_data(self, name: str) -> PortDataReference:
        outputs = self.record.properties.get(s.OUTPUTS) or {}
        if name not in outputs:
            known = ", ".join(sorted(outputs)) or "none"
            raise UserErrorException(
                f"step run {self.id} has no output {name!r} (outputs: {known})"
            )
        where = outputs[name]
        store = DatastoreStore(self._store.root, self._store.db)
        return PortDataReference(store, name, str(where["datastore"]), str(where["path"]))

    def get_outputs(self) -> dict[str, PortDataReference]:
        names = self.record.properties.get(s.OUTPUTS) or {}
        return {name: self.get_output_data(name) for name in names}

    def _read(self, relative: str) -> str:
        path = self._log_owner() / relative
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""

    def get_stdout_log(self) -> str:
        """The script's output (stdout and stderr, as one log here)."""
        return self._read(STD_LOG)

    def get_stderr_log(self) -> str:
        return self._read(STD_LOG)

    def get_job_log(self) -> str:
        """The step run's supervisor log (environment, data, exit)."""
        return self._read(SYSTEM_LOG)


class PipelineRun(PipelineSteps, Run):  # type: ignore[misc]  # v1 returns the status here
    """A run of a pipeline: its children are the step runs (the rest: PipelineSteps)."""

    def __init__(
        self, experiment: Any, run_id: str, _service_endpoint: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(experiment, run_id, **kwargs)

    def _step(self, record: RunRecord) -> StepRun:
        return StepRun(self._experiment, record.id, _record=record)

    def _wait_pipeline(self, out: TextIO | None, timeout_s: float | None) -> RunRecord:
        return wait_pipeline(self._store, self._run_id, out=out, timeout_s=timeout_s)

    def cancel(self) -> None:
        from serving.runs.control import cancel

        cancel(self._store, self._run_id)


def copy_output(step: StepRun, name: str, dest: str | Path) -> Path:
    """Copy one output folder of a step run to ``dest`` (a convenience for examples)."""
    source = step.get_output_data(name).local_path
    shutil.copytree(source, dest, dirs_exist_ok=True)
    return Path(dest)

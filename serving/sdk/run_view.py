"""What a run says about itself, shared by a folder's ``Run`` and a server's ``RemoteRun``:
its identity properties, ``repr`` and v1's ``get_details()`` dict, all read from its
:class:`~serving.runs.records.RunRecord` (each class fetches the record its own way).

Standard library and the runs layer only: training scripts import ``Run``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from serving.runs.records import RunRecord

if TYPE_CHECKING:
    from serving.sdk.experiment import Experiment


class RunView:
    """Mixed into ``Run`` and ``RemoteRun``: needs ``_run_id``, ``_experiment``,
    ``_record`` (as first read), ``record`` (fresh), ``get_tags``, ``get_properties``,
    ``_log_files`` and ``_submitter``."""

    _run_id: str
    _experiment: Experiment
    _record: RunRecord

    @property
    def record(self) -> RunRecord:
        raise NotImplementedError

    def get_tags(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_properties(self) -> dict[str, Any]:
        raise NotImplementedError

    def _log_files(self) -> dict[str, str]:
        """v1's ``logFiles``: log name -> where to read it."""
        raise NotImplementedError

    def _submitter(self) -> str:
        """Who submitted the run when its definition does not say."""
        return ""

    # -- identity --------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._run_id

    @property
    def name(self) -> str:
        return self._run_id

    @property
    def experiment(self) -> Experiment:
        return self._experiment

    @property
    def number(self) -> int:
        return self._record.number

    @property
    def type(self) -> str:
        return self._record.kind

    @property
    def display_name(self) -> str:
        return self.record.display_name or self._run_id

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def tags(self) -> dict[str, Any]:
        return self.get_tags()

    @property
    def properties(self) -> dict[str, Any]:
        return self.get_properties()

    def __repr__(self) -> str:
        return (
            f"Run(Experiment: {self._experiment.name},\nId: {self._run_id},\n"
            f"Type: {self.type},\nStatus: {self.get_status()})"
        )

    # -- status and details ----------------------------------------------------------------
    def get_status(self) -> str:
        return self.record.status

    def get_details(self) -> dict[str, Any]:
        record = self.record
        props = dict(record.properties)
        if record.snapshot_id:
            props.setdefault("ContentSnapshotId", record.snapshot_id)
        details: dict[str, Any] = {
            "runId": record.id,
            "target": record.target,
            "status": record.status,
            "startTimeUtc": record.started_at,
            "endTimeUtc": record.ended_at,
            "properties": props,
            "inputDatasets": [],
            "outputDatasets": [],
            "runDefinition": dict(record.definition),
            "logFiles": self._log_files(),
            "submittedBy": record.definition.get("submitted_by") or self._submitter(),
        }
        if record.error:
            details["error"] = {"error": record.error}
        if record.warnings:
            details["warnings"] = [{"message": w} for w in record.warnings]
        return details

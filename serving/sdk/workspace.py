"""The SDK's ``Workspace``: the workspace folder plus Azure ML v1's run-side members
(``get_run``, ``experiments``, ``datastores``, ``get_default_datastore``,
``compute_targets``). Import-light: training scripts reach it through
``Run.get_context().experiment.workspace``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from serving.runs.store import RunStore
from serving.workspace import Workspace as _FolderWorkspace

if TYPE_CHECKING:
    from serving.sdk.experiment import Experiment
    from serving.sdk.run import Run


class Workspace(_FolderWorkspace):
    """An open workspace; ``Workspace.from_config()`` finds the nearest ``.serving``."""

    @property
    def runs(self) -> RunStore:
        return RunStore(self.path, self.db)

    def get_run(self, run_id: str) -> Run:
        from serving.sdk.run import Run

        return Run.get(self, run_id)

    @property
    def experiments(self) -> dict[str, Experiment]:
        from serving.sdk.experiment import Experiment

        return {e.name: e for e in Experiment.list(self)}

    @property
    def datastores(self) -> dict[str, Any]:
        from serving.sdk.datastore import datastores

        return datastores(self)

    def get_default_datastore(self) -> Any:
        from serving.sdk.datastore import get_default_datastore

        return get_default_datastore(self)

    def set_default_datastore(self, name: str) -> None:
        from serving.sdk.datastore import set_default_datastore

        set_default_datastore(self, name)

    @property
    def compute_targets(self) -> dict[str, Any]:
        from serving.sdk.compute import compute_targets

        return compute_targets(self)

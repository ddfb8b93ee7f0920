"""``Experiment``: Azure ML v1's experiment class over the workspace's runs.

``submit(config)`` hands the config to its own ``_submit(experiment, tags, **kwargs)``
(ScriptRunConfig, the estimators, later HyperDrive and pipelines), so this layer does not
know every config type.

In a workspace server (``Workspace.get(path="http://...")``) an experiment's runs are the
server's (:class:`serving.sdk.run_remote.RemoteRun`): script runs and estimators are
submitted there and execute on the server's machine, and so do HyperDrive sweeps and
pipelines (their configs say ``_server_submits``); interactive runs log through the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from serving.runs import records as rec
from serving.runs.errors import UserErrorException
from serving.runs.store import RunStore
from serving.sdk.run import Run, typed_run
from serving.sdk.run_remote import RemoteRun, not_on_a_server, remote_runs, typed_remote_run
from serving.sdk.run_view import tags_match

if TYPE_CHECKING:
    from serving.runs.records import RunRecord
    from serving.workspace import Workspace


class Experiment:
    """A named group of runs in a workspace (created on first use)."""

    def __init__(
        self,
        workspace: Workspace,
        name: str,
        _skip_name_validation: bool = False,
        _create: bool = True,
        **kwargs: Any,
    ) -> None:
        self.workspace = workspace
        self.name = name
        self._remote = remote_runs(workspace)
        if self._remote is not None:
            rec.check_experiment_name(name)  # made on the server by its first run
            return
        self._store = RunStore(workspace.path, workspace.db)
        if _create:
            self._store.ensure_experiment(name)

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name},\nWorkspace: {self.workspace.name})"

    @classmethod
    def list(
        cls, workspace: Workspace, experiment_name: str | None = None, **kwargs: Any
    ) -> list[Experiment]:
        runs = remote_runs(workspace)
        found = runs.experiments() if runs else RunStore(workspace.path, workspace.db).experiments()
        return [
            cls(workspace, e["name"], _create=False)
            for e in found
            if experiment_name is None or e["name"] == experiment_name
        ]

    @property
    def id(self) -> str:
        return self.name

    @property
    def tags(self) -> dict[str, Any]:
        found = self._remote.experiments() if self._remote else self._store.experiments()
        for e in found:
            if e["name"] == self.name:
                return dict(e["tags"])
        return {}

    def tag(self, key: str, value: Any = None) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self._remote is not None:
            raise not_on_a_server("tagging an experiment")
        self._store.experiment_tags(
            self.name, {k: None if v is None else str(v) for k, v in tags.items()}
        )

    def submit(self, config: Any, tags: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Submit a run configuration; ``tags`` are set on the run after submission."""
        submit = getattr(config, "_submit", None)
        remote_ok = hasattr(config, "to_job") or getattr(config, "_server_submits", False)
        if self._remote is not None and not remote_ok:
            config = _as_script_run(config)
            submit = config._submit
        if submit is None:
            raise UserErrorException(
                f"cannot submit a {type(config).__name__}: use a ScriptRunConfig, an "
                "Estimator or a HyperDriveConfig"
            )
        run = submit(self, **kwargs)
        if tags:
            run.set_tags(dict(tags))
        return run

    def start_logging(
        self,
        *args: Any,
        outputs: str | None = None,
        snapshot_directory: str | None = None,
        display_name: str | None = None,
        **kwargs: Any,
    ) -> Run:
        """An interactive run (a notebook logs into it), Running until ``complete()``."""
        if self._remote is not None:
            if snapshot_directory:
                raise not_on_a_server("a snapshot of an interactive run")
            found = self._remote.start_run(self.name, display_name=display_name)
            started = RemoteRun(self, found.id, outputs=outputs or "outputs", _record=found)
            return started  # type: ignore[return-value]
        record = self._store.create_run(
            self.name,
            kind=rec.INTERACTIVE,
            target="local",
            display_name=display_name,
            status=rec.RUNNING,
        )
        self._store.set_status(record.id, rec.RUNNING)
        if snapshot_directory:
            from serving.runs.snapshot import take_snapshot

            snap = take_snapshot(snapshot_directory, self._store.run_dir(record.id) / "snapshot")
            self._store.set_snapshot(record.id, snap.snapshot_id)
        return Run(self, record.id, outputs=outputs or "outputs")

    def get_runs(
        self,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        include_children: bool = False,
    ) -> Iterator[Any]:
        """Runs newest first (top-level only unless ``include_children``)."""
        rehydrate: Callable[[Experiment, RunRecord], Any]
        if self._remote is not None:
            records = self._remote.list(experiment=self.name, include_children=include_children)
            rehydrate = typed_remote_run
        else:
            records = self._store.list(experiment=self.name, top_level=not include_children)
            rehydrate = typed_run
        for record in records:
            if (
                (type is None or record.kind == type)
                and tags_match(record.tags, tags)
                and tags_match(record.properties, properties)
            ):
                yield rehydrate(self, record)

    def archive(self) -> None:
        if self._remote is not None:
            raise not_on_a_server("archiving an experiment")
        with self._store.db.write() as conn:
            conn.execute("UPDATE experiments SET archived = 1 WHERE name = ?", (self.name,))


def _as_script_run(config: Any) -> Any:
    """An estimator as the ScriptRunConfig it stands for; anything else cannot yet be
    submitted to a server."""
    convert = getattr(config, "to_script_run_config", None)
    if convert is None:
        raise not_on_a_server(f"submitting a {type(config).__name__}")
    return convert()

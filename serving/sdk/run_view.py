"""What a run says about itself, shared by a folder's ``Run`` and a server's ``RemoteRun``:
its identity properties, ``repr`` and v1's ``get_details()`` dict, all read from its
:class:`~serving.runs.records.RunRecord` (each class fetches the record its own way), and
the v1 calls that are one behaviour over a per-backend hook: ``get_metrics`` (recursive,
``populate``), ``wait_for_completion``, the ``with run:`` block and downloading the run's
files and logs.

Standard library and the runs layer only: training scripts import ``Run``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TextIO

from serving.errors import NotFoundError
from serving.runs import follow
from serving.runs import records as rec
from serving.runs.errors import ActivityFailedException, UserErrorException
from serving.runs.records import RunRecord

if TYPE_CHECKING:
    from serving.sdk.experiment import Experiment

LOG_PREFIXES = ("user_logs/", "system_logs/", "logs/", "azureml-logs/")
"""Where a run's files that are logs live (v1's ``logFiles``)."""


class RunShortcuts:
    """v1's property shortcuts, for every run class (a reporting run's too): needs
    ``_run_id``, ``get_status``, ``get_tags`` and ``get_properties``."""

    _run_id: str

    def get_status(self) -> str:
        raise NotImplementedError

    def get_tags(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_properties(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def id(self) -> str:
        return self._run_id

    @property
    def name(self) -> str:
        return self._run_id

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def tags(self) -> dict[str, Any]:
        return self.get_tags()

    @property
    def properties(self) -> dict[str, Any]:
        return self.get_properties()


class RunView(RunShortcuts):
    """Mixed into ``Run`` and ``RemoteRun``: needs ``_run_id``, ``_experiment``,
    ``_record`` (as first read), ``record`` (fresh), ``get_tags``, ``get_properties``,
    ``get_children``, ``complete``, ``fail`` and the hooks below."""

    _run_id: str
    _experiment: Experiment
    _record: RunRecord

    @property
    def record(self) -> RunRecord:
        raise NotImplementedError

    def get_file_names(self) -> list[str]:
        raise NotImplementedError

    def _fetch(self, name: str, dest: Path) -> None:
        """Copy the run's file ``name`` to ``dest``."""
        raise NotImplementedError

    def _log_where(self, name: str) -> str:
        """v1's ``logFiles`` value for the log ``name``: where to read it."""
        return name

    def _submitter(self) -> str:
        """Who submitted the run when its definition does not say."""
        return ""

    def _own_metrics(self, name: str | None) -> dict[str, Any]:
        """This run's metrics in v1's shapes (only ``name`` when given)."""
        raise NotImplementedError

    def _populate(self, value: Any) -> Any:
        """An artifact-backed metric's value read back (the JSON behind it)."""
        raise NotImplementedError

    def _wait(self, out: TextIO | None) -> RunRecord:
        """Wait for the run to end (its log streamed to ``out``); the final record."""
        raise NotImplementedError

    def _child_records(self) -> list[RunRecord]:
        """The run's children, newest first."""
        raise NotImplementedError

    def _typed(self, record: RunRecord) -> Any:
        """The run of ``record`` as its type (a sweep's parent, a pipeline run ...)."""
        raise NotImplementedError

    def complete(self, _set_status: bool = True) -> None:
        raise NotImplementedError

    def fail(
        self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True
    ) -> None:
        raise NotImplementedError

    # -- identity --------------------------------------------------------------------------
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

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
    ) -> dict[str, Any]:
        """Wait for the run to end (streaming its log with ``show_output``); a Failed run
        raises :class:`ActivityFailedException` with its error."""
        record = self._wait(follow.default_out() if show_output else None)
        if raise_on_error and record.status == rec.FAILED:
            raise ActivityFailedException(error_details={"error": record.error or {}})
        return self.get_details()

    # -- children --------------------------------------------------------------------------
    def get_children(
        self,
        recursive: bool = False,
        tags: Any = None,
        properties: Any = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> Iterator[Any]:
        """The child runs in the order they were made (with ``recursive`` each followed by
        its own), filtered by ``type``, ``status`` and ``tags``."""
        for record in reversed(self._child_records()):
            child = self._typed(record)
            if (
                (type is None or record.kind == type)
                and (status is None or record.status == status)
                and tags_match(record.tags, tags)
            ):
                yield child
            if recursive:
                yield from child.get_children(recursive=True, tags=tags, type=type, status=status)

    # -- metrics ---------------------------------------------------------------------------
    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """v1's shapes: a bare value for a name logged once, a list for one logged more
        often, ``{column: [...]}`` for tables; ``{run_id: {...}}`` with ``recursive``;
        ``populate`` reads the JSON behind artifact-backed metrics (confusion matrices ...)."""
        own = self._own_metrics(name)
        if populate:
            own = {k: self._populate(v) for k, v in own.items()}
        if not recursive:
            return own
        out = {self._run_id: own}
        for child in self.get_children(recursive=True):
            if run_type is None or child.type == run_type:
                out[child.id] = child.get_metrics(name, populate=populate)
        return out

    # -- with run: -------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.fail(error_details=f"{type(exc).__name__}: {exc}")
        else:
            self.complete()

    # -- files -----------------------------------------------------------------------------
    def _log_files(self) -> dict[str, str]:
        """v1's ``logFiles``: log name -> where to read it."""
        names = self.get_file_names()
        return {n: self._log_where(n) for n in names if n.startswith(LOG_PREFIXES)}

    def download_file(
        self,
        name: str,
        output_file_path: str | Path | None = None,
        _validate_checksum: bool = False,
    ) -> None:
        dest = Path(output_file_path) if output_file_path else Path(Path(name).name)
        if dest.is_dir():
            dest = dest / Path(name).name
        try:
            self._fetch(name, dest)
        except NotFoundError:  # the listing is read only to say what there is
            names = self.get_file_names()
            raise UserErrorException(
                f"run {self._run_id} has no file {name}; it has: {names}"
            ) from None

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | Path | None = None,
        output_paths: Sequence[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: int | None = None,
    ) -> list[str]:
        wanted = [n for n in self.get_file_names() if prefix is None or n.startswith(prefix)]
        root = Path(output_directory) if output_directory else Path.cwd()
        done = []
        for i, name in enumerate(wanted):
            rel = name if append_prefix or not prefix else name[len(prefix) :].lstrip("/")
            dest = Path(output_paths[i]) if output_paths else root / rel
            self._fetch(name, dest)
            done.append(str(dest))
        return done

    def get_all_logs(self, destination: str | Path | None = None) -> list[str]:
        """Copy the run's logs under ``destination`` (``logs``); the copies' paths."""
        root = Path(destination or "logs")
        done = []
        for name in self._log_files():
            self._fetch(name, root / name)
            done.append(str(root / name))
        return done

    def get_snapshot_id(self) -> str | None:
        return self.record.snapshot_id


def tags_match(have: Mapping[str, Any], wanted: Any) -> bool:
    """v1's tag filter: a key, keys, or ``{key: value}`` pairs that must all match."""
    if not wanted:
        return True
    if isinstance(wanted, str):
        return wanted in have
    if isinstance(wanted, Mapping):
        return all(have.get(k) == v for k, v in wanted.items())
    return all(k in have for k in wanted)

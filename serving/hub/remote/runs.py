"""Runs of a remote workspace: the client-side counterpart of
:class:`serving.runs.store.RunStore` over the server's ``/api/v1`` run routes, for the SDK
and the CLI.

Submitting sends one tar: ``job.json`` (:func:`serving.runs.submit.job_to_wire`) first,
then the source folder under ``source/`` with the same ignore rules as a local snapshot
(:func:`serving.sourcefiles.source_entries` with ``.amlignore``/``.gitignore``), written
while it is sent (:func:`serving.hub.streams.tar_stream`), so a large source folder is
never held in memory. The run then executes on the server's machine; :meth:`wait`
follows it through the log route as :func:`serving.runs.follow.wait` does a local one.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from serving.errors import IntegrityError
from serving.hub.remote.transport import HubClient, segment
from serving.hub.streams import tar_stream
from serving.runs import follow
from serving.runs.errors import ExperimentExecutionException
from serving.runs.records import RunRecord
from serving.runs.reporting import RunReporter
from serving.runs.snapshot import SNAPSHOT_IGNORE_FILES
from serving.runs.store import STD_LOG
from serving.runs.submit import ScriptJob, check_job, job_to_wire
from serving.sourcefiles import source_entries

POLL_S = 0.25
JOB_FILE = "job.json"


def _job_member(job: dict[str, Any]) -> bytes:
    """``job.json`` as the archive's first member (header, bytes, padding)."""
    data = json.dumps(job).encode("utf-8")
    info = tarfile.TarInfo(JOB_FILE)
    info.size = len(data)
    info.mode = 0o644
    pad = (-len(data)) % tarfile.BLOCKSIZE
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8") + data + b"\0" * pad


def job_archive(job: ScriptJob, wire: dict[str, Any]) -> Iterator[bytes]:
    """The submit body: ``job.json``, then the source folder under ``source/``."""
    entries, _rules = source_entries(Path(job.source_directory), SNAPSHOT_IGNORE_FILES)
    files = [
        (f"source/{e.rel}", e.path, os.access(e.path, os.X_OK)) for e in entries if not e.is_dir
    ]
    yield _job_member(wire)
    yield from tar_stream(files)


class RemoteRunStore:
    """The runs of the workspace behind ``client``."""

    def __init__(self, client: HubClient) -> None:
        self.client = client

    # -- submit ----------------------------------------------------------------------------
    def submit(
        self,
        experiment: str,
        job: ScriptJob,
        *,
        display_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """Send the job and its source; the run as recorded (it runs on the server)."""
        check_job(job)
        wire = job_to_wire(job, display_name=display_name, tags=tags)
        found = self.client.upload(
            f"/experiments/{segment(experiment)}/runs",
            job_archive(job, wire),
            "application/x-tar",
        )
        return RunRecord.from_dict(found)

    def start_run(
        self, experiment: str, *, parent_id: str | None = None, display_name: str | None = None
    ) -> RunRecord:
        """An interactive run (``start_logging``), or a child of ``parent_id``: Running."""
        body = {"parent_id": parent_id, "display_name": display_name}
        found = self.client.send("POST", f"/experiments/{segment(experiment)}/runs", body)
        return RunRecord.from_dict(found)

    def end_run(
        self, run_id: str, status: str, error: Mapping[str, Any] | None = None
    ) -> RunRecord:
        """End an interactive or child run (Completed or Failed)."""
        body = {"status": status, "error": dict(error) if error is not None else None}
        found = self.client.send("POST", f"/runs/{segment(run_id)}/status", body)
        return RunRecord.from_dict(found)

    def reporter(self, run_id: str) -> RunReporter:
        """The run's own routes with this client's token (a notebook logging into a run)."""
        return RunReporter(self.client.base_url, self.client.token or "", run_id)

    # -- reads -----------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        return RunRecord.from_dict(self.client.get(f"/runs/{segment(run_id)}"))

    find = get
    """The server reconciles runs itself."""

    def children(self, run_id: str) -> list[str]:
        return list(self.client.get(f"/runs/{segment(run_id)}")["children"])

    def list(
        self,
        *,
        experiment: str | None = None,
        parent_id: str | None = None,
        status: str | None = None,
        target: str | None = None,
        limit: int | None = None,
        oldest_first: bool = False,
        include_children: bool = False,
    ) -> list[RunRecord]:
        """Runs newest first (top-level unless ``parent_id`` or ``include_children``), as
        ``RunStore.list``."""
        items = self.client.items(
            "/runs",
            limit=min(limit or 500, 1000),
            experiment=experiment,
            parent=parent_id,
            children="true" if include_children else None,
            status=status,
            target=target,
            sort="created_at" if oldest_first else "-created_at",
        )
        out: list[RunRecord] = []
        for item in items:
            out.append(RunRecord.from_dict(item))
            if limit is not None and len(out) >= limit:
                break
        return out

    def page_url(self, run_id: str) -> str:
        """The run's page in the server's studio."""
        return f"{self.client.base_url}/studio/runs/{segment(run_id)}"

    def experiments(self) -> builtins.list[dict[str, Any]]:
        return list(self.client.get("/experiments")["items"])

    def metrics(
        self, run_id: str, name: str | None = None, max_points: int = 100_000
    ) -> dict[str, Any]:
        """The metrics route's answer: ``series`` (downsampled past ``max_points``) and
        ``values``."""
        found: dict[str, Any] = self.client.get(
            f"/runs/{segment(run_id)}/metrics", name=name, max_points=max_points
        )
        return found

    def get_metrics(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        """v1's ``get_metrics()``, shaped by the server exactly as a folder's
        (``all_values``: every name, every point, in the metrics file's order)."""
        found: dict[str, Any] = self.client.get(
            f"/runs/{segment(run_id)}/metrics", name=name, max_points=3, all_values=True
        )
        values: dict[str, Any] = found["values"]
        return values

    def log(self, run_id: str, offset: int = 0, which: str = "user") -> dict[str, Any]:
        found: dict[str, Any] = self.client.get(
            f"/runs/{segment(run_id)}/log", offset=offset, which=which
        )
        return found

    def file_names(self, run_id: str) -> builtins.list[str]:
        """The run's file names; downloads join them to a local folder, so a name that
        would leave it (absolute, ``..``) is refused, whatever server sent it."""
        found = self.client.get(f"/runs/{segment(run_id)}/files")
        names = [str(item["name"]) for item in found["items"]]
        for name in names:
            parts = name.replace("\\", "/").split("/")
            if not name or name.startswith(("/", "\\")) or ".." in parts:
                raise IntegrityError(
                    f"the workspace server listed a file {name!r} of run {run_id}, which "
                    "is not a relative path inside the run: nothing was downloaded"
                )
        return names

    def download(self, run_id: str, name: str, dest: Path) -> Path:
        """One file of the run to ``dest`` (written whole or not at all)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.client.download(f"/runs/{segment(run_id)}/file", dest, name=name)
        return dest

    # -- changes ---------------------------------------------------------------------------
    def cancel(self, run_id: str) -> RunRecord:
        return RunRecord.from_dict(self.client.send("POST", f"/runs/{segment(run_id)}/cancel"))

    def update(
        self,
        run_id: str,
        *,
        add_tags: Mapping[str, str | None] | None = None,
        remove_tags: builtins.list[str] | None = None,
        add_properties: Mapping[str, str] | None = None,
    ) -> RunRecord:
        body: dict[str, Any] = {}
        if add_tags:
            body["add_tags"] = dict(add_tags)
        if remove_tags:
            body["remove_tags"] = list(remove_tags)
        if add_properties:
            body["add_properties"] = dict(add_properties)
        return RunRecord.from_dict(self.client.send("PATCH", f"/runs/{segment(run_id)}", body))

    def upload_file(self, run_id: str, name: str, source: Path) -> builtins.list[str]:
        with source.open("rb") as fh:
            found = self.client.upload(
                f"/runs/{segment(run_id)}/files", fh, "application/octet-stream", name=name
            )
        return list(found["items"])

    def log_metrics(self, run_id: str, lines: bytes) -> int:
        """Append metric records (JSON lines of the metrics file's format)."""
        found = self.client.upload(
            f"/runs/{segment(run_id)}/metrics", io.BytesIO(lines), "application/x-ndjson"
        )
        return int(found["appended"])

    def register_model(self, run_id: str, model_name: str, **fields: Any) -> dict[str, Any]:
        """``run.register_model`` on the server (the run's files, the run as lineage)."""
        body = {"model_name": model_name, **{k: v for k, v in fields.items() if v is not None}}
        found: dict[str, Any] = self.client.send("POST", f"/runs/{segment(run_id)}/register", body)
        return found

    # -- following -------------------------------------------------------------------------
    def wait(
        self,
        run_id: str,
        *,
        out: TextIO | None = None,
        timeout_s: float | None = None,
        on_poll: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Block until the run ends; with ``out``, stream its log there in v1's format
        (:func:`serving.runs.follow.wait`'s, through the log route)."""
        record = self.get(run_id)
        if out is not None:
            out.write(f"RunId: {run_id}\nWeb View: {self.page_url(run_id)}\n\n")
            out.write(f"Streaming {STD_LOG}\n{'=' * (10 + len(STD_LOG))}\n\n")
            out.flush()
        offset = 0
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            while True:
                if out is not None:
                    offset = self._emit(run_id, offset, out)
                if on_poll is not None:
                    on_poll(record)
                if record.terminal or (deadline is not None and time.monotonic() > deadline):
                    break
                time.sleep(POLL_S)
                record = self.get(run_id)
            if out is not None and record.terminal:
                self._emit(run_id, offset, out)
                out.write(follow.summary(record))
                out.flush()
        except KeyboardInterrupt:
            raise ExperimentExecutionException(
                f"stopped waiting for run {run_id}; it goes on running",
                hint=f"follow it again with 'serving runs logs {run_id} --follow'",
            ) from None
        return record

    def read_log(self, run_id: str, offset: int = 0, which: str = "user") -> tuple[str, int]:
        """The log from ``offset`` to its current end (the route answers 1 MiB at most):
        (text, the offset to go on from)."""
        parts = []
        while True:
            part = self.log(run_id, offset, which)
            parts.append(str(part["text"]))
            if part["next_offset"] >= part["size"] or part["next_offset"] == offset:
                return "".join(parts), int(part["next_offset"])
            offset = int(part["next_offset"])

    def _emit(self, run_id: str, offset: int, out: TextIO) -> int:
        """Write the log from ``offset`` to its current end; the new offset."""
        text, offset = self.read_log(run_id, offset)
        if text:
            out.write(text)
            out.flush()
        return offset

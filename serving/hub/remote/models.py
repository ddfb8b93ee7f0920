"""Models of a remote workspace: :class:`RemoteModels` has the methods of
:class:`serving.registry.ModelRegistry` that the CLI and SDK call (register, list, get,
update, delete, download, endpoints_using), with the same arguments, records and errors,
over the server's ``/models`` routes.

A folder is sent as a tar built in a private temporary file from exactly the files a
local registration would store (:func:`serving.registry.models.collect_files`: links
inside are sent as their targets, links outside refused with the same message, workspaces
left out), so a folder registers the same way locally and through a server. A download
is checked against the record's SHA-256 of every file and renamed into place only when
complete (:func:`copy_file_atomic` / :func:`copy_tree_atomic`, as the local download).
"""

from __future__ import annotations

import builtins
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from serving.errors import ConflictError, IntegrityError, ServingError, UserInputError
from serving.hub import streams
from serving.hub.remote.transport import CHUNK, HubClient, segment
from serving.registry import ModelFile, ModelRecord, Ref
from serving.registry.artifacts import copy_file_atomic, copy_tree_atomic, sha256_file
from serving.registry.models import ProgressFn, collect_files
from serving.registry.names import check_model_name


def model_record(data: Mapping[str, Any]) -> ModelRecord:
    """A :class:`ModelRecord` from the server's JSON (``id`` is 0: the server's row ids
    are not sent; ``executable`` bits travel in downloads, not in records)."""
    return ModelRecord(
        id=0,
        name=str(data["name"]),
        version=int(data["version"]),
        kind=str(data["kind"]),
        root_name=str(data["path"]),
        framework=str(data["framework"]),
        framework_version=data.get("framework_version"),
        description=data.get("description"),
        run_id=data.get("run_id"),
        tags=dict(data.get("tags") or {}),
        properties=dict(data.get("properties") or {}),
        size_bytes=int(data["size_bytes"]),
        created_at=str(data["created_at"]),
        files=tuple(
            ModelFile(str(f["path"]), str(f["sha256"]), int(f["size_bytes"]))
            for f in data.get("files") or ()
        ),
    )


def _where(ref: Ref) -> str:
    version = "latest" if ref.version is None else str(ref.version)
    return f"/models/{segment(ref.name)}/{version}"


class _Reader:
    """A file read in chunks for an upload, reporting progress; its length gives
    requests the Content-Length (the server refuses a body shorter than that)."""

    def __init__(self, fh: IO[bytes], total: int, progress: ProgressFn | None) -> None:
        self.fh, self.total, self.done, self.progress = fh, total, 0, progress

    def __len__(self) -> int:
        return self.total

    def read(self, size: int = -1) -> bytes:
        chunk = self.fh.read(CHUNK if size is None or size < 0 else size)
        self.done += len(chunk)
        if self.progress is not None and chunk:
            self.progress(self.done, self.total)
        return chunk


def _write_tar(entries: Iterable[tuple[str, Path]], archive: Path) -> None:
    """The folder's files (links already resolved to their targets) as a plain tar."""
    with tarfile.open(archive, "w", dereference=True) as tar:
        for rel, src in entries:
            tar.add(src, arcname=rel, recursive=False)


def _verify(record: ModelRecord, root: Path) -> None:
    """Every file of ``record`` under ``root`` (a folder model) or at ``root`` (a file),
    with its recorded hash; nothing else."""
    if record.kind == "file":
        found = {record.files[0].relpath: root}
    else:
        found = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    for f in record.files:
        path = found.pop(f.relpath, None)
        if path is None or sha256_file(path) != f.sha256:
            raise IntegrityError(
                f"'{f.relpath}' of model {record.ref} arrived {'damaged' if path else 'missing'}"
                " from the workspace server",
                hint="download it again",
            )
    if found:
        extra = sorted(found)[0]
        raise IntegrityError(f"the server sent '{extra}', which model {record.ref} does not hold")


class RemoteModels:
    """The model registry of the workspace behind ``client``."""

    def __init__(self, client: HubClient) -> None:
        self.client = client

    # -- writing ---------------------------------------------------------------------
    def register(
        self,
        path: Path,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        description: str | None = None,
        framework: str | None = None,
        framework_version: str | None = None,
        run_id: str | None = None,
        progress: ProgressFn | None = None,
    ) -> ModelRecord:
        """Upload ``path`` (a file, or a folder as a tar) as the next version of ``name``."""
        check_model_name(name)
        path = Path(path)
        entries = collect_files(path)
        params: dict[str, Any] = {
            "filename": path.resolve().name,
            "tag": [f"{k}={v}" for k, v in (tags or {}).items()],
            "property": [f"{k}={v}" for k, v in (properties or {}).items()],
            "description": description,
            "framework": framework,
            "framework_version": framework_version,
            "run_id": run_id,
        }
        with tempfile.TemporaryDirectory(prefix="serving-upload-") as tmp:
            if path.is_file():
                sent, content_type = path, "application/octet-stream"
            else:
                sent, content_type = Path(tmp) / "model.tar", "application/x-tar"
                _write_tar(entries, sent)
            with sent.open("rb") as fh:
                body = _Reader(fh, sent.stat().st_size, progress)
                data = self.client.upload(f"/models/{segment(name)}", body, content_type, **params)
        return model_record(data)

    def update(
        self,
        ref: Ref,
        *,
        add_tags: Mapping[str, str] | None = None,
        remove_tags: Iterable[str] = (),
        add_properties: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> ModelRecord:
        body: dict[str, Any] = {
            "add_tags": dict(add_tags or {}),
            "remove_tags": list(remove_tags),
            "add_properties": dict(add_properties or {}),
        }
        if description is not None:
            body["description"] = description
        return model_record(self.client.send("PATCH", _where(ref), body))

    def delete(self, ref: Ref, *, force: bool = False) -> ModelRecord:
        if ref.version is None:
            raise UserInputError(f"say which version of {ref.name} to delete (NAME:VERSION)")
        return model_record(self.client.send("DELETE", _where(ref), force=force or None))

    # -- reading ---------------------------------------------------------------------
    def get(self, ref: Ref) -> ModelRecord:
        return model_record(self.client.get(_where(ref)))

    def list(
        self,
        *,
        name: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        latest: bool = False,
        run_id: str | None = None,
    ) -> builtins.list[ModelRecord]:
        """Models filtered by name, tags (value None: key present) and run, newest first."""
        wanted = [k if v is None else f"{k}={v}" for k, v in (tags or {}).items()]
        found = self.client.items(
            "/models", name=name, tag=wanted, latest=latest or None, run_id=run_id
        )
        return [model_record(item) for item in found]

    def endpoints_using(self, record: ModelRecord) -> builtins.list[str]:
        shown = self.client.get(_where(Ref(record.name, record.version)))
        return [str(name) for name in shown.get("endpoints") or ()]

    def download(
        self, ref: Ref, target_dir: Path, *, exist_ok: bool = False, durable: bool = True
    ) -> Path:
        """Write the model as ``target_dir/<registered basename>``, verifying every hash;
        complete or absent (``durable`` is accepted for the local signature)."""
        record = self.get(ref)
        dest = Path(target_dir) / record.root_name
        if dest.exists():
            if exist_ok:
                return dest
            raise ConflictError(f"{dest} already exists", hint="choose an empty target folder")
        where = f"{_where(Ref(record.name, record.version))}/download"
        if record.kind == "file":

            def build_file(staging: Path) -> None:
                self.client.download(where, staging)
                _verify(record, staging)

            copy_file_atomic(build_file, dest)
            return dest

        def build(staging: Path) -> None:
            archive = staging / ".download.tar"
            self.client.download(where, archive)
            unpacked = staging / ".unpacked"
            unpacked.mkdir()
            try:  # the same member checks as an upload; no more bytes than recorded
                streams.unpack_tar(archive, unpacked, max(record.size_bytes, 1))
            except ServingError as exc:
                raise IntegrityError(
                    f"the server's archive of model {record.ref} was refused: {exc.message}"
                ) from None
            archive.unlink()
            for child in _children(unpacked / record.root_name):
                child.rename(staging / child.name)
            shutil.rmtree(unpacked)
            _verify(record, staging)

        copy_tree_atomic(build, dest)
        return dest


def _children(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        raise IntegrityError(f"the server's archive has no folder {folder.name!r}")
    yield from list(folder.iterdir())

"""The model registry: versioned, hashed, atomically registered model files."""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.registry import rows
from serving.registry.artifacts import ArtifactStore, copy_file_atomic, copy_tree_atomic
from serving.registry.db import Database, next_version, versioned_row
from serving.registry.frameworks import FRAMEWORKS, detect
from serving.registry.names import Ref, check_model_name, latest_only
from serving.sourcefiles import model_entries

ProgressFn = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while files are copied."""


@dataclass(frozen=True)
class ModelFile:
    relpath: str
    sha256: str
    size_bytes: int
    executable: bool = False


@dataclass(frozen=True)
class ModelRecord(rows.VersionedRecord):
    """One registered model version."""

    kind: str
    root_name: str
    framework: str
    framework_version: str | None
    description: str | None
    run_id: str | None
    tags: dict[str, str]
    properties: dict[str, str]
    size_bytes: int
    created_at: str
    files: tuple[ModelFile, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return self.columns(rename={"root_name": "path"}) | {
            "files": [
                {"path": f.relpath, "sha256": f.sha256, "size_bytes": f.size_bytes}
                for f in self.files
            ],
        }


def _pause_for_tests() -> None:
    """Sleep ``SERVING_TEST_PAUSE_BEFORE_RECORD`` seconds between storing a model's blobs
    and recording its rows: lets tests race ``gc``/``delete`` against a registration."""
    seconds = os.environ.get("SERVING_TEST_PAUSE_BEFORE_RECORD")
    if seconds:
        time.sleep(float(seconds))


def _insert(conn: sqlite3.Connection, values: dict[str, Any], files: list[ModelFile]) -> None:
    """The rows of one model version: ``values`` are its columns up to ``properties``."""
    size = sum(f.size_bytes for f in files)
    model_id = rows.insert_row(
        conn, "models", values | {"size_bytes": size, "created_at": rows.now_text()}
    )
    conn.executemany(
        "INSERT INTO model_files (model_id, relpath, sha256, size_bytes, executable) "
        "VALUES (?, ?, ?, ?, ?)",
        [(model_id, f.relpath, f.sha256, f.size_bytes, int(f.executable)) for f in files],
    )


def collect_files(path: Path) -> list[tuple[str, Path]]:
    """(name in the model, file) of everything registering ``path`` stores; a workspace
    server's client sends exactly these (:mod:`serving.hub.remote.models`)."""
    if not path.exists():
        raise UserInputError(f"model path {path} does not exist")
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise UserInputError(f"model path {path} is neither a file nor a folder")
    # Symbolic links inside the folder are registered as their targets; links pointing
    # outside, broken links and loops are refused; workspaces in it are left out.
    files = sorted((e.rel, e.path) for e in model_entries(path) if not e.is_dir)
    if not files:
        raise UserInputError(f"model folder {path} is empty: there is nothing to register")
    return files


class ModelRegistry:
    """Models in one workspace."""

    def __init__(self, db: Database, store: ArtifactStore) -> None:
        self.db = db
        self.store = store

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
        """Copy ``path`` into the store, then record it as version max+1 of ``name``.

        Files are stored first (each blob complete or absent); the rows are written in one
        transaction afterwards, so a kill at any moment leaves no partial version.
        """
        check_model_name(name)
        if framework is not None and framework not in FRAMEWORKS:
            raise UserInputError(
                f"unknown framework {framework!r}: use one of {', '.join(FRAMEWORKS)}"
            )
        path = Path(path)
        entries = collect_files(path)
        if framework is None:
            found = detect(path)
            framework = found.framework
            framework_version = framework_version or found.version
        columns = {
            "kind": "file" if path.is_file() else "dir",
            "root_name": path.resolve().name,
            "framework": framework,
            "framework_version": framework_version,
            "description": description,
            "run_id": run_id,
            "tags": rows.json_column(dict(tags or {})),
            "properties": rows.json_column(dict(properties or {})),
        }
        # the store's lock, shared, keeps gc and delete from removing the blobs written
        # here before the rows below reference them (see serving.registry.artifacts)
        with self.store.writing():
            files = self._store_files(entries, progress)
            self.store.sync(f.sha256 for f in files)
            _pause_for_tests()
            with self.db.write() as conn:
                version = next_version(conn, "models", name)
                _insert(conn, {"name": name, "version": version, **columns}, files)
        return self.get(Ref(name, version))

    def _store_files(
        self, entries: builtins.list[tuple[str, Path]], progress: ProgressFn | None
    ) -> builtins.list[ModelFile]:
        total = sum(p.stat().st_size for _, p in entries)
        self.store.clean_partial()
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total)

        return [
            ModelFile(
                rel, self.store.put_file(src, advance), src.stat().st_size, os.access(src, os.X_OK)
            )
            for rel, src in entries
        ]

    def update(
        self,
        ref: Ref,
        *,
        add_tags: Mapping[str, str] | None = None,
        remove_tags: Iterable[str] = (),
        add_properties: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> ModelRecord:
        """Change tags and description; properties can only be added (as in Azure ML)."""
        record = self.get(ref)
        tags = dict(record.tags)
        for key in remove_tags:
            if key not in tags:
                raise UserInputError(f"model {record.ref} has no tag {key!r} to remove")
            del tags[key]
        tags.update(add_tags or {})
        props = dict(record.properties)
        for key, value in (add_properties or {}).items():
            if key in props and props[key] != value:
                raise ConflictError(
                    f"property {key!r} of {record.ref} is already set; properties can only be "
                    "added, not changed",
                    hint="use a tag for values that change",
                )
            props[key] = value
        with self.db.write() as conn:
            conn.execute(
                "UPDATE models SET tags = ?, properties = ?, description = ? WHERE id = ?",
                (
                    rows.json_column(tags),
                    rows.json_column(props),
                    record.description if description is None else description,
                    record.id,
                ),
            )
        return self.get(Ref(record.name, record.version))

    def delete(self, ref: Ref, *, force: bool = False) -> ModelRecord:
        """Delete one version; refused while an endpoint uses it unless ``force``."""
        if ref.version is None:
            raise UserInputError(f"say which version of {ref.name} to delete (NAME:VERSION)")
        with self.store.collecting():  # no registration is between blobs and rows
            record = self.get(ref)
            with self.db.write() as conn:
                users = [
                    r[0]
                    for r in conn.execute(
                        "SELECT e.name FROM endpoint_models em JOIN endpoints e "
                        "ON e.id = em.endpoint_id WHERE em.model_id = ? ORDER BY e.name",
                        (record.id,),
                    )
                ]
                if users and not force:
                    raise ConflictError(
                        f"model {record.ref} is used by endpoint(s) {', '.join(users)}",
                        hint="delete or update those endpoints first, or pass --force",
                    )
                conn.execute("DELETE FROM endpoint_models WHERE model_id = ?", (record.id,))
                conn.execute("DELETE FROM models WHERE id = ?", (record.id,))
                placeholders = ",".join("?" * len(record.files))
                still_used = {
                    r[0]
                    for r in conn.execute(
                        f"SELECT DISTINCT sha256 FROM model_files WHERE sha256 IN ({placeholders})",
                        [f.sha256 for f in record.files],
                    )
                }
            for f in record.files:
                if f.sha256 not in still_used:
                    self.store.remove(f.sha256)
            return record

    # -- reading ---------------------------------------------------------------------
    def get(self, ref: Ref) -> ModelRecord:
        with self.db.read() as conn:
            row = versioned_row(conn, "models", ref.name, ref.version)
            if row is None:
                raise NotFoundError(f"model {ref} not found", hint="see 'serving models list'")
            return self._record(conn, row)

    def list(
        self,
        *,
        name: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        latest: bool = False,
        run_id: str | None = None,
    ) -> builtins.list[ModelRecord]:
        """Models filtered by name, tags (value None: key present) and run, newest first."""
        with self.db.read() as conn:
            records = [
                self._record(conn, row)
                for row in rows.select_rows(conn, "models", name=name, run_id=run_id)
            ]
        if tags:
            records = [
                r
                for r in records
                if all(k in r.tags and (v is None or r.tags[k] == v) for k, v in tags.items())
            ]
        if latest:
            records = latest_only(records)
        return records

    def endpoints_using(self, record: ModelRecord) -> builtins.list[str]:
        with self.db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT e.name FROM endpoint_models em JOIN endpoints e "
                    "ON e.id = em.endpoint_id WHERE em.model_id = ?",
                    (record.id,),
                )
            ]

    def download(
        self, ref: Ref, target_dir: Path, *, exist_ok: bool = False, durable: bool = True
    ) -> Path:
        """Write the model as ``target_dir/<registered basename>``, verifying every hash.

        The copy is built aside and renamed into place: a corrupt artifact, or a download
        killed midway, leaves nothing at ``dest`` (its temporary sibling is removed by the
        next download there). ``durable=False`` skips the fsync of every file, for copies
        into a folder that is thrown away after use (a build context).
        """
        record = self.get(ref)
        dest = Path(target_dir) / record.root_name
        if dest.exists():
            if exist_ok:
                return dest
            raise ConflictError(f"{dest} already exists", hint="choose an empty target folder")

        def build(staging: Path) -> None:
            for f in record.files:
                out = staging / f.relpath
                out.parent.mkdir(parents=True, exist_ok=True)
                self.store.copy_out(
                    f.sha256,
                    out,
                    f"'{f.relpath}' of model {record.ref}",
                    f.executable,
                    durable=durable,
                )

        def build_file(staging: Path) -> None:
            f = record.files[0]
            self.store.copy_out(
                f.sha256,
                staging,
                f"'{f.relpath}' of model {record.ref}",
                f.executable,
                durable=durable,
            )

        if record.kind == "dir":
            copy_tree_atomic(build, dest)
        else:
            copy_file_atomic(build_file, dest)
        return dest

    def _record(self, conn: sqlite3.Connection, row: sqlite3.Row) -> ModelRecord:
        files = tuple(
            ModelFile(r["relpath"], r["sha256"], r["size_bytes"], bool(r["executable"]))
            for r in conn.execute(
                "SELECT * FROM model_files WHERE model_id = ? ORDER BY relpath", (row["id"],)
            )
        )
        decode = {"tags": json.loads, "properties": json.loads}
        return rows.from_row(ModelRecord, row, decode, files=files)

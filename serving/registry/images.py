"""Built model images: which Docker image was built from which models, script and environment.

A record is written only after the image was built and its smoke check passed, so a failed
build leaves nothing here. ``name`` is the image repository (``serving/digits-svc``), versions
count up per name; ``tag`` is the Docker tag given to the image (``name:version`` unless the
user chose a label).
"""

from __future__ import annotations

import builtins
import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from serving.errors import NotFoundError, UserInputError
from serving.registry import rows
from serving.registry.db import next_version as next_row_version

_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$")
_LABEL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_repository(name: str) -> str:
    """A Docker repository name: lowercase components separated by '/'."""
    if len(name) > 200 or not _REPOSITORY.fullmatch(name):
        raise UserInputError(
            f"invalid image name {name!r}: use lowercase letters, digits, '.', '_', '-' "
            "and '/' between parts (e.g. serving/digits)"
        )
    return name


def parse_image_tag(text: str) -> tuple[str, str | None]:
    """``name[:label]`` into (repository, label or None), both validated."""
    name, sep, label = text.rpartition(":")
    if not sep or "/" in label:
        return check_repository(text), None
    check_repository(name)
    if not _LABEL.fullmatch(label):
        raise UserInputError(f"invalid image label {label!r} in {text!r}")
    return name, label


@dataclass(frozen=True)
class ImageRecord(rows.VersionedRecord):
    """One built model image."""

    tag: str
    image_id: str
    models: tuple[str, ...]
    entry_script: str
    env_hash: str
    python: str
    flavour: str
    base_image: str
    size_bytes: int
    labels: dict[str, str]
    created_at: str
    build_key: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        shown = self.columns(skip=("build_key", "extra"))
        return shown | {"models": list(self.models), "labels": dict(self.labels), **self.extra}


class ImageRegistry(rows.Table):
    """Model images recorded in one workspace."""

    def record(
        self,
        name: str,
        *,
        tag: str | None,
        image_id: str,
        build_key: str,
        env_hash: str,
        python: str,
        flavour: str,
        base_image: str,
        size_bytes: int,
        models: Sequence[str],
        entry_script: str,
        labels: Mapping[str, str],
        extra: Mapping[str, Any] | None = None,
    ) -> ImageRecord:
        """Record a built image as version max+1 of ``name``; ``tag`` None means
        ``name:version``."""
        check_repository(name)
        with self.db.write() as conn:
            version = next_row_version(conn, "images", name)
            values = {
                "name": name,
                "version": version,
                "tag": tag or f"{name}:{version}",
                "image_id": image_id,
                "build_key": build_key,
                "env_hash": env_hash,
                "python": python,
                "flavour": flavour,
                "base_image": base_image,
                "size_bytes": size_bytes,
                "models": rows.json_column(list(models)),
                "entry_script": entry_script,
                "labels": rows.json_column(dict(labels)),
                "extra": rows.json_column(dict(extra or {})),
                "created_at": rows.now_text(),
            }
            rows.insert_row(conn, "images", values)
        return self.get(f"{name}:{version}")

    def next_version(self, name: str) -> int:
        """The version the next image recorded under ``name`` will get."""
        with self.db.read() as conn:
            return next_row_version(conn, "images", name)

    def get(self, ref: str) -> ImageRecord:
        """By ``name:version``, ``name`` (latest), or the Docker tag it was given."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM images WHERE tag = ? ORDER BY id DESC LIMIT 1", (ref,)
            ).fetchone()
            name, _, version = ref.rpartition(":")
            if row is None and version.isdigit():
                row = conn.execute(
                    "SELECT * FROM images WHERE name = ? AND version = ?", (name, int(version))
                ).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT * FROM images WHERE name = ? ORDER BY version DESC LIMIT 1", (ref,)
                ).fetchone()
        if row is None:
            raise NotFoundError(f"image {ref} not found", hint="see 'serving images list'")
        return self._record(row)

    def find_build(self, name: str, build_key: str) -> ImageRecord | None:
        """The newest image of ``name`` built from exactly these inputs, if any."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM images WHERE name = ? AND build_key = ? ORDER BY version DESC "
                "LIMIT 1",
                (name, build_key),
            ).fetchone()
        return None if row is None else self._record(row)

    def list(self, *, name: str | None = None) -> builtins.list[ImageRecord]:
        with self.db.read() as conn:
            return [self._record(r) for r in rows.select_rows(conn, "images", name=name)]

    def delete(self, record: ImageRecord) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM images WHERE id = ?", (record.id,))

    @staticmethod
    def _record(row: sqlite3.Row) -> ImageRecord:
        return rows.from_row(
            ImageRecord,
            row,
            {
                "models": lambda text: tuple(json.loads(text)),
                "labels": json.loads,
                "extra": json.loads,
            },
        )

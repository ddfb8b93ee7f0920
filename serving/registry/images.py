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
from datetime import UTC, datetime
from typing import Any

from serving.errors import NotFoundError, UserInputError
from serving.registry.db import Database
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
class ImageRecord:
    """One built model image."""

    id: int
    name: str
    version: int
    tag: str
    image_id: str
    build_key: str
    env_hash: str
    python: str
    flavour: str
    base_image: str
    size_bytes: int
    models: tuple[str, ...]
    entry_script: str
    labels: dict[str, str]
    created_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.ref,
            "name": self.name,
            "version": self.version,
            "tag": self.tag,
            "image_id": self.image_id,
            "models": list(self.models),
            "entry_script": self.entry_script,
            "env_hash": self.env_hash,
            "python": self.python,
            "flavour": self.flavour,
            "base_image": self.base_image,
            "size_bytes": self.size_bytes,
            "labels": dict(self.labels),
            "created_at": self.created_at,
            **self.extra,
        }


class ImageRegistry:
    """Model images recorded in one workspace."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
            conn.execute(
                "INSERT INTO images (name, version, tag, image_id, build_key, env_hash, python, "
                "flavour, base_image, size_bytes, models, entry_script, labels, extra, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    version,
                    tag or f"{name}:{version}",
                    image_id,
                    build_key,
                    env_hash,
                    python,
                    flavour,
                    base_image,
                    size_bytes,
                    json.dumps(list(models)),
                    entry_script,
                    json.dumps(dict(labels), sort_keys=True),
                    json.dumps(dict(extra or {}), sort_keys=True),
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
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
        query = "SELECT * FROM images"
        args: list[Any] = []
        if name is not None:
            query += " WHERE name = ?"
            args.append(name)
        query += " ORDER BY name, version DESC"
        with self.db.read() as conn:
            return [self._record(r) for r in conn.execute(query, args)]

    def delete(self, record: ImageRecord) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM images WHERE id = ?", (record.id,))

    @staticmethod
    def _record(row: sqlite3.Row) -> ImageRecord:
        return ImageRecord(
            id=row["id"],
            name=row["name"],
            version=row["version"],
            tag=row["tag"],
            image_id=row["image_id"],
            build_key=row["build_key"],
            env_hash=row["env_hash"],
            python=row["python"],
            flavour=row["flavour"],
            base_image=row["base_image"],
            size_bytes=row["size_bytes"],
            models=tuple(json.loads(row["models"])),
            entry_script=row["entry_script"],
            labels=json.loads(row["labels"]),
            created_at=row["created_at"],
            extra=json.loads(row["extra"]),
        )

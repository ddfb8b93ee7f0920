"""Snapshots of a run's source folder: what is copied, its content id, the size warning.

The rules are the platform's source-folder rules (:mod:`serving.sourcefiles`: workspaces,
``.git``, ``__pycache__`` left out, links resolved inside the folder) with Azure's ignore
files: ``.amlignore`` when present, else ``.gitignore``. The snapshot id is a sha256 over
the sorted relative names and bytes of the files, so equal sources give equal ids.
Azure refused snapshots past 300 MB or 2000 files; here that is a warning.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from serving.sourcefiles import copy_entries, source_entries

SNAPSHOT_IGNORE_FILES = (".amlignore", ".gitignore")
MAX_BYTES = 300 * 2**20
MAX_FILES = 2000


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    files: int
    size_bytes: int
    ignore_file: str | None
    warnings: list[str] = field(default_factory=list)


def take_snapshot(source: str | Path, dest: Path) -> Snapshot:
    """Copy the source folder's files into ``dest`` (must not exist) and hash them."""
    entries, rules = source_entries(Path(source), SNAPSHOT_IGNORE_FILES)
    files = [e for e in entries if not e.is_dir]
    digest = hashlib.sha256()
    size = 0
    for entry in sorted(files, key=lambda e: e.rel):
        digest.update(entry.rel.encode() + b"\0")
        with entry.path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
                size += len(block)
        digest.update(b"\0")
    dest.parent.mkdir(parents=True, exist_ok=True)
    copy_entries(entries, dest)
    notes = []
    if size > MAX_BYTES or len(files) > MAX_FILES:
        notes.append(
            f"the snapshot of {source} holds {len(files)} files, {size / 2**20:.1f} MB: past "
            f"Azure's limit of {MAX_BYTES // 2**20} MB / {MAX_FILES} files; list what the run "
            "does not need in .amlignore"
        )
    return Snapshot(digest.hexdigest(), len(files), size, rules.file, notes)


def working_copy(snapshot: Path, work: Path) -> None:
    """The folder a run executes in: a copy of the snapshot (hard links where possible
    would let a script change the snapshot, so files are copied)."""
    entries, _rules = source_entries(snapshot, ())
    copy_entries(entries, work)
    os.chmod(work, 0o755)

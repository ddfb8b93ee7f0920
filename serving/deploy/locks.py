"""The per-endpoint lock: every command that changes an endpoint (deploy, update, scale,
keys, delete) holds it, on every target, so two of them never interleave; a second one
waits for the first and then sees what it left.

The lock file is ``<workspace>/locks/endpoint-<name>.lock``, outside the endpoint's folder
(which ``delete`` removes) and left in place (removing lock files races). ``try_lock`` is
for readers that would rather skip work than wait (``endpoints show`` reconciling state).
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from serving.proc import Progress, file_lock
from serving.workspace import Workspace

LOCKS_FOLDER = "locks"


def endpoint_lock_path(ws: Workspace, name: str) -> Path:
    return ws.path / LOCKS_FOLDER / f"endpoint-{name}.lock"


def endpoint_command(
    ws: Workspace, name: str, progress: Progress | None = None
) -> AbstractContextManager[None]:
    """Hold endpoint ``name``'s lock, waiting (and saying so) while another command has it."""
    return file_lock(
        endpoint_lock_path(ws, name),
        progress,
        f"waiting for another command on endpoint {name} to finish",
    )


@contextmanager
def try_lock(path: Path, *, wait_s: float = 0.0) -> Iterator[bool]:
    """Hold the lock at ``path`` if it can be had within ``wait_s``; yields whether it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

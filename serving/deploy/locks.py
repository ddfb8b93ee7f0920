"""The per-endpoint lock: every command that changes an endpoint (deploy, update, scale,
keys, delete) holds it, on every target, so two of them never interleave; a second one
waits for the first and then sees what it left.

The lock file is ``<workspace>/locks/endpoint-<name>.lock``, outside the endpoint's folder
(which ``delete`` removes) and left in place (removing lock files races). Readers that
would rather skip work than wait (``endpoints show`` reconciling state) take it with
``file_lock(endpoint_lock_path(...), wait_s=...)``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from serving.proc import Progress, file_lock
from serving.workspace import Workspace

LOCKS_FOLDER = "locks"


def endpoint_lock_path(ws: Workspace, name: str) -> Path:
    return ws.path / LOCKS_FOLDER / f"endpoint-{name}.lock"


def endpoint_command(
    ws: Workspace, name: str, progress: Progress | None = None
) -> AbstractContextManager[bool]:
    """Hold endpoint ``name``'s lock, waiting (and saying so) while another command has it."""
    return file_lock(
        endpoint_lock_path(ws, name),
        progress,
        f"waiting for another command on endpoint {name} to finish",
    )

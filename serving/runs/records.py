"""What a run is: its statuses (Azure ML v1's names), its id and its record.

Import-light on purpose (standard library only): the code inside a training script
imports it, in environments that hold only the user's packages.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

NOT_STARTED = "NotStarted"
QUEUED = "Queued"
PREPARING = "Preparing"
RUNNING = "Running"
FINALIZING = "Finalizing"
CANCEL_REQUESTED = "CancelRequested"
COMPLETED = "Completed"
FAILED = "Failed"
CANCELED = "Canceled"

STATUSES = (
    NOT_STARTED,
    QUEUED,
    PREPARING,
    RUNNING,
    FINALIZING,
    CANCEL_REQUESTED,
    COMPLETED,
    FAILED,
    CANCELED,
)
"""Every status, in lifecycle order (what ``--status`` and ``?status=`` accept)."""
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})
ACTIVE = frozenset({QUEUED, PREPARING, RUNNING, FINALIZING, CANCEL_REQUESTED})

EXPERIMENT_NAME = re.compile(r"^[a-zA-Z0-9][\w\-]{0,254}$")
"""Azure v1's experiment-name rule."""

SCRIPT = "azureml.scriptrun"
INTERACTIVE = "interactive"
CHILD = "child"


def check_experiment_name(name: str) -> str:
    if not isinstance(name, str) or not EXPERIMENT_NAME.match(name):
        from serving.errors import UserInputError

        raise UserInputError(
            f"experiment name {name!r} is not valid: it must start with a letter or digit and "
            "hold only letters, digits, '_' and '-', at most 255 characters"
        )
    return name


def new_run_id(experiment: str) -> str:
    """``<experiment>_<unix seconds>_<8 hex>``, as Azure v1's script runs."""
    return f"{experiment}_{int(time.time())}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RunRecord:
    """One row of the ``runs`` table, with its experiment's name."""

    id: str
    experiment: str
    number: int
    parent_id: str | None
    kind: str
    status: str
    target: str
    display_name: str | None
    definition: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    snapshot_id: str | None = None
    supervisor: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    created_at: str = ""
    started_at: str | None = None
    ended_at: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """A record from :meth:`to_dict`'s shape (a workspace server's answer); fields
        it lacks take their defaults."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment": self.experiment,
            "number": self.number,
            "parent_id": self.parent_id,
            "kind": self.kind,
            "status": self.status,
            "target": self.target,
            "display_name": self.display_name,
            "tags": self.tags,
            "properties": self.properties,
            "snapshot_id": self.snapshot_id,
            "error": self.error,
            "warnings": self.warnings,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "definition": self.definition,
        }

"""What the detached processes that own a run share (the script run's supervisor, the sweep
and pipeline drivers): their command line ``python -m MODULE WORKSPACE RUN_ID``, their
timestamped log lines, and the exception a cancel (SIGTERM) becomes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from serving.registry.db import Database
from serving.runs.store import RunStore
from serving.sourcefiles import WORKSPACE_DB


class Canceled(Exception):
    """SIGTERM arrived: the run is being canceled."""


class Owner(Protocol):
    def run(self) -> int: ...


def stamp() -> str:
    """The time at the start of an owner's log line: UTC, to the hundredth of a second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4]


def say(message: str) -> None:
    """One timestamped line of the owner's log (its stdout is the log file)."""
    print(f"{stamp()} {message}", flush=True)


def owner_main(
    argv: Sequence[str] | None, module: str, owner: Callable[[RunStore, str], Owner]
) -> int:
    """``python -m MODULE WORKSPACE RUN_ID``: open the workspace's runs, run the owner."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(f"usage: python -m {module} WORKSPACE RUN_ID", file=sys.stderr)
        return 2
    root = Path(args[0])
    return owner(RunStore(root, Database(root / WORKSPACE_DB)), args[1]).run()

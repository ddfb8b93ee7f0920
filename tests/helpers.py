"""Helpers shared by tests (import as ``tests.helpers``)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def cli_env(ws_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SERVING_WORKSPACE"] = str(ws_path)
    return env


def serving_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "serving", *args]

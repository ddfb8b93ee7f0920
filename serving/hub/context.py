"""What every route reaches: the workspace and the stores over it, kept on the app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from serving.hub.tokens import TokenStore
from serving.runs.store import RunStore
from serving.workspace import Workspace

KEY = "serving.hub"


@dataclass(frozen=True)
class Hub:
    """The workspace a server serves, with its run store and token store."""

    ws: Workspace
    runs: RunStore
    tokens: TokenStore

    @classmethod
    def of(cls, ws: Workspace) -> Hub:
        return cls(ws, RunStore(ws.path, ws.db), TokenStore(ws.db))


def hub() -> Hub:
    found: Hub = current_app.extensions[KEY]
    return found

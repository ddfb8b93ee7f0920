"""What gunicorn loads in each worker: ``serving.hub.wsgi:app_from_env()``.

The workspace comes from ``SERVING_WORKSPACE`` (set by ``serving server start``); it must
exist, the server never creates one. Upload folders of a killed earlier server are removed
here, once per worker start (only those whose process is gone).
"""

from __future__ import annotations

from flask import Flask

from serving.config import PlatformSettings
from serving.errors import UserInputError
from serving.hub.app import create_app
from serving.hub.streams import clean_stale_uploads
from serving.workspace import Workspace


def app_from_env() -> Flask:
    path = PlatformSettings.from_env().workspace
    if path is None:
        raise UserInputError("SERVING_WORKSPACE is not set: the server needs a workspace")
    ws = Workspace.open(path)
    clean_stale_uploads(ws.path)
    return create_app(ws)

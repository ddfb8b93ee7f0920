"""A workspace behind a server: what the CLI and SDK use when the workspace is a URL.

:class:`RemoteWorkspace` has the registries a folder :class:`~serving.workspace.Workspace`
has (``models``, ``environments``, ``images``, ``endpoints``, ``runs``) with the same
methods, records and errors, over HTTP (:mod:`.transport`). It has no ``path``: commands
that need the workspace folder (deploy, image builds, ``workspace gc``) refuse a server in
one line (:func:`not_remote`).

The token, first found wins: the one given, ``SERVING_TOKEN``, the ``token`` key of the
``config.json`` that named the server. A token in a file must be readable by its owner
only (mode 0600): a file others can read is refused, naming ``chmod 600``.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from serving.config import PlatformSettings, is_server_url
from serving.errors import NotFoundError, UserInputError
from serving.hub.remote.models import RemoteModels
from serving.hub.remote.registries import RemoteEndpoints, RemoteEnvironments, RemoteImages
from serving.hub.remote.runs import RemoteRunStore
from serving.hub.remote.transport import HubClient
from serving.workspace import Workspace

URL_KEY = "workspace_url"
"""The key of a ``config.json`` that names a workspace server."""
TOKEN_KEY = "token"
"""The key of a ``config.json`` (mode 0600) that holds the server's token."""


def not_remote(what: str, url: str) -> UserInputError:
    """The one-line refusal of a command that needs the workspace folder."""
    return UserInputError(
        f"{what} is not available against a workspace server yet ({url})",
        hint="run it on the server's machine, with --workspace set to its workspace folder",
    )


class RemoteWorkspace:
    """The workspace served at ``url`` (``http(s)://host:port``), called with ``token``."""

    path: None = None

    def __init__(self, url: str, token: str | None = None) -> None:
        self.client = HubClient(url, token)
        self.models = RemoteModels(self.client)
        self.environments = RemoteEnvironments(self.client)
        self.images = RemoteImages(self.client)
        self.endpoints = RemoteEndpoints(self.client)
        self.runs = RemoteRunStore(self.client)

    @property
    def url(self) -> str:
        return self.client.base_url

    @property
    def name(self) -> str:
        """The server's ``host:port``, known without a call (``describe()`` asks the
        server for its workspace's own name)."""
        return urlsplit(self.url).netloc

    def describe(self) -> dict[str, Any]:
        """The server's workspace: its name, this URL, and what it holds (one call; a
        server older than ``GET /workspace`` has its lists counted, under ``host:port``)."""
        try:
            shown: dict[str, Any] = self.client.get("/workspace")
        except NotFoundError:
            shown = {
                "name": self.name,
                "models": len(self.models.list()),
                "environments": len(self.environments.list()),
                "endpoints": len(self.endpoints.list()),
            }
        return {"name": shown.pop("name"), "url": self.url, **shown}

    def __repr__(self) -> str:
        return f"RemoteWorkspace({self.url!r})"


AnyWorkspace = Workspace | RemoteWorkspace
"""A workspace folder or a server: what the registry commands and SDK classes accept."""


def open_remote(
    url: str, token: str | None = None, settings: PlatformSettings | None = None
) -> RemoteWorkspace:
    """The server at ``url`` with ``token``, else ``SERVING_TOKEN``."""
    settings = settings or PlatformSettings.from_env()
    return RemoteWorkspace(url, token or settings.token)


def _private_token(path: Path) -> str | None:
    """The ``token`` of the ``config.json`` at ``path``, read from a file whose mode was
    checked on the same open descriptor (a file swapped in after a check by path would
    not be the one read; a link is judged by the file it leads to): refused when anyone
    but its owner may read or change it."""
    try:
        with path.open("rb") as fh:
            mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)
            if mode & 0o077:
                raise UserInputError(
                    f"{path} holds a workspace server token but its mode is {mode:04o}: "
                    "others can read it",
                    hint=f"chmod 600 {path}",
                )
            data = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot read the token in {path}: {exc}") from None
    token = data.get(TOKEN_KEY) if isinstance(data, dict) else None
    return None if token is None else str(token)


W = TypeVar("W", bound=RemoteWorkspace)


def server_config(path: Path, data: Mapping[str, Any], cls: type[W]) -> W | None:
    """The server a ``config.json`` (already read into ``data``) names, as ``cls``, else
    None."""
    url = data.get(URL_KEY)
    if url is None:
        return None
    if not is_server_url(url):
        raise UserInputError(f"{path}: {URL_KEY} must be an http(s):// URL, not {url!r}")
    settings = PlatformSettings.from_env()
    token = settings.token
    if token is None and data.get(TOKEN_KEY) is not None:
        token = _private_token(path)
    return cls(url, token)


def write_server_config(path: Path, url: str, token: str | None) -> Path:
    """Write a ``config.json`` naming the server (with the token: created 0600)."""
    data: dict[str, str] = {URL_KEY: url}
    if token is not None:
        data[TOKEN_KEY] = token
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:  # mkstemp's file is 0600 from the start; renamed in whole (a link is replaced)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

"""Runs of a remote workspace (filled in by the runs slice): the client-side counterpart of
:class:`serving.runs.store.RunStore` over the server's ``/api/v1/runs`` routes."""

from __future__ import annotations

from serving.hub.remote.transport import HubClient


class RemoteRunStore:
    """The runs of the workspace behind ``client``."""

    def __init__(self, client: HubClient) -> None:
        self.client = client

"""The SDK's face of a workspace server: what ``Workspace.get(path="http://host:port")``
and ``Workspace.from_config()`` (a ``config.json`` with ``workspace_url``) return.

:class:`ServerWorkspace` is a :class:`~serving.hub.remote.workspace.RemoteWorkspace` with
Azure ML v1's members that make sense over the API: ``ws.models`` and
``ws.environments`` as v1's ``{name: latest object}`` views (as
:mod:`serving.sdk.views` does for a folder), the details (``local``), ``get_details()``
and ``write_config()``. ``Model``, ``Environment`` (and the run classes) take it where
they take a folder workspace. Loaded only when a server is named, so training scripts
that import the SDK do not load the HTTP client.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving.errors import UserInputError
from serving.hub.remote.models import RemoteModels
from serving.hub.remote.registries import RemoteEnvironments
from serving.hub.remote.transport import HubClient
from serving.hub.remote.workspace import RemoteWorkspace, write_server_config
from serving.registry import Ref
from serving.sdk.views import _MappingMixin
from serving.sdk.workspace import LOCAL


class RemoteModelsView(_MappingMixin, RemoteModels):
    """``ws.models`` of a server: the registry, and ``{name: latest Model}``."""

    def __init__(self, client: HubClient, workspace: RemoteWorkspace) -> None:
        super().__init__(client)
        self._workspace = workspace

    def _snapshot(self) -> dict[str, Any]:
        from serving.sdk.model import Model

        records = RemoteModels.list(self, latest=True)
        return {r.name: Model._wrap(self._workspace, r) for r in records}

    def get(self, ref: Ref | str, default: Any = None) -> Any:
        if isinstance(ref, Ref):
            return RemoteModels.get(self, ref)
        return self._snapshot().get(ref, default)


class RemoteEnvironmentsView(_MappingMixin, RemoteEnvironments):
    """``ws.environments`` of a server: the registry, and ``{name: Environment}``."""

    def __init__(self, client: HubClient, workspace: RemoteWorkspace) -> None:
        super().__init__(client)
        self._workspace = workspace

    def _snapshot(self) -> dict[str, Any]:
        from serving.sdk.environment import Environment

        return Environment.list(self._workspace)

    def get(self, ref: Ref | str, default: Any = None) -> Any:
        if isinstance(ref, Ref):
            return RemoteEnvironments.get(self, ref)
        return self._snapshot().get(ref, default)


Mapping.register(RemoteModelsView)
Mapping.register(RemoteEnvironmentsView)


class ServerWorkspace(RemoteWorkspace):
    """A workspace server, as the SDK shows a workspace."""

    def __init__(self, url: str, token: str | None = None) -> None:
        super().__init__(url, token)
        self.models = RemoteModelsView(self.client, self)
        self.environments = RemoteEnvironmentsView(self.client, self)

    subscription_id = resource_group = location = LOCAL

    @property
    def friendly_name(self) -> str:
        return self.name

    def get_run(self, run_id: str) -> Any:
        """The server's run ``run_id`` (a RemoteRun)."""
        from serving.sdk.run import Run

        return Run.get(self, run_id)  # type: ignore[arg-type]

    def get_details(self) -> dict[str, Any]:
        shown = self.describe()  # its "name" is the server's own name for its workspace
        return {
            **shown,
            "name": self.name,
            "friendlyName": self.name,
            "workspaceName": shown["name"],
            "location": LOCAL,
            "resourceGroup": LOCAL,
            "subscriptionId": LOCAL,
            "type": "Server",
            "provisioningState": "Succeeded",
        }

    def write_config(
        self, path: str | Path | None = None, file_name: str | None = None, *, token: bool = False
    ) -> str:
        """Write ``.azureml/config.json`` naming this server (mode 0600); the token only
        when ``token=True`` (else each user sets ``SERVING_TOKEN``)."""
        folder = Path(path) if path is not None else Path.cwd()
        target = folder / ".azureml" / (file_name or "config.json")
        return str(write_server_config(target, self.url, self.client.token if token else None))

    def delete(self, delete_dependent_resources: bool = False, no_wait: bool = False) -> None:
        raise UserInputError(f"a workspace server ({self.url}) is not deleted from a client")


__all__ = ["RemoteEnvironmentsView", "RemoteModelsView", "ServerWorkspace"]

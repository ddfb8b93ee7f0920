"""The SDK's ``Workspace``: the workspace folder plus Azure ML v1's members: details
(``name``, ``subscription_id``, ``resource_group``, ``location``, ``get_details()``,
``write_config()``), run-side members (``get_run``, ``experiments``, ``datastores``,
``get_default_datastore``, ``compute_targets``) and the dictionary views ``models``,
``environments``, ``webservices``, ``datasets``.

The Azure details are what ``Workspace.create(...)`` or a ``config.json`` said, else local
values (``local``). Import-light: training scripts reach it through
``Run.get_context().experiment.workspace``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.config import PlatformSettings, is_server_url
from serving.errors import UserInputError
from serving.runs.errors import UserErrorException
from serving.runs.store import RunStore
from serving.sdk.views import EnvironmentsView, ModelsView
from serving.workspace import DB_NAME, MARKER_DIR, find_upward
from serving.workspace import Workspace as _FolderWorkspace

if TYPE_CHECKING:
    from serving.sdk.experiment import Experiment
    from serving.sdk.run import Run
    from serving.sdk.server_workspace import ServerWorkspace

LOCAL = "local"
"""The subscription, resource group and location of a workspace no config.json describes."""
_DETAILS = ("subscription_id", "resource_group", "location")
_CONFIG_PLACES = (Path(".azureml") / "config.json", Path("aml_config") / "config.json",
                  Path("config.json"))  # fmt: skip


def _find_config(start: Path) -> Path | None:
    """v1's search: ``.azureml/config.json``, ``aml_config/config.json``, ``config.json``
    in ``start`` and its parents (``start`` may be the file itself)."""
    if start.is_file():
        return start
    for folder in (start, *start.parents):
        for place in _CONFIG_PLACES:
            if (folder / place).is_file():
                return folder / place
    return None


def _read_config(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserErrorException(f"cannot read workspace configuration {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise UserErrorException(f"{path} is not a workspace configuration (a JSON object)")
    return {str(k): str(v) for k, v in data.items() if v is not None}


def _server_url(name: str | None, path: str | Path | None) -> str | None:
    """The workspace server ``Workspace.get`` is asked for: a URL as ``path`` or ``name``,
    else ``SERVING_WORKSPACE`` when no folder is given and it is a URL."""
    for given in (path, name):
        if is_server_url(given):
            return str(given)
    return PlatformSettings.from_env().workspace_url if path is None else None


class Workspace(_FolderWorkspace):
    """An open workspace; ``Workspace.from_config()`` finds the nearest ``.serving`` (or a
    v1 ``config.json``, beside which the workspace is then created)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Workspace:
        """``Workspace("http://host:port")`` (or ``path=`` a URL) is that server's
        :class:`ServerWorkspace` (token: ``SERVING_TOKEN``); anything else a folder's."""
        given = kwargs.get("path", args[0] if len(args) == 1 else None)
        if isinstance(given, str) and _server_url(None, given) is not None:
            from serving.sdk.server_workspace import ServerWorkspace

            return ServerWorkspace(given, PlatformSettings.from_env().token)  # type: ignore[return-value]
        return super().__new__(cls)

    def __init__(
        self,
        subscription_id: str | Path | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        auth: Any = None,
        _location: str | None = None,
        *,
        path: str | Path | None = None,
        **azure_only: Any,
    ) -> None:
        """``Workspace(path)``, or v1's ``Workspace(subscription_id, resource_group,
        workspace_name)``: the workspace found as :meth:`get` finds it (from the cwd), named
        ``workspace_name``, with the Azure identifiers recorded as its details."""
        if resource_group is None and workspace_name is None:
            where = path if path is not None else subscription_id
            if where is None:
                raise UserInputError("Workspace() needs a folder, or v1's workspace_name")
            super().__init__(Path(where))
            return
        if auth is not None:
            azure_only["auth"] = auth
        found = type(self).get(
            workspace_name,
            path,
            subscription_id=None if subscription_id is None else str(subscription_id),
            resource_group=resource_group,
            location=_location,
            **azure_only,
        )
        if not isinstance(found, _FolderWorkspace):
            raise UserInputError(
                f"Workspace(..., workspace_name) opens a folder, not the server {found.url}",
                hint="use Workspace.get(path=URL)",
            )
        super().__init__(found.path)

    def __post_init__(self) -> None:
        super().__post_init__()
        # the registries, answering v1's {name: object} views too (serving.sdk.views)
        self.models = ModelsView(self.db, self.store, self)
        self.environments = EnvironmentsView(self.db, self)

    # -- opening the v1 way --------------------------------------------------------------
    @classmethod
    def create(
        cls,
        name: str | None = None,
        path: str | Path | None = None,
        *,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        create_resource_group: bool = True,
        exist_ok: bool = True,
        show_output: bool = True,
        **azure_only: Any,
    ) -> Workspace:
        """v1's ``Workspace.create``: the workspace ``path/.serving`` (default: the cwd).

        The subscription, resource group and location are recorded (``get_details()``);
        ``exist_ok=False`` refuses an existing workspace, as v1 does.
        """
        given = {k for k, v in azure_only.items() if v is not None}
        if auth is not None:
            given.add("auth")
        if given:
            warnings.warn(
                f"Workspace.create: {', '.join(sorted(given))} "
                "mean nothing for a local workspace (ignored)",
                UserWarning,
                stacklevel=2,
            )
        base = Path(path) if path is not None else Path.cwd()
        target = base if base.name == MARKER_DIR else base / MARKER_DIR
        if not exist_ok and (target / DB_NAME).is_file():
            raise UserErrorException(
                f"Workspace with name '{name}' already exists at {target}: pass exist_ok=True"
            )
        ws = cls.open(target, create=True, name=name)
        assert isinstance(ws, Workspace)
        ws._record_details(subscription_id, resource_group, location)
        if show_output:
            print(f"Deployed Workspace with name {ws.name}. ({ws.path})")
        return ws

    @classmethod
    def get(  # type: ignore[override]
        cls,
        name: str | None = None,
        path: str | Path | None = None,
        *,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        **azure_only: Any,
    ) -> Workspace | ServerWorkspace:
        """v1's ``Workspace.get``: the workspace found from ``path`` (or the cwd), checked to
        be called ``name``; the Azure identifiers given are recorded as its details. A
        server's URL as ``path`` (or ``name``, or ``SERVING_WORKSPACE``) gives the
        :class:`ServerWorkspace` there, with the token of ``SERVING_TOKEN``."""
        given = sorted(k for k, v in {"auth": auth, **azure_only}.items() if v is not None)
        if given:
            warnings.warn(
                f"Workspace.get: {', '.join(given)} mean nothing for a local workspace (ignored)",
                UserWarning,
                stacklevel=2,
            )
        url = _server_url(name, path)
        if url is not None:
            from serving.sdk.server_workspace import ServerWorkspace

            return ServerWorkspace(url, PlatformSettings.from_env().token)
        ws = super().get(name, path)
        assert isinstance(ws, Workspace)
        ws._record_details(subscription_id, resource_group, location)
        return ws

    @classmethod
    def from_config(  # type: ignore[override]
        cls, path: str | Path | None = None, auth: Any = None, _logger: Any = None,
        _file_name: str | None = None,
    ) -> Workspace | ServerWorkspace:  # fmt: skip
        """v1's ``from_config``: the nearest ``.serving`` upward from ``path`` (default the
        cwd); a ``config.json`` found first names the workspace, created beside it, or a
        workspace server (its ``workspace_url``; the token from ``SERVING_TOKEN``, else
        its ``token`` key, and then the file must be mode 0600)."""
        if auth is not None:
            warnings.warn(
                "Workspace.from_config: auth is not used (a local workspace needs no login)",
                UserWarning,
                stacklevel=2,
            )
        start = (Path(path) if path else Path.cwd()).resolve()
        config = _find_config(start if _file_name is None else start / _file_name)
        found = find_upward(start if start.is_dir() else start.parent)
        if config is not None:
            values = _read_config(config)
            if "workspace_url" in values:  # serving.hub.remote.workspace.URL_KEY
                from serving.hub.remote.workspace import server_config
                from serving.sdk.server_workspace import ServerWorkspace

                remote = server_config(config, values, ServerWorkspace)
                assert remote is not None  # the key is there
                return remote
            home = config.parent.parent if config.parent.name in (".azureml", "aml_config") \
                else config.parent  # fmt: skip
            if found is None or not found.parent.is_relative_to(home):
                found = home / MARKER_DIR
            ws = cls.open(found, create=True, name=values.get("workspace_name"))
            assert isinstance(ws, Workspace)
            ws._record_details(values.get("subscription_id"), values.get("resource_group"),
                               values.get("location"))  # fmt: skip
            return ws
        if found is None:
            raise UserErrorException(
                f"The workspace configuration file config.json, could not be found in {start} "
                "or its parent directories (nor a .serving workspace)",
                hint="create one with Workspace.create(name) or 'serving workspace create'",
            )
        opened = cls.open(found)
        assert isinstance(opened, Workspace)
        return opened

    # -- details -------------------------------------------------------------------------
    def _record_details(self, *values: str | None) -> None:
        with self.db.write() as conn:
            for key, value in zip(_DETAILS, values, strict=True):
                if value:
                    conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
                    )

    @property
    def subscription_id(self) -> str:
        return self._meta("subscription_id") or LOCAL

    @property
    def resource_group(self) -> str:
        return self._meta("resource_group") or LOCAL

    @property
    def location(self) -> str:
        return self._meta("location") or LOCAL

    @property
    def friendly_name(self) -> str:
        return self.name

    def get_details(self) -> dict[str, Any]:
        """v1's details keys, plus this workspace's folder and counts."""
        return {
            "id": f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/serving/workspaces/{self.name}",
            "name": self.name,
            "friendlyName": self.name,
            "location": self.location,
            "resourceGroup": self.resource_group,
            "subscriptionId": self.subscription_id,
            "type": "Local",
            "provisioningState": "Succeeded",
            **self.describe(),
        }

    def write_config(self, path: str | Path | None = None, file_name: str | None = None) -> str:
        """Write v1's ``.azureml/config.json`` under ``path`` (default the cwd)."""
        folder = Path(path) if path is not None else Path.cwd()
        target = folder / ".azureml" / (file_name or "config.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "workspace_name": self.name,
        }
        target.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return str(target)

    # -- run side ------------------------------------------------------------------------
    @property
    def runs(self) -> RunStore:
        return RunStore(self.path, self.db)

    def get_run(self, run_id: str) -> Run:
        from serving.sdk.run import Run

        return Run.get(self, run_id)

    @property
    def experiments(self) -> dict[str, Experiment]:
        from serving.sdk.experiment import Experiment

        return {e.name: e for e in Experiment.list(self)}

    @property
    def datastores(self) -> dict[str, Any]:
        from serving.sdk.datastore import datastores

        return datastores(self)

    def get_default_datastore(self) -> Any:
        from serving.sdk.datastore import get_default_datastore

        return get_default_datastore(self)

    def set_default_datastore(self, name: str) -> None:
        from serving.sdk.datastore import set_default_datastore

        set_default_datastore(self, name)

    @property
    def compute_targets(self) -> dict[str, Any]:
        from serving.sdk.compute import compute_targets

        return compute_targets(self)

    # -- deployment side -----------------------------------------------------------------
    @property
    def webservices(self) -> dict[str, Any]:
        """``{name: Webservice}`` of the workspace's deployments."""
        from serving.sdk.webservice import Webservice

        return {s.name: s for s in Webservice.list(self)}

    @property
    def datasets(self) -> dict[str, Any]:
        """``{name: latest Dataset}`` of the registered datasets."""
        from serving.sdk.dataset import Dataset

        return Dataset.registered(self)

    def delete(self, delete_dependent_resources: bool = False, no_wait: bool = False) -> None:
        raise UserErrorException(
            f"a local workspace is a folder ({self.path}): remove it yourself when done"
        )


__all__ = ["Workspace"]

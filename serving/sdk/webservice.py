"""Deployment in the SDK: ``InferenceConfig``, deployment configurations, ``Webservice``.

Shaped like Azure ML v1::

    inference_config = InferenceConfig(entry_script="score.py", environment=env)
    service = Model.deploy(ws, "digits-svc", [model], inference_config, LocalDeployment())
    service.wait_for_deployment(show_output=True)
    print(service.run(json.dumps({"data": [[0.0] * 64]})))

The deployment configurations (one per target) are in :mod:`serving.sdk.configs`.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from serving import httpclient
from serving.deploy import service
from serving.errors import DeploymentError, ServingError, UserInputError
from serving.registry import EndpointRecord
from serving.sdk.configs import (
    AciWebservice,
    AksWebservice,
    ClusterDeployment,
    DeploymentConfig,
    DockerDeployment,
    KubernetesDeployment,
    LocalDeployment,
    LocalWebservice,
)
from serving.workspace import Workspace

if TYPE_CHECKING:
    from serving.loadtest import LoadTestSummary
    from serving.sdk.environment import Environment
    from serving.sdk.model import Model


class WebserviceException(ServingError):
    """A call to a service failed; carries the HTTP status, headers and body."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers or {}
        self.body = body


@dataclass
class InferenceConfig:
    """The entry script, its source folder and the environment to run it in."""

    entry_script: str | Path
    source_directory: str | Path | None = None
    environment: Environment | None = None
    conda_file: str | Path | None = None
    description: str | None = None

    def env_value(self) -> Any:
        if self.environment is not None:
            return self.environment.spec
        if self.conda_file is not None:
            base = Path(self.source_directory) if self.source_directory else Path.cwd()
            path = Path(self.conda_file)
            return str(path if path.is_absolute() or path.is_file() else base / path)
        raise UserInputError("InferenceConfig needs an environment= or a conda_file=")


class _Recorded:
    """An optional text attribute of the service, as last recorded (``scoring_uri``...)."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __get__(self, service: Webservice, owner: type | None = None) -> str | None:
        value = getattr(service._record, self.field)
        return None if value is None else str(value)


class Webservice:
    """A deployed endpoint: ``Webservice(ws, name)`` gets an existing one."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        self.name = name
        self._record: EndpointRecord = workspace.endpoints.get(name)

    @classmethod
    def list(cls, workspace: Workspace) -> list[Webservice]:
        return [cls(workspace, r.name) for r in workspace.endpoints.list()]

    # -- attributes --------------------------------------------------------------------
    scoring_uri = _Recorded("scoring_uri")
    swagger_uri = _Recorded("swagger_uri")
    error = _Recorded("error")
    """The error of the last deploy, update or check (None when Healthy)."""

    @property
    def state(self) -> str:
        self._record = service.observe(self.workspace, self.name)
        return self._record.state

    @property
    def auth_enabled(self) -> bool:
        return bool(self._record.keys)

    @property
    def models(self) -> builtins.list[str]:
        return builtins.list(self._record.models)

    # -- calls -------------------------------------------------------------------------
    def run(self, input_data: str | bytes) -> Any:
        """POST ``input_data`` (a JSON string) and return the decoded answer.

        A non-200 answer raises :class:`WebserviceException`; a 401 re-reads the keys from
        the registry and retries once, as Azure's client does.
        """
        if not self.scoring_uri:
            raise WebserviceException(f"service {self.name} has no scoring URI ({self.state})")
        resp = self._post(input_data)
        if resp.status_code == 401 and self.auth_enabled:
            self._record = self.workspace.endpoints.get(self.name)
            resp = self._post(input_data)
        if resp.status_code != 200:
            raise WebserviceException(
                f"Received bad response from service: {resp.status_code} {resp.text[:500]}",
                status_code=resp.status_code,
                headers=dict(resp.headers),
                body=resp.text,
            )
        return resp.json()

    def _post(self, data: str | bytes) -> requests.Response:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._record.keys:
            headers["Authorization"] = f"Bearer {self._record.keys[0]}"
        assert self.scoring_uri is not None
        try:
            return httpclient.post(self.scoring_uri, data=data, headers=headers, timeout=300)
        except requests.RequestException as exc:
            raise WebserviceException(f"cannot reach {self.scoring_uri}: {exc}") from exc

    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float = 300) -> None:
        deadline = time.monotonic() + timeout_sec
        while True:
            state = self.state
            if show_output:
                print(f"{self.name}: {state}")
            if state == "Healthy":
                return
            if state in ("Failed", "Unhealthy"):
                raise WebserviceException(
                    f"Service deployment polling reached non-successful terminal state, "
                    f"current service state: {state}. Error: {self.error}"
                )
            if time.monotonic() > deadline:
                raise WebserviceException(f"{self.name} is still {state} after {timeout_sec} s")
            time.sleep(1)

    def get_logs(self, num_lines: int = 5000) -> str:
        return service.logs(self.workspace, self.name, num_lines)

    def get_keys(self) -> tuple[str, str]:
        keys = self.workspace.endpoints.get(self.name).keys
        if len(keys) != 2:
            raise WebserviceException(f"service {self.name} was deployed without auth")
        return keys[0], keys[1]

    def regen_key(self, key: str) -> None:
        self._record = service.regen_key(self.workspace, self.name, key)

    def update(
        self, models: Sequence[Model] | None = None, inference_config: InferenceConfig | None = None
    ) -> None:
        ic = inference_config
        self._record = service.update(
            self.workspace,
            self.name,
            models=[m.id for m in models] if models else None,
            entry_script=Path(ic.entry_script) if ic else None,
            source_dir=Path(ic.source_directory) if ic and ic.source_directory else None,
            env=ic.env_value() if ic else None,
        )

    def delete(self) -> None:
        service.delete(self.workspace, self.name)

    def loadtest(
        self, users: int = 10, duration: str | float = "30s", **options: Any
    ) -> LoadTestSummary:
        """Drive the service with locust; returns the summary (see ``serving loadtest``)."""
        from serving.loadtest import run_loadtest

        return run_loadtest(
            self.name, workspace=self.workspace, users=users, duration=duration, **options
        )

    def serialize(self) -> dict[str, Any]:
        return self._record.to_dict()

    def __repr__(self) -> str:
        return f"Webservice(name={self.name!r}, state={self._record.state!r})"


def deploy_models(
    workspace: Workspace,
    name: str,
    models: Sequence[Model],
    inference_config: InferenceConfig,
    deployment_config: DeploymentConfig | None = None,
    overwrite: bool = False,
    show_output: bool = False,
) -> Any:
    """``Model.deploy``: deploy and return the service (Healthy, or raises). A configuration
    with its own ``deploy_models`` (``serving.sdk.edge.EdgeDeployment``) deploys itself."""
    deploy_itself = getattr(deployment_config, "deploy_models", None)
    if deploy_itself is not None:
        return deploy_itself(
            workspace, name, models, inference_config, overwrite=overwrite, show_output=show_output
        )
    config = deployment_config or LocalDeployment()
    say = (lambda line: print(line)) if show_output else (lambda _line: None)
    try:
        service.deploy(
            workspace,
            name,
            models=[m.id for m in models],
            entry_script=Path(inference_config.entry_script),
            source_dir=(
                Path(inference_config.source_directory)
                if inference_config.source_directory
                else None
            ),
            env=inference_config.env_value(),
            target=config.target,
            auth=config.auth_enabled,
            port=config.port,
            workers=config.workers,
            threads=config.threads,
            deployment=config.to_spec(),
            overwrite=overwrite,
            progress=say,
        )
    except DeploymentError as exc:
        raise WebserviceException(
            exc.one_line() + ("\n" + exc.details if exc.details else "")
        ) from exc
    return Webservice(workspace, name)


__all__ = [
    "AciWebservice",
    "AksWebservice",
    "ClusterDeployment",
    "DockerDeployment",
    "InferenceConfig",
    "KubernetesDeployment",
    "LocalDeployment",
    "LocalWebservice",
    "Webservice",
    "WebserviceException",
]

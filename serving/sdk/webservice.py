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
import dataclasses
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from serving import httpclient
from serving.deploy import service
from serving.deploy.spec import DeploymentSpec
from serving.errors import DeploymentError, NotFoundError, ServingError, UserInputError
from serving.registry import EndpointRecord
from serving.runs.datastores import model_data_folder
from serving.sdk.configs import (
    SSL_FIELDS,
    AciWebservice,
    AksWebservice,
    ClusterDeployment,
    DeploymentConfig,
    DockerDeployment,
    KubernetesDeployment,
    LocalDeployment,
    LocalWebservice,
)
from serving.sdk.inference import InferenceConfig
from serving.workspace import Workspace

if TYPE_CHECKING:
    from serving.loadtest import LoadTestSummary
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
        try:
            self._record: EndpointRecord = workspace.endpoints.get(name)
        except NotFoundError:
            raise WebserviceException(
                f"WebserviceNotFound: Webservice with name {name} not found in provided workspace"
            ) from None

    @classmethod
    def list(
        cls,
        workspace: Workspace,
        compute_type: str | None = None,
        model_name: str | None = None,
        model_id: str | None = None,
        **azure_only: Any,
    ) -> builtins.list[Webservice]:
        """The workspace's services, filtered by ``compute_type`` (``Local``, ``ACI``,
        ``AKS``, ``Kubernetes`` or this platform's target name) and model."""
        ignored = sorted(k for k, v in azure_only.items() if v is not None)
        if ignored:
            warnings.warn(f"Webservice.list: {', '.join(ignored)} not supported here (ignored)",
                          UserWarning, stacklevel=2)  # fmt: skip
        services = [cls(workspace, r.name) for r in workspace.endpoints.list()]
        if compute_type is not None:
            wanted = compute_type.lower()
            services = [s for s in services if wanted in (s.compute_type.lower(), s._record.target)]
        if model_name is not None or model_id is not None:
            services = [s for s in services if any(_model_matches(m, model_name, model_id)
                                                   for m in s.models)]  # fmt: skip
        return services

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
    def compute_type(self) -> str:
        """v1's name of the target: ``Local``, ``ACI`` (docker), ``AKS`` (cluster) or
        ``Kubernetes``."""
        return _COMPUTE_TYPES.get(self._record.target, self._record.target)

    @property
    def port(self) -> int | None:
        """The port a local or docker service listens on."""
        port = self._record.runtime.get("port") or self._record.spec.get("port")
        return port if isinstance(port, int) else None

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

    def get_token(self) -> tuple[str, float]:
        """v1's token auth (AKS ``token_auth_enabled``) needs Azure AD: services here use
        keys. A clear error, never an AttributeError."""
        raise WebserviceException(
            f"service {self.name} has no token auth: tokens come from Azure AD, which does not "
            "exist here; services use keys ('Authorization: Bearer <key>', see get_keys())"
        )

    def update(
        self,
        models: Sequence[Model] | None = None,
        inference_config: InferenceConfig | None = None,
        deployment_config: Any = None,
        **azure_only: Any,
    ) -> None:
        """Redeploy with new models or inference config (the old version serves until the
        new one is ready); a deployment config's replica count scales a cluster service."""
        ignored = sorted(k for k, v in azure_only.items() if v is not None)
        if ignored:
            warnings.warn(
                f"Webservice.update: {', '.join(ignored)} cannot be changed here "
                "(redeploy with Model.deploy(..., overwrite=True))",
                UserWarning,
                stacklevel=2,
            )
        ic = inference_config
        if models or ic is not None:
            self._record = service.update(
                self.workspace,
                self.name,
                models=[m.id for m in models] if models else None,
                entry_script=ic.entry_script_path() if ic else None,
                source_dir=Path(ic.source_directory) if ic and ic.source_directory else None,
                env=ic.env_value() if ic else None,
            )
        if deployment_config is not None:
            self._apply_config(deployment_config)

    def _apply_config(self, config: Any) -> None:
        from serving.deploy.update import scale

        replicas = getattr(config, "replicas", None)
        if isinstance(replicas, int) and self._record.target == "cluster":
            self._record = scale(self.workspace, self.name, replicas)
        else:
            warnings.warn(
                "Webservice.update(deployment_config=...): only the replica count of a "
                "cluster service changes in place; redeploy with overwrite=True for the rest",
                UserWarning,
                stacklevel=3,
            )

    def reload(self, wait: bool = False, timeout: float | None = None) -> None:
        """v1's ``LocalWebservice.reload``: copy the entry script and source folder in again
        from where they were deployed from, and restart (the environment is kept)."""
        spec = self._record.spec
        if not spec.get("entry_script"):
            raise UserInputError(f"{self.name} is a no-code service: it has no entry script")
        self._record = service.update(
            self.workspace,
            self.name,
            entry_script=Path(spec["entry_script"]),
            source_dir=Path(spec["source_dir"]) if spec.get("source_dir") else None,
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


_COMPUTE_TYPES = {"local": "Local", "docker": "ACI", "cluster": "AKS", "kubernetes": "Kubernetes"}


def _model_matches(ref: str, name: str | None, model_id: str | None) -> bool:
    return (name is None or ref.partition(":")[0] == name) and (model_id is None or ref == model_id)


def _on_target(config: Any, target: Any) -> Any:
    """The deployment configuration for ``deployment_target=`` (an ``AksCompute``): the
    cluster target as configured, or a Kubernetes context."""
    from serving.sdk.aks import KUBERNETES, AksCompute

    if not isinstance(target, AksCompute):
        raise UserInputError(
            f"deployment_target={target!r} is not an AKS compute: create one with "
            "ComputeTarget.create(ws, name, AksCompute.provisioning_configuration())"
        )
    if not isinstance(config, ClusterDeployment):
        warnings.warn(
            f"deployment_target={target.name!r} is used only with "
            "AksWebservice.deploy_configuration(); ignored for this configuration",
            UserWarning,
            stacklevel=4,
        )
        return config
    if target.deployment_target != KUBERNETES:
        return config
    return KubernetesDeployment(
        replicas=config.replicas, cpu_cores=config.cpu_cores, memory_gb=config.memory_gb,
        scoring_timeout_ms=config.scoring_timeout_ms, auth_enabled=config.auth_enabled,
        context=target.context, namespace=target.namespace or "default",
        **{name: getattr(config, name) for name in SSL_FIELDS},
    )  # fmt: skip


def _with_model_data(workspace: Workspace, spec: DeploymentSpec) -> DeploymentSpec:
    """``spec`` with the default datastore's folder when it collects model data."""
    if not spec.collect_model_data:
        return spec
    return dataclasses.replace(spec, model_data_dir=model_data_folder(workspace))


def deploy_models(
    workspace: Workspace,
    name: str,
    models: Sequence[Model],
    inference_config: InferenceConfig | None,
    deployment_config: DeploymentConfig | None = None,
    overwrite: bool = False,
    show_output: bool = False,
    deployment_target: Any = None,
) -> Any:
    """``Model.deploy``: deploy and return the service (Healthy, or raises). A configuration
    with its own ``deploy_models`` (``serving.sdk.edge.EdgeDeployment``) deploys itself.
    Without an ``inference_config`` (or one without an entry script) the deployment is
    no-code: one ONNX, scikit-learn or TensorFlow model served by the platform's scorer."""
    deploy_itself = getattr(deployment_config, "deploy_models", None)
    if deploy_itself is not None:
        return deploy_itself(
            workspace, name, models, inference_config, overwrite=overwrite, show_output=show_output
        )
    config = deployment_config or LocalDeployment()
    if deployment_target is not None:
        config = _on_target(config, deployment_target)
    say = (lambda line: print(line)) if show_output else (lambda _line: None)
    ic = inference_config
    try:
        service.deploy(
            workspace,
            name,
            models=[m.id for m in models],
            entry_script=ic.entry_script_path() if ic else None,
            source_dir=Path(ic.source_directory) if ic and ic.source_directory else None,
            env=ic.env_value() if ic else None,
            target=config.target,
            auth=config.auth_enabled,
            port=config.port,
            workers=config.workers,
            threads=config.threads,
            deployment=_with_model_data(workspace, config.to_spec()),
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

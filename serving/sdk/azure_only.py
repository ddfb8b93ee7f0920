"""Azure ML v1 names with no work to do here, and those that cannot mean anything here.

- ``VERSION`` (notebooks print ``azureml.core.VERSION``) is this platform's version.
- ``set_diagnostics_collection`` (``azureml.telemetry``): nothing is collected; a no-op.
- Authentication classes (``InteractiveLoginAuthentication``...) are accepted: a local
  workspace needs no login, and passing one to ``Workspace`` warns that it is not used.
- Azure-only services (Databricks, HDInsight, Synapse, Key Vault, private endpoints, the
  retired ``ContainerImage`` API...) import, so a notebook's import cell runs; using one
  raises :class:`AzureOnlyError` naming why and what to use instead.
"""

from __future__ import annotations

from typing import Any, NoReturn

from serving import __version__
from serving.errors import UserInputError

VERSION = __version__


def set_diagnostics_collection(send_diagnostics: bool = True, **_options: Any) -> None:
    """v1's telemetry switch: nothing is ever sent from this platform, so nothing to set."""
    return None


class _Authentication:
    """A v1 authentication object: a local workspace needs no login; kept for the calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def get_authentication_header(self) -> dict[str, str]:
        return {}


class InteractiveLoginAuthentication(_Authentication):
    """Accepted; no login happens (the workspace is a local folder)."""


class ServicePrincipalAuthentication(_Authentication):
    """Accepted; no login happens (the workspace is a local folder)."""


class AzureCliAuthentication(_Authentication):
    """Accepted; no login happens (the workspace is a local folder)."""


class MsiAuthentication(_Authentication):
    """Accepted; no login happens (the workspace is a local folder)."""


class AzureOnlyError(UserInputError):
    """An Azure service with no counterpart on this platform."""


class _AzureOnlyMeta(type):
    why: str

    def __getattr__(cls, attribute: str) -> NoReturn:
        if attribute.startswith("_"):  # introspection (inspect, copy, pickle) as usual
            raise AttributeError(attribute)
        raise AzureOnlyError(f"{cls.__name__}.{attribute}: {cls.why}")


def _azure_only(name: str, why: str) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AzureOnlyError(f"{name}: {why}")

    return _AzureOnlyMeta(name, (), {"why": why, "__init__": __init__, "__doc__": why})


_CLOUD = "an Azure-only service, with no counterpart on this platform"
AZURE_ONLY: dict[str, str] = {
    "DatabricksCompute": f"{_CLOUD}; run training with a ScriptRunConfig on Docker compute",
    "HDInsightCompute": f"{_CLOUD}; run training on local or Docker compute",
    "SynapseCompute": f"{_CLOUD}; run training on local or Docker compute",
    "AdlaCompute": f"{_CLOUD}; run training on local or Docker compute",
    "BatchCompute": f"{_CLOUD}; run training on local or Docker compute",
    "KustoCompute": f"{_CLOUD}; run training on local or Docker compute",
    "DataFactoryCompute": f"{_CLOUD}; use pipelines on local or Docker compute",
    "RemoteCompute": "attaching a remote VM over SSH is not supported; use Docker compute here",
    "LinkedService": f"{_CLOUD} (Synapse links)",
    "SynapseWorkspaceLinkedServiceConfiguration": f"{_CLOUD} (Synapse links)",
    "PrivateEndPointConfig": f"{_CLOUD}: a local workspace has no network endpoint",
    "Keyvault": f"{_CLOUD}: keep secrets in environment variables of the Environment",
    "ContainerImage": "the v1 image API was retired by Azure; use Model.package(...)",
    "Image": "the v1 image API was retired by Azure; use Model.package(...)",
    "AciServiceDeploymentConfiguration": "use AciWebservice.deploy_configuration(...)",
    "MlflowTrackingUri": f"{_CLOUD}: runs here log with Run.log (see 'serving runs')",
}

_classes = {name: _azure_only(name, why) for name, why in AZURE_ONLY.items()}
globals().update(_classes)


def __getattr__(name: str) -> Any:
    if name in _classes:
        return _classes[name]
    raise AttributeError(f"module 'serving.sdk.azure_only' has no attribute {name!r}")


__all__ = [
    "AZURE_ONLY",
    "VERSION",
    "AzureCliAuthentication",
    "AzureOnlyError",
    "InteractiveLoginAuthentication",
    "MsiAuthentication",
    "ServicePrincipalAuthentication",
    "set_diagnostics_collection",
    *AZURE_ONLY,
]

"""The Python SDK, shaped like Azure ML SDK v1 so notebooks change only their imports::

from serving.sdk import Workspace, Experiment, ScriptRunConfig, Environment, Model
ws = Workspace.from_config()
run = Experiment(ws, "digits").submit(ScriptRunConfig(".", "train.py", environment=env))
run.wait_for_completion(show_output=True)
model = run.register_model("digits", "outputs/model.pkl")

Names load on first use (PEP 562): a training script's ``Run.get_context()`` imports only
the light run modules, in environments that hold the user's packages and not the SDK's
dependencies (requests, rich, docker).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_AZURE_ONLY = (
    "DatabricksCompute",
    "HDInsightCompute",
    "SynapseCompute",
    "AdlaCompute",
    "BatchCompute",
    "KustoCompute",
    "DataFactoryCompute",
    "RemoteCompute",
    "LinkedService",
    "SynapseWorkspaceLinkedServiceConfiguration",
    "PrivateEndPointConfig",
    "Keyvault",
    "ContainerImage",
    "Image",
    "AciServiceDeploymentConfiguration",
    "MlflowTrackingUri",
)
"""Azure-only services: importable, and using one raises ``AzureOnlyError`` saying why."""

_WHERE = {
    "AciWebservice": "webservice",
    "AksWebservice": "webservice",
    "ClusterDeployment": "webservice",
    "DockerDeployment": "webservice",
    "InferenceConfig": "webservice",
    "KubernetesDeployment": "webservice",
    "LocalDeployment": "webservice",
    "LocalWebservice": "webservice",
    "Webservice": "webservice",
    "WebserviceException": "webservice",
    "Environment": "environment",
    "Model": "model",
    "Workspace": "workspace",
    "Experiment": "experiment",
    "Run": "run",
    "ScriptRunConfig": "script_run",
    "RunConfiguration": "script_run",
    "Datastore": "datastore",
    "HyperDriveConfig": "hyperdrive",
    "HyperDriveRun": "hyperdrive",
    "PrimaryMetricGoal": "hyperdrive",
    "RandomParameterSampling": "hyperdrive",
    "GridParameterSampling": "hyperdrive",
    "BayesianParameterSampling": "hyperdrive",
    "BanditPolicy": "hyperdrive",
    "MedianStoppingPolicy": "hyperdrive",
    "TruncationSelectionPolicy": "hyperdrive",
    "NoTerminationPolicy": "hyperdrive",
    "AshaPolicy": "hyperdrive",
    "EdgeDeployment": "edge",
    "EdgeService": "edge",
    "IotWebservice": "edge",
    "IotBaseModuleSettings": "edge",
    "IotModuleSettings": "edge",
    "Pipeline": "pipeline",
    "PythonScriptStep": "pipeline",
    "PipelineData": "pipeline",
    "PipelineParameter": "pipeline",
    "PipelineRun": "pipeline_run",
    "StepRun": "pipeline_run",
    "PortDataReference": "pipeline_run",
    "Estimator": "estimator",
    "SKLearn": "estimator",
    "TensorFlow": "estimator",
    "ComputeTarget": "compute",
    "AmlCompute": "compute",
    "DockerCompute": "compute",
    "ComputeTargetException": "compute",
    "GpuUnavailableWarning": "compute",
    "DataReference": "datastore",
    "ActivityFailedException": "errors",
    "ExperimentExecutionException": "errors",
    "UserErrorException": "errors",
    "ModelPathNotFoundException": "errors",
    "AksCompute": "aks",
    "CondaDependencies": "conda_dependencies",
    "CuratedEnvironmentNotice": "curated",
    "ResourceConfiguration": "model",
    "ModelPackage": "package",
    "ModelProfile": "profile",
    "Dataset": "dataset",
    "TabularDataset": "dataset",
    "FileDataset": "dataset",
    "DatasetConsumptionConfig": "dataset",
    "PromoteHeadersBehavior": "dataset_type_definitions",
    "RunDetails": "widgets",
    "VERSION": "azure_only",
    "set_diagnostics_collection": "azure_only",
    "AzureOnlyError": "azure_only",
    "InteractiveLoginAuthentication": "azure_only",
    "ServicePrincipalAuthentication": "azure_only",
    "AzureCliAuthentication": "azure_only",
    "MsiAuthentication": "azure_only",
}
_WHERE.update(dict.fromkeys(_AZURE_ONLY, "azure_only"))

__all__ = [
    "VERSION",
    "AciWebservice",
    "ActivityFailedException",
    "AksCompute",
    "AksWebservice",
    "AmlCompute",
    "AshaPolicy",
    "AzureCliAuthentication",
    "AzureOnlyError",
    "BanditPolicy",
    "BayesianParameterSampling",
    "ClusterDeployment",
    "ComputeTarget",
    "ComputeTargetException",
    "CondaDependencies",
    "CuratedEnvironmentNotice",
    "DataReference",
    "Dataset",
    "DatasetConsumptionConfig",
    "Datastore",
    "DockerCompute",
    "DockerDeployment",
    "EdgeDeployment",
    "EdgeService",
    "Environment",
    "Estimator",
    "Experiment",
    "ExperimentExecutionException",
    "FileDataset",
    "GpuUnavailableWarning",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveRun",
    "InferenceConfig",
    "InteractiveLoginAuthentication",
    "IotBaseModuleSettings",
    "IotModuleSettings",
    "IotWebservice",
    "KubernetesDeployment",
    "LocalDeployment",
    "LocalWebservice",
    "MedianStoppingPolicy",
    "Model",
    "ModelPackage",
    "ModelPathNotFoundException",
    "ModelProfile",
    "MsiAuthentication",
    "NoTerminationPolicy",
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PipelineRun",
    "PortDataReference",
    "PrimaryMetricGoal",
    "PromoteHeadersBehavior",
    "PythonScriptStep",
    "RandomParameterSampling",
    "ResourceConfiguration",
    "Run",
    "RunConfiguration",
    "RunDetails",
    "SKLearn",
    "ScriptRunConfig",
    "ServicePrincipalAuthentication",
    "StepRun",
    "TabularDataset",
    "TensorFlow",
    "TruncationSelectionPolicy",
    "UserErrorException",
    "Webservice",
    "WebserviceException",
    "Workspace",
    "set_diagnostics_collection",
]

if TYPE_CHECKING:
    from serving.runs.errors import (
        ActivityFailedException,
        ExperimentExecutionException,
        ModelPathNotFoundException,
        UserErrorException,
    )
    from serving.sdk.aks import AksCompute
    from serving.sdk.azure_only import (
        VERSION,
        AzureCliAuthentication,
        AzureOnlyError,
        InteractiveLoginAuthentication,
        MsiAuthentication,
        ServicePrincipalAuthentication,
        set_diagnostics_collection,
    )
    from serving.sdk.compute import (
        AmlCompute,
        ComputeTarget,
        ComputeTargetException,
        DockerCompute,
        GpuUnavailableWarning,
    )
    from serving.sdk.conda_dependencies import CondaDependencies
    from serving.sdk.curated import CuratedEnvironmentNotice
    from serving.sdk.dataset import (
        Dataset,
        DatasetConsumptionConfig,
        FileDataset,
        TabularDataset,
    )
    from serving.sdk.dataset_type_definitions import PromoteHeadersBehavior
    from serving.sdk.datastore import DataReference, Datastore
    from serving.sdk.edge import (
        EdgeDeployment,
        EdgeService,
        IotBaseModuleSettings,
        IotModuleSettings,
        IotWebservice,
    )
    from serving.sdk.environment import Environment
    from serving.sdk.estimator import Estimator, SKLearn, TensorFlow
    from serving.sdk.experiment import Experiment
    from serving.sdk.hyperdrive import (
        AshaPolicy,
        BanditPolicy,
        BayesianParameterSampling,
        GridParameterSampling,
        HyperDriveConfig,
        HyperDriveRun,
        MedianStoppingPolicy,
        NoTerminationPolicy,
        PrimaryMetricGoal,
        RandomParameterSampling,
        TruncationSelectionPolicy,
    )
    from serving.sdk.model import Model, ResourceConfiguration
    from serving.sdk.package import ModelPackage
    from serving.sdk.pipeline import Pipeline, PipelineData, PipelineParameter, PythonScriptStep
    from serving.sdk.pipeline_run import PipelineRun, PortDataReference, StepRun
    from serving.sdk.profile import ModelProfile
    from serving.sdk.run import Run
    from serving.sdk.script_run import RunConfiguration, ScriptRunConfig
    from serving.sdk.webservice import (
        AciWebservice,
        AksWebservice,
        ClusterDeployment,
        DockerDeployment,
        InferenceConfig,
        KubernetesDeployment,
        LocalDeployment,
        LocalWebservice,
        Webservice,
        WebserviceException,
    )
    from serving.sdk.widgets import RunDetails
    from serving.sdk.workspace import Workspace


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'serving.sdk' has no attribute {name!r}")
    package = "serving.runs" if module == "errors" else "serving.sdk"
    value = getattr(importlib.import_module(f"{package}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])

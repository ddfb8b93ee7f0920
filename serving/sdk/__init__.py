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
}

__all__ = [
    "AciWebservice",
    "ActivityFailedException",
    "AksWebservice",
    "AmlCompute",
    "ClusterDeployment",
    "ComputeTarget",
    "ComputeTargetException",
    "DataReference",
    "Datastore",
    "DockerCompute",
    "DockerDeployment",
    "Environment",
    "Estimator",
    "Experiment",
    "ExperimentExecutionException",
    "GpuUnavailableWarning",
    "InferenceConfig",
    "KubernetesDeployment",
    "LocalDeployment",
    "LocalWebservice",
    "Model",
    "ModelPathNotFoundException",
    "Run",
    "RunConfiguration",
    "SKLearn",
    "ScriptRunConfig",
    "TensorFlow",
    "UserErrorException",
    "Webservice",
    "WebserviceException",
    "Workspace",
]

if TYPE_CHECKING:
    from serving.runs.errors import (
        ActivityFailedException,
        ExperimentExecutionException,
        ModelPathNotFoundException,
        UserErrorException,
    )
    from serving.sdk.compute import (
        AmlCompute,
        ComputeTarget,
        ComputeTargetException,
        DockerCompute,
        GpuUnavailableWarning,
    )
    from serving.sdk.datastore import DataReference, Datastore
    from serving.sdk.environment import Environment
    from serving.sdk.estimator import Estimator, SKLearn, TensorFlow
    from serving.sdk.experiment import Experiment
    from serving.sdk.model import Model
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

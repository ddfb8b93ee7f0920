"""The Python SDK, shaped like Azure ML SDK v1 so deploy notebooks change little::

from serving.sdk import Workspace, Model, Environment
ws = Workspace.from_config()
model = Model.register(ws, model_path="model.pkl", model_name="digits")
env = Environment.from_conda_specification("digits-env", "env.yml").register(ws)
"""

from serving.sdk.environment import Environment
from serving.sdk.model import Model
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
from serving.workspace import Workspace

__all__ = [
    "AciWebservice",
    "AksWebservice",
    "ClusterDeployment",
    "DockerDeployment",
    "Environment",
    "InferenceConfig",
    "KubernetesDeployment",
    "LocalDeployment",
    "LocalWebservice",
    "Model",
    "Webservice",
    "WebserviceException",
    "Workspace",
]

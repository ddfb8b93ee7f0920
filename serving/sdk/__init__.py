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
    DockerDeployment,
    InferenceConfig,
    LocalDeployment,
    LocalWebservice,
    Webservice,
    WebserviceException,
)
from serving.workspace import Workspace

__all__ = [
    "AciWebservice",
    "DockerDeployment",
    "Environment",
    "InferenceConfig",
    "LocalDeployment",
    "LocalWebservice",
    "Model",
    "Webservice",
    "WebserviceException",
    "Workspace",
]

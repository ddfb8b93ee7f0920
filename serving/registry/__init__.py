"""Records of models, environments and endpoints in a workspace's SQLite database."""

from serving.registry.endpoints import EndpointRecord, EndpointRegistry
from serving.registry.environments import EnvironmentRecord, EnvironmentRegistry
from serving.registry.models import ModelFile, ModelRecord, ModelRegistry
from serving.registry.names import Ref, parse_ref

__all__ = [
    "EndpointRecord",
    "EndpointRegistry",
    "EnvironmentRecord",
    "EnvironmentRegistry",
    "ModelFile",
    "ModelRecord",
    "ModelRegistry",
    "Ref",
    "parse_ref",
]

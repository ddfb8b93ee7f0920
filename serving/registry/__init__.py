"""Records of models, environments, images and endpoints in a workspace's SQLite database."""

from serving.registry.endpoints import EndpointRecord, EndpointRegistry
from serving.registry.environments import EnvironmentRecord, EnvironmentRegistry
from serving.registry.images import ImageRecord, ImageRegistry
from serving.registry.models import ModelFile, ModelRecord, ModelRegistry
from serving.registry.names import Ref, parse_ref

__all__ = [
    "EndpointRecord",
    "EndpointRegistry",
    "EnvironmentRecord",
    "EnvironmentRegistry",
    "ImageRecord",
    "ImageRegistry",
    "ModelFile",
    "ModelRecord",
    "ModelRegistry",
    "Ref",
    "parse_ref",
]

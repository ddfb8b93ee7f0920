"""Azure IoT Edge deployment manifests (schema 1.1): generated from an edge deployment and
checked against the documented structure.

The generator writes ``$edgeAgent`` (docker runtime, registry credentials as
``$CONTAINER_REGISTRY_*`` placeholders to fill at deploy time, never real secrets, the
system modules, the model module started in edge mode, and the simulated sensor if asked),
``$edgeHub`` (the routes, store-and-forward time to live) and the module's twin.
``createOptions`` is Docker's ContainerCreate JSON as a string, split at 512 characters into
``createOptions01`` ... as the edge agent requires.

Hand-written validation, not a JSON Schema library: the rules (string chunks that must
join into JSON, route text, placeholders for secrets, cross references between routes and
modules) are not expressible in a schema alone, and they are few.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serving.edge.containers import edge_command
from serving.edge.runtime.settings import DEFAULT_TTL_S
from serving.edge.spec import SENSOR_MODULE
from serving.errors import UserInputError
from serving.images.dockerfile import APP_ROOT

CHUNK = 512
MAX_CHUNKS = 8
MAX_MODULES = 50
SCHEMA_VERSIONS = ("1.0", "1.1")
STATUSES = ("running", "stopped")
RESTART_POLICIES = ("never", "on-failure", "on-unhealthy", "always")
PULL_POLICIES = ("on-create", "never")
EDGE_VERSION = "1.5"
REGISTRY_NAME = "modelregistry"
PLACEHOLDER = re.compile(r"^(\$[A-Z_][A-Z0-9_]*|\$\{[A-Z_][A-Z0-9_]*\}|<[^<>]+>)$")
ROUTE_TEXT = re.compile(r"^\s*FROM\s+/\S*\s+(WHERE\s+.+\s+)?INTO\s+(?P<sink>.+?)\s*$", re.I | re.S)
SINK_MODULE = re.compile(r'^BrokeredEndpoint\(\s*"/modules/(?P<module>[^/"]+)/inputs/[^/"]+"\s*\)$')


@dataclass(frozen=True)
class ManifestInput:
    """What a manifest is generated from."""

    module: str
    image: str
    """The image as the device pulls it (``<registry>/serving/edge-NAME:1``)."""
    routes: Mapping[str, str]
    ttl_s: float = DEFAULT_TTL_S
    sensor: bool = False
    env: Mapping[str, str] | None = None


def split_create_options(options: Mapping[str, Any]) -> dict[str, str]:
    """``createOptions``, ``createOptions01``, ...: the JSON text in 512-character chunks."""
    text = json.dumps(options, separators=(",", ":"), sort_keys=True)
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or ["{}"]
    if len(chunks) > MAX_CHUNKS:
        raise UserInputError(
            f"createOptions is {len(text)} characters; the edge agent takes {CHUNK * MAX_CHUNKS}"
        )
    return {
        ("createOptions" if i == 0 else f"createOptions{i:02d}"): c for i, c in enumerate(chunks)
    }


def _module(
    image: str, order: int, options: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    module: dict[str, Any] = {
        "version": "1.0",
        "type": "docker",
        "status": "running",
        "restartPolicy": "always",
        "startupOrder": order,
        "settings": {"image": image, **split_create_options(options)},
    }
    if env:
        module["env"] = {key: {"value": value} for key, value in sorted(env.items())}
    return module


def model_create_options() -> dict[str, Any]:
    """The model image in edge mode; health and metrics on 5001."""
    return {
        "Cmd": edge_command()[1:],
        "Entrypoint": edge_command()[:1],
        "WorkingDir": APP_ROOT,
        "HostConfig": {"PortBindings": {"5001/tcp": [{"HostPort": "5001"}]}},
    }


def generate(spec: ManifestInput) -> dict[str, Any]:
    """The whole manifest, ``{"modulesContent": {...}}``."""
    hub_ports = {p: [{"HostPort": p.split("/")[0]}] for p in ("443/tcp", "5671/tcp", "8883/tcp")}
    env = {"AML_APP_ROOT": APP_ROOT, "SERVING_EDGE_MODULE": spec.module, **(spec.env or {})}
    modules = {spec.module: _module(spec.image, 1, model_create_options(), env)}
    if spec.sensor:
        image = f"mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:{EDGE_VERSION}"
        modules[SENSOR_MODULE] = _module(image, 2, {}, {})
    agent = {
        "schemaVersion": "1.1",
        "runtime": {
            "type": "docker",
            "settings": {
                "minDockerVersion": "v1.25",
                "loggingOptions": "",
                "registryCredentials": {
                    REGISTRY_NAME: {
                        "username": "$CONTAINER_REGISTRY_USERNAME",
                        "password": "$CONTAINER_REGISTRY_PASSWORD",
                        "address": "$CONTAINER_REGISTRY_ADDRESS",
                    }
                },
            },
        },
        "systemModules": {
            "edgeAgent": {
                "type": "docker",
                "settings": {
                    "image": f"mcr.microsoft.com/azureiotedge-agent:{EDGE_VERSION}",
                    "createOptions": "{}",
                },
            },
            "edgeHub": {
                "type": "docker",
                "status": "running",
                "restartPolicy": "always",
                "startupOrder": 0,
                "settings": {
                    "image": f"mcr.microsoft.com/azureiotedge-hub:{EDGE_VERSION}",
                    **split_create_options({"HostConfig": {"PortBindings": hub_ports}}),
                },
            },
        },
        "modules": modules,
    }
    hub = {
        "schemaVersion": "1.1",
        "routes": dict(spec.routes),
        "storeAndForwardConfiguration": {"timeToLiveSecs": int(spec.ttl_s)},
    }
    return {
        "modulesContent": {
            "$edgeAgent": {"properties.desired": agent},
            "$edgeHub": {"properties.desired": hub},
            spec.module: {"properties.desired": {}},
        }
    }

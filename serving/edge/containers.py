"""Names and ``containers.run`` keyword arguments of an edge deployment's containers, as pure
functions (unit-tested): the module, the router and the simulated sensor all run the model
image, each with its own command (the image's edge-mode switch)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from serving.deploy.toolkit import LOG_CONFIG, LOOPBACK
from serving.edge.runtime.settings import DATA_DIR, EdgeSettings
from serving.edge.spec import EDGE_LABEL, SENSOR_MODULE, WORKSPACE_LABEL
from serving.images.dockerfile import ENV_PYTHON
from serving.images.model import CONTAINER_PORT

EDGE_MODULE = "serving.edge.runtime"
ROUTER_MODULE = "serving.edge.runtime.router"
SENSOR_PROGRAM = "serving.edge.runtime.sensor"


def edge_command(program: str = EDGE_MODULE) -> list[str]:
    """The command that starts a model image in edge mode (or as router or sensor)."""
    return [ENV_PYTHON, "-m", program]


def network_name(name: str) -> str:
    return f"serving-edge-{name}"


def container_name(name: str, role: str) -> str:
    return f"serving-edge-{name}-{role}"


def edge_labels(name: str, workspace: str, role: str) -> dict[str, str]:
    return {EDGE_LABEL: name, WORKSPACE_LABEL: workspace, "serving.role": role}


def _common(
    image: str, name: str, workspace: str, role: str, env: dict[str, str]
) -> dict[str, Any]:
    return {
        "image": image,
        "name": container_name(name, role),
        "environment": env,
        "network": network_name(name),
        "restart_policy": {"Name": "unless-stopped"},
        "labels": edge_labels(name, workspace, role),
        "log_config": LOG_CONFIG,
        "detach": True,
    }


def module_kwargs(
    image: str, workspace: str, settings: EdgeSettings, data: Path, status_port: int
) -> dict[str, Any]:
    """The model module: the outbox on a host folder (run as the calling user, who owns
    it), health and metrics published on 127.0.0.1:``status_port``."""
    kwargs = _common(image, settings.device, workspace, settings.module, settings.to_env())
    kwargs.update(
        command=edge_command(),
        user=f"{os.getuid()}:{os.getgid()}",
        volumes={str(data): {"bind": DATA_DIR, "mode": "rw"}},
        ports={f"{CONTAINER_PORT}/tcp": (LOOPBACK, status_port)},
    )
    return kwargs


def router_kwargs(image: str, workspace: str, settings: EdgeSettings) -> dict[str, Any]:
    """The router: the routes come in the settings (``SERVING_EDGE_ROUTES``)."""
    kwargs = _common(image, settings.device, workspace, "router", settings.to_env())
    kwargs["command"] = edge_command(ROUTER_MODULE)
    return kwargs


def sensor_kwargs(
    image: str, workspace: str, settings: EdgeSettings, interval_s: float
) -> dict[str, Any]:
    env = {**settings.to_env(), "SENSOR_INTERVAL_S": f"{interval_s:g}"}
    kwargs = _common(image, settings.device, workspace, SENSOR_MODULE, env)
    kwargs["command"] = edge_command(SENSOR_PROGRAM)
    return kwargs

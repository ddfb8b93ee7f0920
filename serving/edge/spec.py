"""What an edge deployment is made of (typed, checked once where it enters: CLI or SDK) and
the record kept of it in the workspace (``edge/<name>/deployment.json``, replaced
atomically)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from serving.edge.runtime.routes import Route, parse_routes
from serving.edge.runtime.settings import DEFAULT_TTL_S
from serving.edge.runtime.topics import DEFAULT_INPUT, DEFAULT_OUTPUT, DEFAULT_PREFIX
from serving.environments import EnvSpec
from serving.errors import NotFoundError, ServingError, UserInputError
from serving.registry.names import check_service_name
from serving.workspace import Workspace

MODULE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,62}$")
DEFAULT_MODULE = "machinelearningmodule"
SENSOR_MODULE = "tempSensor"
RECORD_NAME = "deployment.json"
EDGE_LABEL = "serving.edge"
WORKSPACE_LABEL = "serving.workspace"
EDGE_REQUIREMENT = "paho-mqtt>=2.0"
"""Added to the module's environment: the bridge's MQTT client."""


def default_routes(module: str, output: str, input_name: str, sensor: bool) -> dict[str, str]:
    """The tutorial's routes: model output to ``$upstream`` and, with the simulated sensor,
    sensor to the model's input."""
    routes = {
        f"{module}ToUpstream": f"FROM /messages/modules/{module}/outputs/{output} INTO $upstream"
    }
    if sensor:
        routes["sensorTo" + module[:1].upper() + module[1:]] = (
            f"FROM /messages/modules/{SENSOR_MODULE}/outputs/temperatureOutput "
            f'INTO BrokeredEndpoint("/modules/{module}/inputs/{input_name}")'
        )
    return routes


@dataclass(frozen=True)
class EdgeSpec:
    """One edge deployment: a model module, its broker, routes and (optionally) a sensor."""

    name: str
    models: tuple[str, ...]
    entry_script: Path
    env: str | EnvSpec
    source_dir: Path | None = None
    module: str = DEFAULT_MODULE
    input: str = DEFAULT_INPUT
    output: str = DEFAULT_OUTPUT
    routes: dict[str, str] | None = None
    """Route name -> route text; None: :func:`default_routes`."""
    ttl_s: float = DEFAULT_TTL_S
    outbox_max: int = 100_000
    sensor: bool = False
    sensor_interval_s: float = 5.0
    broker_port: int = 0
    """127.0.0.1 port of the broker (0: a free one)."""
    upstream_bridge: str | None = None
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_service_name(self.name)
        names = [self.module, self.input, self.output]
        if self.sensor:
            names.append(SENSOR_MODULE)
        for value in names:
            if not MODULE_NAME.match(value):
                raise UserInputError(f"invalid module, input or output name {value!r}")
        if self.sensor and self.module == SENSOR_MODULE:
            raise UserInputError(f"the model module cannot be named {SENSOR_MODULE}")
        if self.ttl_s <= 0 or self.outbox_max <= 0:
            raise UserInputError("--ttl and --outbox-max must be positive")
        self.parsed_routes()

    @property
    def route_map(self) -> dict[str, str]:
        if self.routes is not None:
            return dict(self.routes)
        return default_routes(self.module, self.output, self.input, self.sensor)

    def parsed_routes(self) -> list[Route]:
        return parse_routes(self.route_map)


@dataclass
class EdgeRecord:
    """What was deployed: names, ports and the image, for show/logs/send/listen/delete."""

    name: str
    workspace: str
    device: str
    prefix: str
    module: str
    input: str
    output: str
    error_output: str
    routes: dict[str, str]
    image: str = ""
    broker_port: int = 0
    status_port: int = 0
    containers: dict[str, str] = field(default_factory=dict)
    """Role (broker, module, router, sensor) -> container name."""
    network: str = ""
    state: str = "Transitioning"
    ttl_s: float = DEFAULT_TTL_S

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def edge_folder(ws: Workspace, name: str) -> Path:
    return ws.path / "edge" / name


def save_record(ws: Workspace, record: EdgeRecord) -> None:
    folder = edge_folder(ws, record.name)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{RECORD_NAME}.tmp"
    tmp.write_text(record.to_json())
    os.replace(tmp, folder / RECORD_NAME)


def load_record(ws: Workspace, name: str) -> EdgeRecord:
    path = edge_folder(ws, name) / RECORD_NAME
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFoundError(
            f"no edge deployment named {name!r}", hint="see 'serving edge list'"
        ) from None
    except ValueError as exc:
        raise ServingError(f"the record of edge deployment {name!r} is damaged: {exc}") from None
    return EdgeRecord(**data)


def list_records(ws: Workspace) -> list[EdgeRecord]:
    root = ws.path / "edge"
    if not root.is_dir():
        return []
    return [load_record(ws, p.parent.name) for p in sorted(root.glob(f"*/{RECORD_NAME}"))]

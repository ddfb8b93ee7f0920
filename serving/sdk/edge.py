"""Edge deployments in the SDK, shaped like Azure ML v1's ``IotWebservice``::

    config = IotWebservice.deploy_configuration(
        routes={"toUpstream": "FROM /messages/modules/machinelearningmodule/outputs/amlOutput "
                              "INTO $upstream"},
        aml_module=IotBaseModuleSettings(name="machinelearningmodule"),
    )                         # or EdgeDeployment(module_name=..., routes=..., sensor=True)
    service = Model.deploy(ws, "temp-anomaly", [model], inference_config, config)
    service.send('{"machine": ...}'); print(service.listen(count=1))
    service.write_manifest("deployment.json")

As in v1, an IoT service has no scoring URI and no ``run()`` (messages go through the
broker), and ``update()`` is not supported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.edge import client, lifecycle
from serving.edge.manifest import ManifestInput, generate
from serving.edge.manifest_check import require_valid
from serving.edge.runtime.settings import DEFAULT_TTL_S
from serving.edge.runtime.topics import Topics
from serving.edge.spec import DEFAULT_MODULE, EdgeSpec, list_records, load_record
from serving.errors import UserInputError
from serving.workspace import Workspace

if TYPE_CHECKING:
    from serving.sdk.model import Model
    from serving.sdk.webservice import InferenceConfig

SENSOR_IMAGE_HINT = "simulated-temperature-sensor"


@dataclass
class IotBaseModuleSettings:
    """v1's settings of the model module (``name``; ``create_option`` and
    ``properties_desired`` are kept for the manifest's sake)."""

    name: str = DEFAULT_MODULE
    env: Mapping[str, str] | None = None
    create_option: str | None = None
    properties_desired: Mapping[str, Any] | None = None


@dataclass
class IotModuleSettings:
    """v1's other modules; only the simulated temperature sensor runs here."""

    name: str
    image_location: str


@dataclass
class EdgeDeployment:
    """How to run the model as an edge module (the ``deployment_config`` of Model.deploy)."""

    module_name: str = DEFAULT_MODULE
    routes: dict[str, str] | None = None
    """Route name -> IoT Edge route text (None: model output to $upstream)."""
    ttl_s: float = DEFAULT_TTL_S
    outbox_max: int = 100_000
    sensor: bool = False
    sensor_interval_s: float = 5.0
    broker_port: int = 0
    upstream_bridge: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def deploy_models(
        self,
        workspace: Workspace,
        name: str,
        models: Sequence[Model],
        inference_config: InferenceConfig,
        *,
        overwrite: bool = False,
        show_output: bool = False,
    ) -> EdgeService:
        """Model.deploy's hook: build and start the edge deployment ``name``."""
        source = inference_config.source_directory
        spec = EdgeSpec(
            name,
            tuple(m.id for m in models),
            Path(inference_config.entry_script),
            inference_config.env_value(),
            Path(source) if source else None,
            module=self.module_name,
            routes=self.routes,
            ttl_s=self.ttl_s,
            outbox_max=self.outbox_max,
            sensor=self.sensor,
            sensor_interval_s=self.sensor_interval_s,
            broker_port=self.broker_port,
            upstream_bridge=self.upstream_bridge,
        )
        if overwrite and any(r.name == name for r in list_records(workspace)):
            lifecycle.delete(workspace, name, lambda _line: None)
        say = print if show_output else (lambda _line: None)
        lifecycle.deploy(workspace, spec, say)
        return EdgeService(workspace, name)


class IotWebservice:
    """v1's name for IoT Edge deployment configurations."""

    @staticmethod
    def deploy_configuration(
        device_id: str | None = None,
        routes: Mapping[str, str] | None = None,
        aml_module: IotBaseModuleSettings | None = None,
        external_modules: Sequence[IotModuleSettings] | None = None,
        acr_credentials: Any = None,
        **_ignored: Any,
    ) -> EdgeDeployment:
        """An :class:`EdgeDeployment`; ``device_id`` and ``acr_credentials`` only matter on a
        real IoT Hub (manifests keep credentials as placeholders)."""
        sensor = False
        for module in external_modules or ():
            if SENSOR_IMAGE_HINT not in module.image_location:
                raise UserInputError(
                    f"external module {module.name!r} ({module.image_location}) cannot run "
                    "here: only the simulated temperature sensor is provided"
                )
            sensor = True
        return EdgeDeployment(
            module_name=(aml_module or IotBaseModuleSettings()).name,
            routes=dict(routes) if routes is not None else None,
            sensor=sensor,
        )


class EdgeService:
    """A deployed edge module: ``EdgeService(ws, name)`` gets an existing one."""

    scoring_uri = None
    swagger_uri = None

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        self.name = name
        self._record = load_record(workspace, name)

    @property
    def state(self) -> str:
        return self._record.state

    @property
    def topics(self) -> Topics:
        return Topics(self._record.device, self._record.prefix)

    def send(self, data: str | bytes, input_name: str | None = None) -> str:
        """Publish one message to the model module's input; its message id."""
        body = data.encode() if isinstance(data, str) else data
        record = self._record
        return client.send(record, record.module, input_name or record.input, [body])[0]

    def listen(
        self, count: int = 1, timeout_s: float = 30.0, output: str | None = None
    ) -> list[dict[str, Any]]:
        """Up to ``count`` messages from the module's output (topic, properties, body)."""
        topic = self.topics.output(self._record.module, output or self._record.output)
        found = client.listen(self._record, topic, count=count, timeout_s=timeout_s)
        return [message.as_dict() for message in found]

    def get_logs(self, role: str = "module", tail: int = 100) -> str:
        return lifecycle.logs(self.workspace, self.name, role, tail)

    def write_manifest(self, path: str | Path, image: str | None = None) -> Path:
        """An Azure IoT Edge deployment manifest for this deployment."""
        record = self._record
        image = image or f"$CONTAINER_REGISTRY_ADDRESS/{record.image}"
        doc = generate(ManifestInput(record.module, image, record.routes, record.ttl_s))
        require_valid(doc)
        out = Path(path)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        return out

    def delete(self) -> None:
        lifecycle.delete(self.workspace, self.name, lambda _line: None)

    def run(self, _input_data: Any = None) -> Any:
        raise UserInputError("Class does not support run method: send messages with send()")

    def update(self, *_args: Any, **_kwargs: Any) -> None:
        raise NotImplementedError("Update service not supported yet")

    def __repr__(self) -> str:
        return f"EdgeService(name={self.name!r}, state={self.state!r})"

"""The SDK's edge deployments: v1's IotWebservice configuration mapped onto EdgeDeployment,
and Model.deploy running the tutorial's script as a module (Docker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.edge.spec import DEFAULT_MODULE
from serving.errors import UserInputError
from serving.images.engine import docker_client
from serving.sdk.edge import (
    EdgeDeployment,
    EdgeService,
    IotBaseModuleSettings,
    IotModuleSettings,
    IotWebservice,
)
from tests.edge.harness import EDGE_ENV, ROOT

SENSOR = "mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.5"


def test_iot_webservice_configuration_maps_onto_an_edge_deployment() -> None:
    routes = {"up": "FROM /messages/modules/ml/outputs/amlOutput INTO $upstream"}
    config = IotWebservice.deploy_configuration(
        device_id="device-1",
        routes=routes,
        aml_module=IotBaseModuleSettings(name="ml"),
        external_modules=[IotModuleSettings("tempSensor", SENSOR)],
        acr_credentials=[object()],
    )
    assert config == EdgeDeployment(module_name="ml", routes=routes, sensor=True)
    assert IotWebservice.deploy_configuration().module_name == DEFAULT_MODULE


def test_other_external_modules_are_refused() -> None:
    with pytest.raises(UserInputError, match="cannot run here"):
        IotWebservice.deploy_configuration(
            external_modules=[IotModuleSettings("camera", "acme.azurecr.io/camera:1")]
        )


@pytest.mark.docker
def test_model_deploy_runs_the_tutorial_as_a_module(tmp_path: Path, base_image: str) -> None:
    from examples.edge.train import train
    from serving.sdk import InferenceConfig, Model
    from serving.sdk import Workspace as SdkWorkspace

    ws = SdkWorkspace.create(name="edge-sdk", path=tmp_path / "proj")
    train(str(tmp_path / "model.pkl"))
    model = Model.register(ws, model_path=str(tmp_path / "model.pkl"), model_name="model.pkl")
    config = InferenceConfig(
        entry_script=str(ROOT / "examples" / "edge" / "iot_score.py"), conda_file=str(EDGE_ENV)
    )
    deployment = EdgeDeployment(sensor=True, sensor_interval_s=0.2)
    service = Model.deploy(ws, "edge-sdk", [model], config, deployment)
    try:
        assert isinstance(service, EdgeService) and service.state == "Running"
        assert service.scoring_uri is None
        with pytest.raises(UserInputError, match="Class does not support run method"):
            service.run("{}")
        heard = service.listen(count=1, timeout_s=20)
        assert heard and "anomaly" in json.loads(heard[0]["body"][0])
        manifest = service.write_manifest(tmp_path / "deployment.json")
        assert "$edgeAgent" in json.loads(manifest.read_text())["modulesContent"]
    finally:
        service.delete()
        client = docker_client()
        for record in ws.images.list():  # its model image; the environment image stays
            client.images.remove(record.image_id, force=True)
        client.close()

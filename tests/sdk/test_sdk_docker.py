"""v1 notebooks that need the Docker Engine: the AKS flow (an AksCompute provisioned as the
cluster target on this machine, AksWebservice.deploy_configuration, deployment_target=,
run, keys) and Model.package (wait_for_creation, then save the build context)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.images.build import ImageBuilder
from serving.sdk import (
    AksCompute,
    AksWebservice,
    ComputeTarget,
    ComputeTargetException,
    Environment,
    InferenceConfig,
    Model,
    Webservice,
    Workspace,
)
from tests.helpers import DOCKER_TIMEOUT, SAMPLE
from tests.sdk.v1helpers import SCORE, digits_env

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(DOCKER_TIMEOUT)]


@pytest.mark.usefixtures("base_image")
def test_aks_notebook_flow(v1ws: Workspace, template_model: Path) -> None:
    model = Model.register(v1ws, model_path=str(template_model), model_name="digits")
    aks_name = "aks-digits"
    try:
        aks_target = ComputeTarget(workspace=v1ws, name=aks_name)
    except ComputeTargetException:
        prov_config = AksCompute.provisioning_configuration(agent_count=1)
        aks_target = ComputeTarget.create(v1ws, aks_name, prov_config)
        aks_target.wait_for_completion(show_output=True)
    inference_config = InferenceConfig(entry_script=str(SCORE), environment=digits_env())
    aks_config = AksWebservice.deploy_configuration(
        num_replicas=1, cpu_cores=1, memory_gb=1, auth_enabled=True
    )
    service = Model.deploy(
        workspace=v1ws, name="aks-digits-svc", models=[model],
        inference_config=inference_config, deployment_config=aks_config,
        deployment_target=aks_target, overwrite=True,
    )  # fmt: skip
    try:
        service.wait_for_deployment(show_output=True)
        assert service.state == "Healthy" and service.compute_type == "AKS"
        assert service.run(input_data=SAMPLE.read_text()) == [0]
        primary, secondary = service.get_keys()
        service.regen_key("Primary")
        assert service.get_keys() == (service.get_keys()[0], secondary)
        assert service.get_keys()[0] != primary
        assert service.run(SAMPLE.read_text()) == [0]  # with the new key
        assert [s.name for s in Webservice.list(v1ws, compute_type="AKS")] == ["aks-digits-svc"]
    finally:
        service.delete()
    aks_target.delete()


@pytest.mark.usefixtures("base_image")
def test_model_package_wait_then_save(
    v1ws: Workspace, template_model: Path, tmp_path: Path
) -> None:
    model = Model.register(v1ws, str(template_model), "digits")
    config = InferenceConfig(entry_script=str(SCORE), environment=digits_env())
    package = Model.package(v1ws, [model], config, generate_dockerfile=True)
    package.wait_for_creation(show_output=True)
    saved = Path(package.save(tmp_path / "context"))
    assert (saved / "Dockerfile").is_file()
    assert package.location is None and package.pull() is None  # a Dockerfile package


def test_environment_base_image_is_honoured(
    v1ws: Workspace, base_image: str, engine: DockerClient
) -> None:
    """v1's env.docker.base_image: the environment's images are built on it."""
    custom = "example.local/team-python:3.11"
    engine.images.get(base_image).tag(custom)
    env = Environment("custom-base")
    env.docker.base_image = custom
    builder = ImageBuilder(v1ws)
    try:
        flavour = builder.flavour(env.spec, "auto", lambda _line: None)
    finally:
        builder.release()
    assert flavour.base.ref == custom and flavour.base.source == "configured"


def test_base_dockerfile_steps_run_on_the_environment_image(
    v1ws: Workspace, base_image: str, engine: DockerClient
) -> None:
    """v1's env.docker.base_dockerfile: FROM is the base, the other lines run on top."""
    env = Environment("extra-steps")
    env.docker.base_dockerfile = f"FROM {base_image}\nRUN echo built-here > /opt/extra-step.txt\n"
    builder = ImageBuilder(v1ws)
    try:
        flavour = builder.flavour(env.spec, "auto", lambda _line: None)
        image = builder.environment(env.spec, flavour, lambda _line: None)
    finally:
        builder.release()
    out = engine.containers.run(
        image.image_id, ["cat", "/opt/extra-step.txt"], entrypoint="", remove=True
    )
    assert out.strip() == b"built-here"
    assert engine.images.get(image.image_id).attrs["Config"]["User"] == "10001"

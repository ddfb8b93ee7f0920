"""AKS compute as a named deployment target: provisioning and attach configurations, the
find-or-create idiom, listing, and what a deployment on it becomes."""

from __future__ import annotations

import pytest

from serving.sdk import (
    AksCompute,
    AksWebservice,
    ComputeTarget,
    ComputeTargetException,
    KubernetesDeployment,
    LocalWebservice,
    Workspace,
)
from serving.sdk.configs import ClusterDeployment
from serving.sdk.webservice import _on_target


def _find_or_create(ws: Workspace, name: str) -> ComputeTarget:
    try:
        target = ComputeTarget(workspace=ws, name=name)
        print("Found existing cluster, use it.")
    except ComputeTargetException:
        config = AksCompute.provisioning_configuration(agent_count=2, vm_size="Standard_D3_v2")
        target = ComputeTarget.create(ws, name, config)
    target.wait_for_completion(show_output=True)
    return target


def test_find_or_create_idiom(v1ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    first = _find_or_create(v1ws, "aks-cluster")
    assert isinstance(first, AksCompute) and first.type == "AKS"
    assert first.deployment_target == "cluster" and first.agent_count == 2
    again = _find_or_create(v1ws, "aks-cluster")
    assert isinstance(again, AksCompute) and "Found existing cluster" in capsys.readouterr().out
    assert again.provisioning_state == "Succeeded"
    assert again.get_status().serialize()["provisioningState"] == "Succeeded"
    assert list(v1ws.compute_targets) == ["aks-cluster"]
    assert [t.name for t in ComputeTarget.list(v1ws)] == ["aks-cluster"]
    again.delete()
    with pytest.raises(ComputeTargetException, match="not found"):
        ComputeTarget(v1ws, "aks-cluster")


def test_provisioning_warns_about_azure_networking(v1ws: Workspace) -> None:
    with pytest.warns(UserWarning, match="location, vnet_name have no effect"):
        AksCompute.provisioning_configuration(location="eastus", vnet_name="net")


def test_attach_is_a_kubernetes_context(v1ws: Workspace) -> None:
    with pytest.warns(UserWarning, match="resource_group have no effect"):
        config = AksCompute.attach_configuration(resource_group="rg", cluster_name="kind-dev")
    target = ComputeTarget.attach(v1ws, "k8s", config)
    assert isinstance(target, AksCompute) and target.context == "kind-dev"
    deployment = _on_target(AksWebservice.deploy_configuration(num_replicas=3), target)
    assert isinstance(deployment, KubernetesDeployment)
    assert deployment.context == "kind-dev" and deployment.replicas == 3


def test_deployment_target_with_other_configs(v1ws: Workspace) -> None:
    target = ComputeTarget.create(v1ws, "aks", AksCompute.provisioning_configuration())
    config = AksWebservice.deploy_configuration(cpu_cores=1, memory_gb=1)
    assert _on_target(config, target) is config and isinstance(config, ClusterDeployment)
    with pytest.warns(UserWarning, match="deployment_target='aks' is used only with"):
        _on_target(LocalWebservice.deploy_configuration(), target)


def test_deploy_configuration_warns_naming_ignored_arguments() -> None:
    with pytest.warns(UserWarning, match="enable_app_insights, tags not supported here"):
        AksWebservice.deploy_configuration(enable_app_insights=True, tags={"a": "b"})

"""``--autoscale`` on the kubernetes target: the HorizontalPodAutoscaler takes the policy's
bounds and target and the cool-down as its scale-down window, and passes the typed
validation; without it the HPA is what it was. No cluster is needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.catalog import parse_env_file
from serving.deploy.base import DeployRequest
from serving.deploy.kubernetes.manifests import manifests
from serving.deploy.kubernetes.target import kubernetes_spec
from serving.deploy.kubernetes.validate import validate_all
from serving.deploy.spec import AutoscalePolicy, DeploymentSpec, ReplicaPolicy
from serving.errors import UserInputError
from serving.workspace import Workspace
from tests.helpers import SKLEARN

IMAGE = "registry.example.com/team/serving/digits-svc:1"


def _hpa(ws: Workspace, tmp_path: Path, deployment: DeploymentSpec) -> dict[str, Any]:
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(b"only its record is needed")
    request = DeployRequest(
        name="digits-svc",
        models=(ws.models.register(model_file, "digits"),),
        entry_script=SKLEARN / "score.py",
        source_dir=None,
        env=parse_env_file(SKLEARN / "env.yml"),
        keys=("k1", "k2"),
        deployment=deployment,
    )
    docs = manifests(kubernetes_spec(request, IMAGE))
    validate_all(docs)
    by_kind = {doc["kind"]: doc for doc in docs}
    assert (
        by_kind["Deployment"]["spec"]["replicas"]
        == by_kind["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    )
    return by_kind["HorizontalPodAutoscaler"]


def test_autoscale_bounds_target_and_cool_down_go_to_the_hpa(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_AUTOSCALE_COOLDOWN_S", "45")
    policy = AutoscalePolicy(True, min_replicas=2, max_replicas=6, target_utilization=55)
    hpa = _hpa(ws, tmp_path, DeploymentSpec(autoscale=policy))
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 6)
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 55
    assert spec["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 45}}


def test_autoscale_defaults_are_azures(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERVING_AUTOSCALE_COOLDOWN_S", raising=False)
    hpa = _hpa(ws, tmp_path, DeploymentSpec(autoscale=AutoscalePolicy(True)))
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 10)
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60


def test_without_autoscale_the_hpa_is_unchanged(ws: Workspace, tmp_path: Path) -> None:
    hpa = _hpa(ws, tmp_path, DeploymentSpec(replicas=ReplicaPolicy(replicas=3)))
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 10)
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert "behavior" not in spec


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_a_bad_cool_down_is_one_line(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SERVING_AUTOSCALE_COOLDOWN_S", value)
    with pytest.raises(UserInputError, match="SERVING_AUTOSCALE_COOLDOWN_S must be 0 or more"):
        _hpa(ws, tmp_path, DeploymentSpec(autoscale=AutoscalePolicy(True)))

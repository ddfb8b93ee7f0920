"""Auth defaults per target (AKS-like targets on, ACI-like off) in the service, the SDK's
deployment configurations and the CLI, and ``SERVING_AUTH`` set explicitly everywhere."""

from __future__ import annotations

from pathlib import Path

from serving.deploy.base import DeployRequest
from serving.deploy.cluster.pool import replica_kwargs
from serving.deploy.cluster.state import ClusterState, Limits, Member
from serving.deploy.containers import RunSpec, run_kwargs
from serving.deploy.kubernetes.target import kubernetes_spec
from serving.deploy.service import default_auth
from serving.environments import EnvSpec
from serving.sdk import (
    AciWebservice,
    AksWebservice,
    ClusterDeployment,
    DockerDeployment,
    KubernetesDeployment,
    LocalDeployment,
    LocalWebservice,
)


def test_auth_is_on_by_default_for_cluster_and_kubernetes_only() -> None:
    assert [default_auth(t) for t in ("local", "docker", "cluster", "kubernetes")] == [
        False,
        False,
        True,
        True,
    ]
    assert not LocalDeployment().auth_enabled and not DockerDeployment().auth_enabled
    assert not LocalWebservice.deploy_configuration().auth_enabled
    assert not AciWebservice.deploy_configuration().auth_enabled
    assert ClusterDeployment().auth_enabled and KubernetesDeployment().auth_enabled
    assert AksWebservice.deploy_configuration().auth_enabled
    assert not AksWebservice.deploy_configuration(auth_enabled=False).auth_enabled


def test_cli_auth_flag_defaults_to_the_targets_choice() -> None:
    from serving.cli.endpoints import deploy

    option = next(p for p in deploy.params if p.name == "auth")
    assert option.default is None  # --auth / --no-auth override; neither: the target decides


def test_every_server_environment_says_serving_auth(tmp_path: Path) -> None:
    spec = RunSpec("serving-e", "img", 8000, 1, 1, None, None)
    assert run_kwargs(spec, "e", ["k"], "/ws")["environment"]["SERVING_AUTH"] == "key"
    assert run_kwargs(spec, "e", [], "/ws")["environment"]["SERVING_AUTH"] == "none"
    mounted = run_kwargs(spec, "e", [], "/ws", keys_folder=tmp_path, auth=True)
    assert mounted["environment"]["SERVING_AUTH"] == "key"
    state = ClusterState("e", "/ws", 1, 1, "img", "t", 9, spec.to_dict(), Limits())
    assert state.auth == "key"  # a state file from before the field fails closed
    replica = replica_kwargs(state, 1, Member(1, "img"), tmp_path)
    assert replica["environment"]["SERVING_AUTH"] == "key"
    state.auth = "none"
    replica = replica_kwargs(state, 1, Member(1, "img"), tmp_path)
    assert replica["environment"]["SERVING_AUTH"] == "none"
    request = DeployRequest(
        "e", (), tmp_path / "score.py", None, EnvSpec("e", "3.11"), keys=("a", "b")
    )
    assert kubernetes_spec(request, "img").env["SERVING_AUTH"] == "key"
    keyless = DeployRequest("e", (), tmp_path / "score.py", None, EnvSpec("e", "3.11"))
    assert kubernetes_spec(keyless, "img").env["SERVING_AUTH"] == "none"

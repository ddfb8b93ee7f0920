"""The cluster target's pure parts: HAProxy configuration, error pages, runtime API parsing,
container arguments, state and options (no Docker needed)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from serving.deploy import service
from serving.deploy.base import DeployRequest
from serving.deploy.cluster.balancer import balancer_kwargs, import_changes
from serving.deploy.cluster.haproxy import (
    ERRORS,
    LISTEN_PORT,
    REPLICA_PORT,
    ServerStatus,
    error_page,
    haproxy_config,
    parse_stat,
)
from serving.deploy.cluster.pool import keys_dir, replica_kwargs
from serving.deploy.cluster.state import (
    SLOTS,
    ClusterState,
    Limits,
    Member,
    load_state,
    save_state,
    state_file,
)
from serving.deploy.cluster.supervisor import why_replace
from serving.deploy.cluster.target import cluster_options, write_keys
from serving.deploy.spec import DeploymentSpec
from serving.deploy.toolkit import KEYS_MOUNT
from serving.environments import EnvSpec
from serving.errors import UserInputError
from serving.images.model import CONTAINER_PORT
from serving.server.handler import ROUTES
from serving.workspace import Workspace

STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,\
wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,\
lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,
replicas,r1,0,0,1,1,1,10,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,12,0,,1,3,1,,10,,2,0,,1,L7OK,200,
replicas,r2,2,3,1,1,1,5,0,0,,0,,0,0,0,0,DOWN,1,1,0,0,0,30,0,,1,3,2,,5,,2,0,,1,L7STS,503,
replicas,r3,0,0,0,0,1,0,0,0,,0,,0,0,0,0,DRAIN,1,1,0,0,0,1,0,,1,3,3,,0,,2,0,,1,L7OK,200,
replicas,r4,0,0,0,0,1,0,0,0,,0,,0,0,0,0,MAINT (resolution),1,1,0,0,0,1,0,,1,3,4,,0,,2,0,,1,,,
replicas,BACKEND,0,0,2,2,1,15,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,40,0,,1,3,0,,15,,1,0,,1,,,
"""


def _state(**changes: Any) -> ClusterState:
    values: dict[str, Any] = {
        "endpoint": "digits-svc",
        "workspace": "/ws",
        "replicas": 2,
        "revision": 3,
        "image": "sha256:abc",
        "image_tag": "serving/digits-svc:3",
        "port": 18080,
        "run": {
            "name": "serving-digits-svc",
            "image": "sha256:abc",
            "port": 0,
            "workers": 1,
            "threads": 1,
            "nano_cpus": 500_000_000,
            "mem_limit": None,
        },
        "limits": Limits(max_concurrent=2, max_queue_wait_ms=750, scoring_timeout_ms=9000),
        "members": {1: Member(3, "sha256:abc"), 4: Member(3, "sha256:abc")},
    }
    values.update(changes)
    return ClusterState(**values)


def test_cluster_haproxy_config_limits_checks_and_slots() -> None:
    text = haproxy_config("digits-svc", Limits(2, 750, 9000), enabled={1, 4})
    assert "timeout queue 750ms" in text and "timeout server 14000ms" in text
    assert "maxconn 2 observe layer4 error-limit 1 on-error mark-down" in text
    assert "option httpchk GET /health/ready" in text and "/health/ready" in ROUTES
    assert "retry-on conn-failure empty-response" in text and "option redispatch 1" in text
    assert "retries 6" in text and "balance roundrobin" in text
    assert f"bind :{LISTEN_PORT}" in text and REPLICA_PORT == CONTAINER_PORT
    servers = [line.split() for line in text.splitlines() if line.strip().startswith("server ")]
    assert len(servers) == SLOTS
    assert servers[0][1:3] == ["r1", f"serving-digits-svc-r1:{CONTAINER_PORT}"]
    enabled = {s[1] for s in servers if s[-1] != "disabled"}
    assert enabled == {"r1", "r4"}
    for status in ERRORS:
        assert f"errorfile {status} /srv/balancer/{status}.http" in text


@pytest.mark.parametrize("status", sorted(ERRORS))
def test_cluster_error_pages_are_json_http_answers(status: int) -> None:
    raw = error_page(status)
    head, _, body = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} ")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body.encode())
    assert json.loads(body)["message"]


def test_cluster_parse_stat_reads_replica_rows() -> None:
    rows = parse_stat(STAT)
    assert sorted(rows) == [1, 2, 3, 4]
    assert rows[1].serving and rows[1].in_flight == 1 and rows[1].since_s == 12
    assert rows[2].failing and not rows[2].idle and rows[2].queued == 2
    assert rows[3].ready_to_enable and not rows[3].serving
    assert rows[4].status == "MAINT (resolution)" and not rows[4].failing


def test_cluster_replica_container_arguments(tmp_path: Path) -> None:
    state = _state()
    kwargs = replica_kwargs(state, 4, Member(3, "sha256:abc"), tmp_path)
    assert "ports" not in kwargs and kwargs["name"] == "serving-digits-svc-r4"
    assert kwargs["network"] == "serving-digits-svc"
    assert kwargs["volumes"] == {str(tmp_path): {"bind": KEYS_MOUNT, "mode": "ro"}}
    env = kwargs["environment"]
    assert env["SERVING_KEYS"] == "" and env["SERVING_KEYS_FILE"] == f"{KEYS_MOUNT}/keys"
    assert env["SERVING_REPLICA_ID"] == "digits-svc-r4-rev3"
    assert env["SCORING_TIMEOUT_MS"] == "9000"
    assert kwargs["nano_cpus"] == 500_000_000
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert kwargs["log_config"]["config"]["max-size"] == "20m"
    assert kwargs["labels"]["serving.role"] == "replica"
    assert kwargs["labels"]["serving.slot"] == "4" and kwargs["labels"]["serving.revision"] == "3"
    assert f"0.0.0.0:{CONTAINER_PORT}" in kwargs["command"]


def test_cluster_balancer_publishes_loopback_only(tmp_path: Path) -> None:
    kwargs = balancer_kwargs("digits-svc", "/ws", tmp_path, 18080, "serving-balancer:x")
    assert kwargs["ports"] == {f"{LISTEN_PORT}/tcp": ("127.0.0.1", 18080)}
    assert kwargs["user"] == f"{os.getuid()}:{os.getgid()}"
    assert kwargs["network"] == "serving-digits-svc"
    assert kwargs["labels"]["serving.role"] == "balancer"
    assert any(change.startswith("CMD") for change in import_changes("bookworm", "http://m"))


def test_cluster_state_round_trip_and_free_slot() -> None:
    state = _state()
    again = ClusterState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert state.free_slot() == 2 and state.free_slot({2, 3}) == 5


@pytest.mark.parametrize(("keys", "auth"), [([], "none"), (["k1", "k2"], "key"), (None, "key")])
def test_a_state_written_before_auth_runs_replicas_as_its_keys_file_says(
    tmp_path: Path, keys: list[str] | None, auth: str
) -> None:
    """An endpoint deployed without keys (an empty keys file) keeps answering without one
    after a heal, scale or rolling update; a missing keys file fails closed."""
    folder = tmp_path / "cluster"
    old = _state().to_dict()
    del old["auth"]
    folder.mkdir()
    state_file(folder).write_text(json.dumps(old))  # as a release before the field wrote
    if keys is not None:
        write_keys(folder, keys)
    state = load_state(folder)
    assert state is not None and state.auth == auth
    env = replica_kwargs(state, 1, Member(3, "sha256:abc"), keys_dir(folder))["environment"]
    assert env["SERVING_AUTH"] == auth
    # a state that says it keeps saying it, whatever the keys file holds
    save_state(folder, dataclasses.replace(state, auth="none"))
    write_keys(folder, ["k1"])
    loaded = load_state(folder)
    assert loaded is not None and loaded.auth == "none"


def _request(**options: Any) -> DeployRequest:
    return DeployRequest(
        name="digits-svc",
        models=(),
        entry_script=Path("score.py"),
        source_dir=None,
        env=EnvSpec(name="x", python="3.11", requirements=()),
        workers=2,
        deployment=DeploymentSpec.from_options(options),
    )


def test_cluster_options_defaults_and_errors() -> None:
    replicas, limits, heal = cluster_options(_request())
    assert replicas == 2 and limits == Limits(2, 500, 60000) and heal == 20.0
    replicas, limits, _ = cluster_options(
        _request(replicas=3, max_concurrent_requests=1, max_queue_wait_ms=100)
    )
    assert replicas == 3 and limits.max_concurrent == 1 and limits.max_queue_wait_ms == 100
    for bad in ({"replicas": 0}, {"replicas": 17}, {"max_queue_wait_ms": 0}):
        with pytest.raises(UserInputError):
            cluster_options(_request(**bad))


def _container(status: str, code: int = 0) -> Any:
    return SimpleNamespace(status=status, attrs={"State": {"ExitCode": code}})


def test_cluster_supervisor_decides_what_to_replace() -> None:
    state = _state(heal_after_s=10.0)
    up = ServerStatus(1, "UP", "L7OK", 0, 0, 100)
    down_idle = ServerStatus(1, "DOWN", "L7TOUT", 0, 0, 11)
    down_busy = ServerStatus(1, "DOWN", "L7TOUT", 1, 0, 11)
    assert why_replace(None, up, state) == "its container is gone"
    assert "exit code 137" in str(why_replace(_container("exited", 137), None, state))
    assert why_replace(_container("running"), up, state) is None
    assert "11 s" in str(why_replace(_container("running"), down_idle, state))
    assert why_replace(_container("running"), down_busy, state) is None  # busy: scoring time


def test_cluster_options_belong_to_their_target(cli: Any) -> None:
    common = ["deploy", "x-svc", "-m", "m:1", "--entry-script", "s.py", "--env", "e.yml"]
    result = cli(*common, "--target", "docker", "--replicas", "2")
    assert result.code == 2 and "--replicas applies to --target cluster or kubernetes" in result.err
    result = cli(*common, "--target", "cluster", "--output", "out")
    assert result.code == 2 and "--output applies to --target kubernetes" in result.err


def test_cluster_scale_refuses_single_server_targets(ws: Workspace) -> None:
    ws.endpoints.create("one-svc", "local", {}, [], [])
    with pytest.raises(UserInputError, match="which has one server"):
        service.scale(ws, "one-svc", 3)
    assert service.replicas(ws, "one-svc") == []

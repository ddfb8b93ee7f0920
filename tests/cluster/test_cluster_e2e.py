"""The cluster target end to end: real images, replica containers, HAProxy, real HTTP under
a bounded load (threads on loopback). One 3-replica endpoint is shared by the tests, in
order: spread and auth, keys, scaling, killing a replica, a hung replica, and last the
rolling update to model version 2; a second endpoint checks back-pressure and timeouts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from serving.deploy import service
from serving.deploy.spec import DeploymentSpec
from serving.registry import EndpointRecord
from serving.workspace import Workspace
from tests.cluster.cluster_load import Load, LoadResult
from tests.cluster.conftest import APP
from tests.helpers import DOCKER_TIMEOUT, ROOT, SAMPLE, SKLEARN, Cli, remove_workspace_debris

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]
NAME = "cl-digits"
BODY = SAMPLE.read_bytes()


@dataclass
class Endpoint:
    ws: Workspace
    name: str

    @property
    def record(self) -> EndpointRecord:
        return self.ws.endpoints.get(self.name)

    @property
    def uri(self) -> str:
        return str(self.record.scoring_uri)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.record.keys[0]}"}

    def post(self, body: bytes = BODY, **headers: str) -> requests.Response:
        return requests.post(
            self.uri,
            data=body,
            headers={"Content-Type": "application/json", **self.auth, **headers},
            timeout=30,
        )

    def load(self, clients: int = 3, limit_s: float = 90) -> Load:
        return Load(self.uri, BODY, self.auth, clients=clients, limit_s=limit_s)

    def ready_replicas(self) -> list[dict[str, Any]]:
        return [r for r in service.replicas(self.ws, self.name) if r["state"] == "Ready"]

    def wait_ready_count(self, count: int, timeout_s: float = 120) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = service.replicas(self.ws, self.name)
            ready = [r for r in rows if r["state"] == "Ready"]
            if len(ready) == count and len(rows) == count:
                return ready
            assert time.monotonic() < deadline, f"replicas never settled at {count}: {rows}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.open(tmp_path_factory.mktemp("cluster-ws"), create=True)


@pytest.fixture()
def ws_path(cluster_ws: Workspace) -> Path:
    """The ``cli`` fixture works on the module's workspace."""
    return cluster_ws.path


@pytest.fixture(scope="module")
def digits_ep(
    cluster_ws: Workspace, engine: DockerClient, base_image: str, template_model: Path
) -> Iterator[Endpoint]:
    """``cl-digits``: 3 replicas of model digits:1 with keys; a long queue wait so that only
    real failures (not back-pressure) count in the load tests; hung replicas healed fast."""
    cluster_ws.models.register(template_model, "digits")
    cluster_ws.models.register(template_model, "digits")
    service.deploy(
        cluster_ws,
        NAME,
        models=["digits:1"],
        entry_script=APP / "score.py",
        env=str(SKLEARN / "env.yml"),
        target="cluster",
        auth=True,
        deployment=DeploymentSpec.from_options(
            {"replicas": 3, "max_queue_wait_ms": 10000, "heal_after_s": 4}
        ),
    )
    yield Endpoint(cluster_ws, NAME)
    for record in cluster_ws.endpoints.list():
        service.delete(cluster_ws, record.name)
    remove_workspace_debris(engine, cluster_ws.path, "cl-")


def _no_failures(result: LoadResult) -> None:
    assert result.total > 50, result.summary()
    assert result.failed == 0, result.summary()


def test_cluster_serves_replicas_behind_one_uri(
    digits_ep: Endpoint, cli: Cli, engine: DockerClient
) -> None:
    assert digits_ep.uri.startswith("http://127.0.0.1:") and digits_ep.uri.endswith("/score")
    seen = {}
    for _ in range(30):
        answer = digits_ep.post()
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"digits": [0], "model_version": 1}
        seen[answer.headers["x-serving-replica"]] = True
    assert sorted(seen) == [f"{NAME}-r{k}-rev1" for k in (1, 2, 3)]
    replica = engine.containers.get(f"serving-{NAME}-r1")
    assert replica.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert replica.attrs["NetworkSettings"]["Ports"] == {"5001/tcp": None}  # not published
    unauthorized = requests.post(digits_ep.uri, data=BODY, timeout=30)
    assert unauthorized.status_code == 401 and "message" in unauthorized.json()

    shown = cli("endpoints", "show", NAME, "-o", "json")
    assert shown.code == 0, shown.err
    data = shown.json()
    assert isinstance(data, dict) and data["state"] == "Healthy" and data["target"] == "cluster"
    assert [(r["replica"], r["state"]) for r in data["replicas"]] == [
        ("r1", "Ready"),
        ("r2", "Ready"),
        ("r3", "Ready"),
    ]
    table = cli("endpoints", "show", NAME)
    assert "REPLICA" in table.out and table.out.count("Ready") == 3
    every = cli("endpoints", "logs", NAME, "--tail", "50")
    assert every.code == 0 and every.out.count("==> r") == 3
    one = cli("endpoints", "logs", NAME, "--replica", "2", "--tail", "50")
    assert one.code == 0 and "==> r" not in one.out and one.out.strip()
    assert "POST /score" in cli("endpoints", "logs", NAME, "--replica", "balancer").out
    missing = cli("endpoints", "logs", NAME, "--replica", "r9")
    assert missing.code == 3 and "has no replica 'r9'" in missing.err


def test_cluster_keys_regenerate_without_restart(digits_ep: Endpoint, cli: Cli) -> None:
    old = digits_ep.record.keys[0]
    regen = cli("endpoints", "keys", NAME, "--regen", "primary", "-o", "json")
    assert regen.code == 0, regen.err
    assert digits_ep.post(Authorization=f"Bearer {old}").status_code == 401
    assert digits_ep.post().status_code == 200
    assert {r["revision"] for r in digits_ep.ready_replicas()} == {1}


def test_cluster_scale_3_to_1_to_3_under_load(digits_ep: Endpoint, cli: Cli) -> None:
    with digits_ep.load() as load:
        time.sleep(2)
        down = cli("endpoints", "scale", NAME, "--replicas", "1", "-o", "json")
        assert down.code == 0, down.err
        assert len(digits_ep.wait_ready_count(1)) == 1
        time.sleep(2)
        up = cli("endpoints", "scale", NAME, "--replicas", "3")
        assert up.code == 0, up.err
        time.sleep(2)
    _no_failures(load.result)
    assert len(digits_ep.wait_ready_count(3)) == 3
    assert digits_ep.record.spec["deployment"]["replicas"]["replicas"] == 3
    assert digits_ep.record.runtime["replicas"] == 3


def test_cluster_killed_replica_is_replaced_under_load(
    digits_ep: Endpoint, engine: DockerClient
) -> None:
    victim = engine.containers.get(f"serving-{NAME}-r2")
    with digits_ep.load() as load:
        time.sleep(2)
        victim.kill()
        time.sleep(1)
        ready = digits_ep.wait_ready_count(3, timeout_s=90)
        time.sleep(2)
    _no_failures(load.result)
    assert len(ready) == 3
    replacement = engine.containers.get(f"serving-{NAME}-r2")
    assert replacement.id != victim.id and replacement.status == "running"


def test_cluster_hung_replica_is_replaced(digits_ep: Endpoint, engine: DockerClient) -> None:
    victim = engine.containers.get(f"serving-{NAME}-r3")
    victim.pause()
    deadline = time.monotonic() + 90
    while True:
        try:
            current = engine.containers.get(f"serving-{NAME}-r3")
        except Exception:  # removed and not yet recreated
            current = None
        if current is not None and current.id != victim.id:
            break
        assert time.monotonic() < deadline, "the paused replica was never replaced"
        time.sleep(0.5)
    assert len(digits_ep.wait_ready_count(3, timeout_s=90)) == 3
    log = service.logs(digits_ep.ws, NAME, 50, replica="supervisor")
    assert "replacing r3: its readiness check has failed" in log
    assert all(digits_ep.post().status_code == 200 for _ in range(6))


def test_cluster_rolling_update_under_load(digits_ep: Endpoint, cli: Cli) -> None:
    with digits_ep.load() as load:
        time.sleep(3)
        updated = cli("endpoints", "update", NAME, "--model", "digits:2", "-o", "json")
        assert updated.code == 0, updated.err
        time.sleep(3)
    _no_failures(load.result)
    revisions = {replica.rsplit("-", 1)[1] for replica in load.result.replicas}
    assert revisions == {"rev1", "rev2"}  # old replicas served until new ones took over
    after = [digits_ep.post() for _ in range(30)]
    assert {a.json()["model_version"] for a in after} == {2}
    assert {a.headers["x-serving-replica"].rsplit("-", 1)[1] for a in after} == {"rev2"}
    record = digits_ep.record
    assert record.state == "Healthy" and record.models == ("digits:2",)
    assert {r["revision"] for r in digits_ep.wait_ready_count(3)} == {2}


def test_cluster_failed_update_keeps_the_previous_revision(digits_ep: Endpoint, cli: Cli) -> None:
    broken = ROOT / "tests" / "fixtures" / "scripts" / "init_raises.py"
    result = cli("endpoints", "update", NAME, "--entry-script", broken)
    assert result.code == 6, result.err
    assert "the rolling update" in result.err and "previous revision still serve" in result.err
    assert "init() or the import of the entry script failed" in result.err
    record = digits_ep.record
    assert record.state == "Healthy" and "update failed" in str(record.error)
    assert record.models == ("digits:2",)
    assert {r["revision"] for r in digits_ep.wait_ready_count(3)} == {2}
    assert {digits_ep.post().json()["model_version"] for _ in range(6)} == {2}


@pytest.fixture(scope="module")
def small_ep(digits_ep: Endpoint) -> Endpoint:
    """One replica serving one request at a time, a 300 ms queue and a 1.5 s scoring limit."""
    service.deploy(
        digits_ep.ws,
        "cl-small",
        models=["digits:1"],
        entry_script=APP / "score.py",
        env=str(SKLEARN / "env.yml"),
        target="cluster",
        auth=False,  # keyless on purpose (the cluster target's default is key auth)
        deployment=DeploymentSpec.from_options(
            {
                "replicas": 1,
                "max_concurrent_requests": 1,
                "max_queue_wait_ms": 300,
                "scoring_timeout_ms": 1500,
            }
        ),
    )
    return Endpoint(digits_ep.ws, "cl-small")


def _served(endpoint: Endpoint, timeout_s: float = 60) -> None:
    """Wait until a plain request is answered 200 (the replica is back in the pool)."""
    deadline = time.monotonic() + timeout_s
    while requests.post(endpoint.uri, data=BODY, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the endpoint never answered 200 again"
        time.sleep(0.5)


def test_cluster_back_pressure_gives_503_json_not_hangs(small_ep: Endpoint) -> None:
    slow = json.dumps({**json.loads(BODY), "sleep": 1.0}).encode()
    with Load(small_ep.uri, slow, {}, clients=6, limit_s=4, timeout_s=10) as load:
        time.sleep(4)
    result = load.result
    assert result.statuses[200] >= 2, result.summary()
    assert result.statuses[503] >= 5, result.summary()
    assert set(result.statuses) == {200, 503} and not result.errors, result.summary()

    _served(small_ep)
    with Load(small_ep.uri, slow, {}, clients=1, limit_s=1.5):
        time.sleep(0.3)  # the replica is busy with a 1 s request
        started = time.monotonic()
        answer = requests.post(small_ep.uri, data=slow, timeout=10)
        waited = time.monotonic() - started
    assert answer.status_code == 503 and 0.25 <= waited < 1.0  # the queue limit, not a hang
    assert answer.headers["Content-Type"] == "application/json"
    assert "max_queue_wait_ms" in answer.json()["message"]


def test_cluster_scoring_timeout_gives_504_json(small_ep: Endpoint) -> None:
    _served(small_ep)
    hung = json.dumps({**json.loads(BODY), "hang": 12}).encode()
    started = time.monotonic()
    answer = requests.post(small_ep.uri, data=hung, timeout=30)
    took = time.monotonic() - started
    assert answer.status_code == 504, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert "scoring timeout" in answer.json()["message"]
    assert 6 <= took < 10  # the balancer's limit: 1.5 s scoring timeout + 5 s margin

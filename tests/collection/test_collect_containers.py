"""Model data collection in containers. The docker target: the container writes into the
mounted folder as its own user, and the records are the user's to read and delete.
Acceptance on the cluster target: a score.py collecting its inputs and predictions on a
2-replica endpoint (two workers each) under concurrent load.
After a graceful stop (the endpoint deleted) every request's records are in the default
datastore, exactly once each; with the buffer forced to one record every request still
succeeds and the replicas' drop counters (/metrics) rise, and what was written plus what
was dropped is every record collected."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from serving.deploy import service
from serving.deploy.spec import DeploymentSpec, ReplicaPolicy
from serving.runs.datastores import model_data_folder
from serving.workspace import Workspace
from tests.collection.collect_load import collected, counters, send_many
from tests.helpers import DOCKER_TIMEOUT, FIXTURES, SKLEARN, remove_workspace_debris

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]
CLIENTS = 8
PER_CLIENT = 400
LIMIT_S = 90


@pytest.fixture(scope="module")
def collect_ws(
    tmp_path_factory: pytest.TempPathFactory, engine: DockerClient, base_image: str
) -> Iterator[Workspace]:
    ws = Workspace.open(tmp_path_factory.mktemp("collect-ws"), create=True)
    model = tmp_path_factory.mktemp("collect-model") / "model.bin"
    model.write_bytes(b"the script needs no model")
    ws.models.register(model, "digits")
    yield ws
    for record in ws.endpoints.list():
        service.delete(ws, record.name)
    remove_workspace_debris(engine, ws.path, "dc-")


def _deploy(ws: Workspace, name: str, env: Path, target: str = "cluster") -> str:
    record = service.deploy(
        ws,
        name,
        models=["digits:1"],
        entry_script=FIXTURES / "collects_model_data.py",
        env=str(env),
        target=target,
        auth=False,
        workers=2,
        deployment=DeploymentSpec(
            replicas=ReplicaPolicy(2, max_queue_wait_ms=10000)
            if target == "cluster"
            else ReplicaPolicy(),
            collect_model_data=True,
            model_data_dir=model_data_folder(ws),
        ),
    )
    return str(record.scoring_uri)


def _replica_counters(uri: str, replicas: int = 2, timeout_s: float = 30) -> dict[str, float]:
    """Each replica's collection counters, summed (the balancer picks the replica)."""
    seen: dict[str, dict[str, float]] = {}
    deadline = time.monotonic() + timeout_s
    metrics = uri.replace("/score", "/metrics")
    while len(seen) < replicas:
        assert time.monotonic() < deadline, f"only saw replicas {sorted(seen)}"
        answer = requests.get(metrics, timeout=10)
        assert answer.status_code == 200, answer.text
        seen[answer.headers["x-serving-replica"]] = counters(answer.text)
    return {key: sum(c[key] for c in seen.values()) for key in ("dropped", "written")}


def test_docker_container_writes_files_the_user_can_remove(collect_ws: Workspace) -> None:
    name = "dc-docker"
    uri = _deploy(collect_ws, name, SKLEARN / "env.yml", target="docker")
    sent = send_many(uri, clients=4, per_client=50, limit_s=LIMIT_S, prefix="d")
    assert not sent.failed and len(sent.ok) == 200, sent.failed[:3]
    service.delete(collect_ws, name)  # docker stop: SIGTERM, the workers flush
    root = Path(model_data_folder(collect_ws))
    expected = dict.fromkeys(sent.ok, 1)
    assert collected(root, name, "inputs") == expected
    assert collected(root, name, "predictions") == expected
    files = list((root / "modeldata" / name).rglob("*.jsonl"))
    assert files and all(f.stat().st_mode & 0o777 == 0o660 for f in files)
    shutil.rmtree(root / "modeldata" / name)  # what the container wrote is the user's


def test_cluster_every_request_is_collected_after_a_graceful_stop(
    collect_ws: Workspace,
) -> None:
    name = "dc-full"
    uri = _deploy(collect_ws, name, SKLEARN / "env.yml")
    sent = send_many(uri, clients=CLIENTS, per_client=PER_CLIENT, limit_s=LIMIT_S)
    assert not sent.failed, sent.failed[:3]
    assert len(sent.ok) >= 200, f"only {len(sent.ok)} requests in {sent.seconds:.0f} s"
    assert _replica_counters(uri)["dropped"] == 0
    print(f"{name}: {len(sent.ok)} requests in {sent.seconds:.1f} s")  # shown with -s
    service.delete(collect_ws, name)
    root = Path(model_data_folder(collect_ws))
    expected = dict.fromkeys(sent.ok, 1)
    assert collected(root, name, "inputs") == expected
    assert collected(root, name, "predictions") == expected
    writers = {p.stem.rsplit("-", 1)[0] for p in (root / "modeldata" / name).rglob("*.jsonl")}
    assert writers == {f"{name}-r1-rev1", f"{name}-r2-rev1"}  # both replicas wrote


def test_cluster_tiny_buffer_drops_and_counts_but_every_request_succeeds(
    collect_ws: Workspace, tmp_path: Path
) -> None:
    env = tmp_path / "env.yml"
    env.write_text(
        (SKLEARN / "env.yml").read_text() + "variables:\n  SERVING_MODEL_DATA_QUEUE: '1'\n"
    )
    name = "dc-tiny"
    uri = _deploy(collect_ws, name, env)
    sent = send_many(uri, clients=CLIENTS, per_client=PER_CLIENT, limit_s=LIMIT_S, prefix="t")
    assert not sent.failed, sent.failed[:3]
    assert len(sent.ok) >= 200, f"only {len(sent.ok)} requests in {sent.seconds:.0f} s"
    dropped = _replica_counters(uri)["dropped"]
    print(f"{name}: {len(sent.ok)} requests in {sent.seconds:.1f} s, {dropped:.0f} dropped")
    assert dropped > 0
    service.delete(collect_ws, name)
    root = Path(model_data_folder(collect_ws))
    on_disk = sum(sum(collected(root, name, d).values()) for d in ("inputs", "predictions"))
    assert on_disk + dropped == 2 * len(sent.ok)

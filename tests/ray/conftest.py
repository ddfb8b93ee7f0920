"""One workspace server and one Ray cluster (head + 2 workers, 0.5 CPU each) for the
module, started with ``serving compute up`` and always taken down (by label as well, in
case ``down`` itself failed). The nodes run the digits examples' environment
(scikit-learn, joblib). The workspace is a project's ``.serving`` folder, so the examples
run in that project find it; the client fixtures (``remote_runs``, ``source``) are the
remote runs' own (:mod:`tests.remote_runs.conftest`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from serving.images.engine import docker_client
from serving.runs.compute import ComputeStore
from serving.runs.ray import cluster
from serving.runs.ray.jobs_api import RayJobs
from serving.workspace import Workspace
from tests.helpers import ROOT, run_cli
from tests.hub.conftest import Server
from tests.remote_fixtures import start_hub, stop_hub
from tests.remote_runs.conftest import remote_runs, source

__all__ = ["remote_runs", "source"]  # fixtures used by the tests here

ENV_FILE = ROOT / "examples" / "digits_walkthrough" / "env.yml"
ENV_NAME = "digits-knn-env"
"""The nodes' environment: the digits examples' (scikit-learn is not in the runtime)."""


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = tmp_path_factory.mktemp("ray") / "project"
    hub = start_hub(Workspace.open(project / ".serving", create=True), project / "server.log")
    try:
        yield Server(hub.base, hub.ws, hub.tokens, {}, hub.process)
    finally:
        stop_hub(hub)


@dataclass(frozen=True)
class RayCluster:
    name: str
    address: str
    jobs: RayJobs
    prefix: str


@pytest.fixture(scope="module")
def ray_cluster(hub_server: Server) -> Iterator[RayCluster]:
    ws = hub_server.ws
    name = f"rt{uuid.uuid4().hex[:6]}"
    up = ("compute", "up", name, "--type", "ray", "--nodes", "2", "--node-cpu", "0.5")
    done = run_cli(ws.path, "envs", "register", "-f", ENV_FILE)
    assert done.code == 0, done.err
    up = (*up, "--environment", ENV_NAME)
    try:
        done = run_cli(ws.path, *up, "--node-memory", "700m", "--cpu", "0.5", timeout=400)
        assert done.code == 0, done.err
        record = ComputeStore(ws.path, ws.db).get(name)
        address = str(record.spec.address)
        yield RayCluster(name, address, RayJobs(address), cluster.prefix(ws.path, name))
        down = run_cli(ws.path, "compute", "down", name)
        assert down.code == 0, down.err
        client = docker_client()
        left = client.containers.list(all=True, filters={"label": f"serving.compute={name}"})
        client.close()
        assert f"compute {name} is down (" in down.out and not left
    finally:
        client = docker_client()
        cluster.remove(client, ws.path, name)
        client.close()

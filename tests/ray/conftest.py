"""One workspace server and one Ray cluster (head + 2 workers, 0.5 CPU each) for the
module, started with ``serving compute up`` and always taken down (by label as well, in
case ``down`` itself failed). The server and its client fixtures (``hub_server``,
``remote_runs``, ``source``) are the remote runs' own (:mod:`tests.remote_runs.conftest`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from serving.images.engine import docker_client
from serving.runs.compute import ComputeStore
from serving.runs.ray import cluster
from serving.runs.ray.jobs_api import RayJobs
from tests.helpers import run_cli
from tests.hub.conftest import Server
from tests.remote_runs.conftest import hub_server, remote_runs, source

__all__ = ["hub_server", "remote_runs", "source"]  # fixtures used by the tests here

ENV_NAME = "ray-tab"
ENV_PACKAGE = "tabulate==0.9.0"
"""A small pure-Python package the nodes' image must carry (the runtime has none)."""


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
    requirements = ws.path.parent / "ray-requirements.txt"
    requirements.write_text(f"{ENV_PACKAGE}\n")
    done = run_cli(ws.path, "envs", "register", "-f", requirements, "--name", ENV_NAME)
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
        assert f"compute {name} is down (3 nodes)" in down.out
    finally:
        client = docker_client()
        cluster.remove(client, ws.path, name)
        client.close()

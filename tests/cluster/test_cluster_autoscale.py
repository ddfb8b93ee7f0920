"""Autoscaling on the cluster target end to end: real replica containers behind HAProxy, the
real supervisor deciding, and a locust ramp from 2 to 40 users over 60 s and back to 2
(``loadtests/ramp_locustfile.py``). The endpoint starts at its minimum (1), grows while the
load is high, shrinks back to 1 after the cool-down (15 s here, through
``SERVING_AUTOSCALE_COOLDOWN_S``), and not one request fails; ``endpoints show`` prints the
decisions. About 3 minutes with the image already built."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from loadtests.autoscale_ramp import RampRun, run_ramp
from loadtests.ramp_shape import Ramp
from serving.deploy import service
from serving.deploy.cluster.state import load_state, state_dir
from serving.deploy.spec import AutoscalePolicy, DeploymentSpec, ReplicaPolicy
from serving.workspace import Workspace
from tests.cluster.conftest import APP
from tests.helpers import DOCKER_TIMEOUT, SAMPLE, SKLEARN, Cli, remove_workspace_debris

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]
NAME = "as-digits"
COOLDOWN_S = 15
RAMP = Ramp(low=2, high=40, up_s=60, hold_s=10, down_s=5, tail_s=45)
SETTLE_S = 60.0
"""After the ramp, how long the endpoint may take to be back at its minimum."""


@pytest.fixture(scope="module")
def autoscale_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.open(tmp_path_factory.mktemp("autoscale-ws"), create=True)


@pytest.fixture()
def ws_path(autoscale_ws: Workspace) -> Path:
    """The ``cli`` fixture works on the module's workspace."""
    return autoscale_ws.path


@pytest.fixture(scope="module")
def autoscaled(
    autoscale_ws: Workspace, engine: DockerClient, base_image: str, template_model: Path
) -> Iterator[Workspace]:
    """``as-digits``: autoscaling 1..3 at 70 % of 4 concurrent requests per replica (4
    threads), deciding every second; a long queue wait, so that only real failures (not
    back-pressure while a replica starts) would count."""
    ws = autoscale_ws
    ws.models.register(template_model, "digits")
    mp = pytest.MonkeyPatch()
    mp.setenv("SERVING_AUTOSCALE_COOLDOWN_S", str(COOLDOWN_S))
    try:
        service.deploy(
            ws,
            NAME,
            models=["digits:1"],
            entry_script=APP / "score.py",
            env=str(SKLEARN / "env.yml"),
            target="cluster",
            auth=True,
            threads=4,
            deployment=DeploymentSpec(
                replicas=ReplicaPolicy(max_queue_wait_ms=30000),
                autoscale=AutoscalePolicy(True, 1, 3, 70, 1.0),
            ),
        )
    finally:
        mp.undo()
    yield ws
    for record in ws.endpoints.list():
        service.delete(ws, record.name)
    remove_workspace_debris(engine, ws.path, "as-")


def _members(ws: Workspace) -> int:
    state = load_state(state_dir(ws, NAME))
    return -1 if state is None else len(state.members)


def _ramp(ws: Workspace, folder: Path) -> RampRun:
    record = ws.endpoints.get(NAME)
    return run_ramp(
        str(record.scoring_uri),
        record.keys[0],
        SAMPLE,
        folder,
        RAMP,
        replicas=lambda: _members(ws),
        progress=lambda s: print(f"t={s.t_s:.0f} users={s.users} replicas={s.replicas}"),
    )


def test_autoscale_follows_a_ramp_with_no_failed_request(
    autoscaled: Workspace, cli: Cli, tmp_path: Path
) -> None:
    ws = autoscaled
    state = load_state(state_dir(ws, NAME))
    assert state is not None and state.autoscale is not None
    assert (state.autoscale.min_replicas, state.autoscale.max_replicas) == (1, 3)
    assert state.autoscale.cooldown_s == COOLDOWN_S
    assert len(state.members) == 1 == state.replicas  # it starts at the minimum

    run = _ramp(ws, tmp_path / "ramp")
    timeline = run.timeline()
    assert not run.stopped, timeline
    assert run.requests > 500, timeline
    assert run.failures == 0, f"{run.totals.get('errors')}\n{timeline}"
    assert max(s.replicas for s in run.seconds) >= 2, timeline

    deadline = time.monotonic() + SETTLE_S
    while _members(ws) != 1:  # usually already back at 1 during the ramp's tail
        assert time.monotonic() < deadline, f"never back at 1 replica\n{timeline}"
        time.sleep(1)

    shown = cli("endpoints", "show", NAME, "-o", "json")
    assert shown.code == 0, shown.err
    scaling = json.loads(shown.out)["autoscale"]
    assert (scaling["replicas"], scaling["min_replicas"], scaling["max_replicas"]) == (1, 1, 3)
    changes = [(d["from"], d["to"]) for d in scaling["decisions"] if d["ok"]]
    ups = [c for c in changes if c[1] > c[0]]
    downs = [c for c in changes if c[1] < c[0]]
    assert ups and ups[0][0] == 1, scaling["decisions"]
    assert downs and downs[-1][1] == 1, scaling["decisions"]
    assert all("utilization" in d["reason"] for d in scaling["decisions"])

    table = cli("endpoints", "show", NAME)
    assert table.code == 0, table.err
    assert "autoscale: 1 replica(s) now" in table.out
    assert "-> 1" in table.out and "stayed at or below" in table.out

    refused = cli("endpoints", "scale", NAME, "--replicas", "2")
    assert refused.code != 0
    assert "--min-replicas" in refused.err and len(refused.err.strip().splitlines()) <= 2

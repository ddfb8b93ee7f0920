"""The cluster target's supervisor after a restart: two ``endpoints show`` at once (real
CLI processes) start exactly one; auth is on by default and explicit in the replicas."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.deploy import service
from serving.deploy.cluster import supervisor
from serving.deploy.cluster.state import load_state, replica_name, state_dir
from serving.deploy.spec import DeploymentSpec
from serving.workspace import Workspace
from tests.helpers import DOCKER_TIMEOUT, ROOT, cli_env, remove_workspace_debris, serving_cmd

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]
NAME = "sup-svc"


def supervisors(folder: Path, *, settle_s: float = 10.0) -> list[int]:
    """Pids of supervisor processes of ``folder``, each counted with its log writer (which
    starts it: give it ``settle_s`` to appear)."""
    deadline = time.monotonic() + settle_s
    while True:
        writers, found = _scan(folder)
        if len(found) >= len(writers) or time.monotonic() > deadline:
            return sorted(set(found) | set(writers))
        time.sleep(0.1)


def _scan(folder: Path) -> tuple[list[int], list[int]]:
    writers: list[int] = []
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if argv[1:4] == ["-m", "serving.deploy.cluster.supervisor", str(folder)]:
            found.append(int(entry.name))
        elif len(argv) > 1 and argv[1].endswith("logpipe.py") and str(folder) in argv:
            writers.append(int(entry.name))
    return writers, found


@pytest.fixture()
def endpoint(
    ws: Workspace, engine: DockerClient, base_image: str, small_tree: Path, tmp_path: Path
) -> Iterator[Workspace]:
    env = tmp_path / "requirements.txt"
    env.write_text("# nothing beyond the serving runtime\n")
    ws.models.register(small_tree, "m")
    service.deploy(
        ws,
        NAME,
        models=["m"],
        entry_script=ROOT / "tests" / "fixtures" / "scripts" / "ok.py",
        env=str(env),
        target="cluster",
        deployment=DeploymentSpec.from_options({"replicas": 1}),
    )
    yield ws
    for record in ws.endpoints.list():
        service.delete(ws, record.name)
    remove_workspace_debris(engine, ws.path, NAME)


def test_two_shows_after_a_restart_start_one_supervisor(
    endpoint: Workspace, engine: DockerClient
) -> None:
    ws = endpoint
    record = ws.endpoints.get(NAME)
    assert len(record.keys) == 2  # auth is on by default on the cluster target
    env = engine.containers.get(replica_name(NAME, 1)).attrs["Config"]["Env"]
    assert "SERVING_AUTH=key" in env
    folder = state_dir(ws, NAME)
    assert len(supervisors(folder)) == 2  # one supervisor and its log writer
    state = load_state(folder)
    assert state is not None
    supervisor.stop(state)  # as after a reboot: the recorded supervisor is gone
    assert supervisors(folder) == [] and not supervisor.running(state)

    shows = [
        subprocess.Popen(
            serving_cmd("endpoints", "show", NAME, "-o", "json"),
            env=cli_env(ws.path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for show in shows:
        out, err = show.communicate(timeout=120)
        assert show.returncode == 0, err
        assert json.loads(out)["name"] == NAME
    time.sleep(2)  # a second supervisor would have been started by now
    assert len(supervisors(folder)) == 2
    restarted = load_state(folder)
    assert restarted is not None and supervisor.running(restarted)
    assert (folder / supervisor.LOG_NAME).is_file()

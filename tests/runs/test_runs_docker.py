"""Script runs on a Docker compute target through the SDK: the supervisor, the
container, the max_nodes queue in submission order, metrics and outputs written from
inside the container, cancel ending the container."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.runs import records as rec
from serving.runs.compute import ComputeStore
from serving.sdk import AmlCompute, ComputeTarget, Environment, Experiment, ScriptRunConfig
from serving.sdk.workspace import Workspace
from tests.helpers import DOCKER_TIMEOUT

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]

SCRIPT = """
import os, sys, time
from azureml.core import Run
run = Run.get_context()
print("in container as", os.getuid(), "args", sys.argv[1:], flush=True)
if sys.argv[1] == "sleep":
    time.sleep(300)
time.sleep(1)
run.log("x", int(sys.argv[1]))
run.tag("where", "docker")
open("outputs/model.txt", "w").write(sys.argv[1])
"""


def test_docker_compute_queue_metrics_outputs_cancel(
    base_image: str, tmp_path: Path, engine: DockerClient
) -> None:
    ws = Workspace.create(path=tmp_path / "proj")
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(SCRIPT))
    target = ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=1))
    exp = Experiment(ws, "docker")
    env = Environment("runtime-only")

    def submit(arg: str):  # type: ignore[no-untyped-def]
        config = ScriptRunConfig(str(src), "train.py", arguments=[arg], compute_target=target)
        config.run_config.environment = env
        return exp.submit(config)

    first, second = submit("1"), submit("2")
    deadline = time.monotonic() + DOCKER_TIMEOUT
    while first.get_status() != rec.RUNNING and not first.record.terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert second.get_status() in (rec.QUEUED, rec.NOT_STARTED)  # one node: it waits
    first.wait_for_completion(show_output=True)
    second.wait_for_completion()
    assert second.record.started_at is not None and first.record.ended_at is not None
    assert second.record.started_at >= first.record.ended_at  # submission order, one at a time
    assert first.get_metrics() == {"x": 1} and second.get_metrics() == {"x": 2}
    assert second.get_tags()["where"] == "docker"
    assert (ws.runs.run_dir(second.id) / "outputs/model.txt").read_text() == "2"
    assert first.register_model("docker-model", "outputs/model.txt").version == 1

    sleeper = submit("sleep")
    log = ws.runs.run_dir(sleeper.id) / "user_logs/std_log.txt"
    while "in container" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the sleeping run never started"
        time.sleep(0.1)
    sleeper.cancel()
    assert sleeper.get_status() == rec.CANCELED
    assert not engine.containers.list(all=True, filters={"label": f"serving.run={sleeper.id}"})


def test_a_run_out_of_memory_is_failed(base_image: str, tmp_path: Path) -> None:
    ws = Workspace.create(path=tmp_path / "proj")
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(
        "print('allocating', flush=True)\nblocks = [bytearray(32 * 2**20) for _ in range(64)]\n"
    )
    ComputeStore(ws.path, ws.db).create("small", memory="128m")
    config = ScriptRunConfig(str(src), "train.py", compute_target="small")
    config.run_config.environment = Environment("runtime-only")
    run = Experiment(ws, "oom").submit(config)
    run.wait_for_completion(raise_on_error=False)
    record = run.record
    assert record.status == rec.FAILED
    assert record.error is not None and "out of memory" in record.error["message"]
    assert "allocating" in record.error["log_tail"]

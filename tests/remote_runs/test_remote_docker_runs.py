"""Acceptance 3: a run on Docker compute of a server's workspace reports metrics, tags and
outputs through the API with a token of its own, and registers a model from inside; the
container never sees the workspace folder, and the token dies with the run. Submitted and
followed with the SDK (``Workspace.get(path=URL)``, ``ScriptRunConfig``,
``wait_for_completion(show_output=True)``)."""

from __future__ import annotations

import textwrap
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.hub.remote.runs import RemoteRunStore
from serving.registry import Ref
from serving.runs import records as rec
from serving.runs.compute import ComputeStore
from serving.runs.submit import ScriptJob
from serving.sdk import Experiment, ScriptRunConfig, Workspace
from tests.helpers import DOCKER_TIMEOUT
from tests.hub.conftest import Server

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.timeout(DOCKER_TIMEOUT)]

SCRIPT = """
import os, sys
from azureml.core import Run
run = Run.get_context()
print("workspace visible:", os.path.exists(sys.argv[1]), type(run).__name__, flush=True)
for i in range(1000):
    run.log("loss", 1.0 / (i + 1), step=i)
run.log_row("table", epoch=1, acc=0.5)
run.tag("where", "docker")
run.add_properties({"p": "1"})
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("weights")
model = run.register_model("docker-remote", "outputs/model.txt", tags={"from": "run"})
print("registered", model.name, model.version, flush=True)
try:
    run.child_run()
except Exception as exc:
    print("child refused:", type(exc).__name__, flush=True)
"""


def test_a_docker_run_reports_through_the_api(
    base_image: str, engine: DockerClient, hub_server: Server, remote_runs: RemoteRunStore,
    source: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ws = hub_server.ws
    ComputeStore(ws.path, ws.db).create("cpu-remote")
    (source / "train.py").write_text(textwrap.dedent(SCRIPT))
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    sws = Workspace.get(path=hub_server.base)
    config = ScriptRunConfig(
        str(source), "train.py", arguments=[str(ws.path)], compute_target="cpu-remote"
    )
    run = Experiment(sws, "docker-remote").submit(config)
    capsys.readouterr()
    assert run.wait_for_completion(show_output=True)["status"] == rec.COMPLETED
    log = capsys.readouterr().out
    record = run.record
    ended = remote_runs.get(record.id)
    assert "workspace visible: False ReportingRun" in log
    assert "registered docker-remote 1" in log and "child refused: UserErrorException" in log
    metrics = remote_runs.get_metrics(record.id)
    assert len(metrics["loss"]) == 1000 and metrics["loss"][-1] == pytest.approx(0.001)
    assert metrics["table"] == {"epoch": 1, "acc": 0.5}
    assert ended.tags == {"where": "docker"} and ended.properties == {"p": "1"}
    assert "outputs/model.txt" in remote_runs.file_names(record.id)
    system = remote_runs.log(record.id, 0, "system")["text"]
    assert "with a token of its own" in system and "uses the host's network" in system
    model = ws.models.get(Ref("docker-remote", 1))
    assert model.run_id == record.id and model.tags == {"from": "run"}
    with ws.db.read() as conn:
        rows = conn.execute("SELECT revoked_at FROM tokens WHERE run_id = ?", (record.id,))
        revoked = [row[0] for row in rows.fetchall()]
    assert len(revoked) == 1 and revoked[0] is not None  # minted at start, revoked at the end
    assert not engine.containers.list(all=True, filters={"label": f"serving.run={record.id}"})


def test_a_reporting_container_that_cannot_start_is_removed(
    base_image: str, engine: DockerClient, tmp_path: Path
) -> None:
    """Its environment holds the run's token: a container whose working copy cannot be
    put in (here: no working copy at all) must not be left created."""
    from types import SimpleNamespace

    from serving.runs.docker_exec import DockerExecutor

    name = f"r14review-leak-{uuid.uuid4().hex[:8]}"
    plan = SimpleNamespace(work_dir=tmp_path / "missing")
    kwargs = {"image": base_image, "name": name, "command": ["true"], "detach": True}
    with pytest.raises(OSError):
        DockerExecutor(client=engine)._start_reporting(plan, kwargs)  # type: ignore[arg-type]
    assert not engine.containers.list(all=True, filters={"name": name})


SLEEPER = """
import os, time
from azureml.core import Run
run = Run.get_context()
run.log("started", 1)
os.makedirs("outputs", exist_ok=True)
open("outputs/partial.txt", "w").write("half")
print("sleeping", flush=True)
time.sleep(300)
"""


def test_a_canceled_docker_run_still_sends_its_outputs(
    base_image: str, hub_server: Server, remote_runs: RemoteRunStore, source: Path
) -> None:
    """The cancel's SIGTERM ends the script; remote_entry flushes the metrics and sends
    outputs/ within the grace, before the container is stopped for good."""
    ComputeStore(hub_server.ws.path, hub_server.ws.db).create("cpu-cancel")
    (source / "train.py").write_text(textwrap.dedent(SLEEPER))
    record = remote_runs.submit(
        "docker-cancel", ScriptJob(source, "train.py", compute="cpu-cancel")
    )
    deadline = time.monotonic() + 120
    while "sleeping" not in remote_runs.read_log(record.id)[0]:
        assert time.monotonic() < deadline, remote_runs.read_log(record.id, which="system")[0]
        time.sleep(0.5)
    assert remote_runs.cancel(record.id).status == rec.CANCELED
    assert "outputs/partial.txt" in remote_runs.file_names(record.id)
    assert remote_runs.get_metrics(record.id) == {"started": 1}
    with hub_server.ws.db.read() as conn:
        rows = conn.execute("SELECT revoked_at FROM tokens WHERE run_id = ?", (record.id,))
        assert [row[0] is not None for row in rows.fetchall()] == [True]  # revoked on cancel

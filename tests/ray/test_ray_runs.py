"""Runs on a real Ray cluster (a head and two workers in containers, started by
``serving compute up``): a script reports through the workspace server from a node,
``compute show`` lists the nodes, cancel leaves no Ray job running, and a killed worker
fails the run that was on it."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from serving.hub.remote.runs import RemoteRunStore
from serving.registry import Ref
from serving.runs import records as rec
from serving.sdk import Environment, Experiment, ScriptRunConfig, Workspace
from tests.helpers import DOCKER_TIMEOUT, run_cli
from tests.hub.conftest import Server
from tests.ray.conftest import ENV_NAME, RayCluster

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.docker, pytest.mark.ray, pytest.mark.timeout(DOCKER_TIMEOUT)]

TRAIN = """
import os, socket
import sklearn  # the environment's package, on the nodes
from azureml.core import Run
run = Run.get_context()
print("node", socket.gethostname(), type(run).__name__, sklearn.__version__, flush=True)
for i in range(200):
    run.log("loss", 1.0 / (i + 1), step=i)
run.tag("where", "ray")
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("weights")
model = run.register_model("ray-model", "outputs/model.txt", tags={"from": "ray"})
print("registered", model.name, model.version, flush=True)
"""
SLEEPER = """
import socket, time
print("node", socket.gethostname(), flush=True)
time.sleep(120)
"""
WAIT_S = 90.0


def _submit(
    hub: Server,
    source: Path,
    script: str,
    compute: str,
    exp: str,
    env: str | None = None,
    retries: int = 0,
) -> Any:
    (source / "train.py").write_text(textwrap.dedent(script))
    sws = Workspace.get(path=hub.base)
    environment = Environment.get(sws, env) if env else None
    config = ScriptRunConfig(
        str(source), "train.py", compute_target=compute, environment=environment
    )
    config.run_config.max_retries = retries
    return Experiment(sws, exp).submit(config)


def _grid_sweep(
    hub: Server, source: Path, script: str, compute: str, exp: str, xs: int, at_once: int
) -> Any:
    """A grid sweep over ``--x`` in 1..xs of ``script``, submitted through the server."""
    from serving.sdk import GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal
    from serving.sdk.hyperdrive import choice

    (source / "train.py").write_text(textwrap.dedent(script))
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(source), "train.py", compute_target=compute),
        hyperparameter_sampling=GridParameterSampling({"--x": choice(*range(1, xs + 1))}),
        primary_metric_name="score",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=xs,
        max_concurrent_runs=at_once,
    )
    return Experiment(Workspace.get(path=hub.base), exp).submit(config)


def _wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_reports_through_the_server_from_a_node(
    hub_server: Server, ray_cluster: RayCluster, remote_runs: RemoteRunStore, source: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    run = _submit(hub_server, source, TRAIN, ray_cluster.name, "ray-train", ENV_NAME)
    capsys.readouterr()
    assert run.wait_for_completion(show_output=True)["status"] == rec.COMPLETED  # type: ignore[attr-defined]
    log = capsys.readouterr().out
    run_id = run.record.id  # type: ignore[attr-defined]
    assert f"node {ray_cluster.prefix}-worker-" in log and "ReportingRun 1." in log
    system = remote_runs.log(run_id, 0, "system")["text"]
    assert "do not run environment" not in system
    metrics = remote_runs.get_metrics(run_id)
    assert len(metrics["loss"]) == 200 and metrics["loss"][-1] == pytest.approx(0.005)
    assert remote_runs.get(run_id).tags == {"where": "ray"}
    assert "outputs/model.txt" in remote_runs.file_names(run_id)
    assert "registered ray-model 1" in log
    model = hub_server.ws.models.get(Ref("ray-model", 1))
    assert model.run_id == run_id and model.tags == {"from": "ray"}
    shown = run_cli(hub_server.ws.path, "compute", "show", ray_cluster.name, "-o", "json")
    data = shown.json()
    assert shown.code == 0 and len(data["nodes"]) == 3  # type: ignore[index]
    assert data["total"]["CPU"] == 2 and 0 <= data["free"]["CPU"] <= 2  # type: ignore[index]
    assert sum(1 for n in data["nodes"] if " worker ALIVE cpu=1 " in n) == 2  # type: ignore[index]


def test_cancel_leaves_no_ray_job_running(
    hub_server: Server, ray_cluster: RayCluster, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    run = _submit(hub_server, source, SLEEPER, ray_cluster.name, "ray-cancel")
    _wait_for(lambda: run.get_status() == rec.RUNNING, "the run to be Running")  # type: ignore[attr-defined]
    run.cancel()  # type: ignore[attr-defined]
    _wait_for(lambda: run.get_status() == rec.CANCELED, "the run to be Canceled")  # type: ignore[attr-defined]
    job = f"serving-{run.record.id}"  # type: ignore[attr-defined]
    states = {j.submission_id: j.status for j in ray_cluster.jobs.jobs()}
    assert states[job] == "STOPPED"
    assert not [s for s in states.values() if s in ("PENDING", "RUNNING")]


CHATTY = """
import time
for burst in range(3):  # 3 x 1000 lines of 150 bytes: past the size where the tail takes over
    for i in range(1000):
        print(f"line {burst * 1000 + i:05d} " + "x" * 139, flush=True)
    time.sleep(1.5)
print("done", flush=True)
"""


def test_a_chatty_run_s_output_arrives_whole_and_once(
    hub_server: Server, ray_cluster: RayCluster, remote_runs: RemoteRunStore, source: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Past 256 KiB the output follows Ray's log tail, which starts from the first byte
    again: the run's log still holds every line once, in order."""
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    run = _submit(hub_server, source, CHATTY, ray_cluster.name, "ray-chatty")
    assert run.wait_for_completion()["status"] == rec.COMPLETED  # type: ignore[attr-defined]
    text, _ = remote_runs.read_log(run.record.id)  # type: ignore[attr-defined]
    lines = [line for line in text.splitlines() if line.startswith("line ")]
    assert lines == [f"line {n:05d} " + "x" * 139 for n in range(3000)]
    assert text.rstrip().endswith("done")


FOLDER_RUN = """
import os, sys
from azureml.core import Run
run = Run.get_context()
print("token in variables:", os.environ.get("SERVING_RUN_TOKEN") is not None, flush=True)
print("token file left:", os.path.exists(".serving-run-token"), flush=True)
print("data:", open(os.path.join(sys.argv[2], "x.txt")).read(), flush=True)
run.log("acc", 0.5)
os.makedirs("outputs", exist_ok=True)
open("outputs/m.txt", "w").write("m")
"""


def test_a_folder_workspace_run_reports_through_a_server_of_its_own(
    hub_server: Server, ray_cluster: RayCluster, source: Path, tmp_path: Path
) -> None:
    """No ``serving server start`` needed: the supervisor serves the run's API for the run,
    a mounted datastore folder travels in the working directory, and the token is not in
    the job's variables that Ray's job list shows."""
    from serving.runs.store import STD_LOG, RunStore

    (source / "train.py").write_text(textwrap.dedent(FOLDER_RUN))
    folder_ws = Workspace.get(path=str(hub_server.ws.path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("hello")
    datastore = folder_ws.get_default_datastore()
    datastore.upload(str(tmp_path / "data"), target_path="ray-data", overwrite=True)
    dref = datastore.path("ray-data", data_reference_name="raydata").as_mount()
    config = ScriptRunConfig(
        str(source), "train.py", compute_target=ray_cluster.name, arguments=["--data", str(dref)]
    )
    config.run_config.data_references = {dref.data_reference_name: dref.to_config()}
    run = Experiment(folder_ws, "ray-folder").submit(config)
    ended = run.wait_for_completion(raise_on_error=False)
    assert ended["status"] == rec.COMPLETED, ended
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    log = (store.run_dir(run.id) / STD_LOG).read_text()
    assert "token in variables: True" in log and "token file left: False" in log
    assert "data: hello" in log
    assert run.get_metrics() == {"acc": 0.5}
    assert "outputs/m.txt" in run.get_file_names()
    job = requests.get(f"{ray_cluster.address}/api/jobs/serving-{run.id}", timeout=10).json()
    variables = job["runtime_env"]["env_vars"]
    assert "SERVING_RUN_TOKEN" not in variables and "AZUREML_RUN_TOKEN" not in variables


def test_a_folder_run_on_a_cluster_attached_by_address_is_refused_in_one_line(
    hub_server: Server, ray_cluster: RayCluster, source: Path
) -> None:
    from serving.runs.compute import RAY, ComputeStore
    from serving.runs.ray.compute_ops import ray_spec

    store = ComputeStore(hub_server.ws.path, hub_server.ws.db)
    store.add("by-address", ray_spec(ray_cluster.address), RAY)
    try:
        (source / "train.py").write_text("print('never')\n")
        folder_ws = Workspace.get(path=str(hub_server.ws.path))
        config = ScriptRunConfig(str(source), "train.py", compute_target="by-address")
        run = Experiment(folder_ws, "ray-folder").submit(config)
        assert run.wait_for_completion(raise_on_error=False)["status"] == rec.FAILED
        message = str(run.record.error["message"])  # type: ignore[index]
        assert "its runs report through a workspace server" in message and "\n" not in message
        assert not [j for j in ray_cluster.jobs.jobs() if j.submission_id.endswith(run.id)]
    finally:
        store.delete("by-address")


def test_the_sdk_attaches_a_cluster_by_address(hub_server: Server, ray_cluster: RayCluster) -> None:
    from serving.runs.compute import ComputeStore
    from serving.sdk import ComputeTarget
    from serving.sdk.ray_compute import RayCompute

    ws = Workspace.get(path=str(hub_server.ws.path))
    config = RayCompute.attach_configuration(address=ray_cluster.address, cpu=0.5)
    target = ComputeTarget.attach(ws, "attached", config)
    try:
        assert target.type == "AmlCompute" and target.name == "attached"
        assert ComputeTarget.create(ws, "attached", config).name == "attached"  # same again
        record = ComputeStore(hub_server.ws.path, hub_server.ws.db).get("attached")
        assert (record.kind, record.spec.address, record.spec.cpu) == (
            "ray",
            ray_cluster.address,
            0.5,
        )
    finally:
        ComputeStore(hub_server.ws.path, hub_server.ws.db).delete("attached")


SWEEP_TRIAL = """
import argparse, time
from azureml.core import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=int)
a = p.parse_args()
run = Run.get_context()
print("start", repr(time.time()), flush=True)
time.sleep(2)
for step in range(3):
    run.log("score", a.x * (step + 1))
print("end", repr(time.time()), flush=True)
"""


def test_a_sweep_runs_its_trials_in_parallel_on_the_cluster(
    hub_server: Server, ray_cluster: RayCluster, remote_runs: RemoteRunStore, source: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    # two free CPUs first: a job canceled while PENDING by another test is stopped by Ray
    # only once placed, and may hold a CPU meanwhile
    _wait_for(lambda: ray_cluster.jobs.available().get("CPU", 0.0) >= 2, "two free CPUs")
    run = _grid_sweep(hub_server, source, SWEEP_TRIAL, ray_cluster.name, "ray-sweep", 2, 2)
    assert run.wait_for_completion()["status"] == rec.COMPLETED  # type: ignore[attr-defined]
    children = list(run.get_children())  # type: ignore[attr-defined]
    assert len(children) == 2 and {c.get_status() for c in children} == {rec.COMPLETED}
    spans = []
    for child in children:
        text = remote_runs.log(child.id, 0)["text"]
        found = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                 if line.startswith(("start ", "end "))}  # fmt: skip
        spans.append((found["start"], found["end"]))
        assert remote_runs.get_metrics(child.id)["score"][-1] in (3, 6)
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # they overlapped


def test_a_run_waiting_for_resources_is_queued_and_cancels(
    hub_server: Server, ray_cluster: RayCluster, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.runs.compute import RAY, ComputeStore
    from serving.runs.ray.compute_ops import ray_spec

    store = ComputeStore(hub_server.ws.path, hub_server.ws.db)
    store.add("too-big", ray_spec(ray_cluster.address, cpu=8), RAY)  # no node has 8 CPUs
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    try:
        run = _submit(hub_server, source, SLEEPER, "too-big", "ray-queued")
        _wait_for(
            lambda: run.get_status() == rec.QUEUED and _job(ray_cluster, run) == "PENDING", "Queued"
        )  # type: ignore[attr-defined]
        run.cancel()  # type: ignore[attr-defined]
        _wait_for(lambda: run.get_status() == rec.CANCELED, "the run to be Canceled")  # type: ignore[attr-defined]
        # Ray stops a pending job once it is placed; its node entry then finds the run's
        # token revoked and does not start the script. Nothing runs meanwhile.
        assert _job(ray_cluster, run) in ("PENDING", "STOPPED")
        assert not [j for j in ray_cluster.jobs.jobs() if j.status == "RUNNING"]
    finally:
        store.delete("too-big")


def _job(cluster: RayCluster, run: object) -> str | None:
    """The state of the run's Ray job, as Ray's job list says."""
    wanted = f"serving-{run.record.id}"  # type: ignore[attr-defined]
    found = [j.status for j in cluster.jobs.jobs() if j.submission_id == wanted]
    return found[0] if found else None


def test_a_head_not_answering_fails_the_run_naming_it(
    hub_server: Server, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.deploy.toolkit import free_port
    from serving.runs.compute import RAY, ComputeStore
    from serving.runs.ray.compute_ops import ray_spec

    address = f"http://127.0.0.1:{free_port()}"
    store = ComputeStore(hub_server.ws.path, hub_server.ws.db)
    store.add("gone", ray_spec(address), RAY)
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    try:
        run = _submit(hub_server, source, SLEEPER, "gone", "ray-gone")
        assert run.wait_for_completion(raise_on_error=False)["status"] == rec.FAILED  # type: ignore[attr-defined]
        message = str(run.record.error["message"])  # type: ignore[attr-defined]
        assert f"the Ray head at {address} does not answer" in message and "\n" not in message
        shown = run_cli(hub_server.ws.path, "compute", "show", "gone")
        assert shown.code != 0 and f"the Ray head at {address} does not answer" in shown.err
        assert "Traceback" not in shown.err
    finally:
        store.delete("gone")


def test_cancel_on_a_sweep_leaves_no_ray_job_running(
    hub_server: Server, ray_cluster: RayCluster, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    sweep = _grid_sweep(hub_server, source, SLEEPER, ray_cluster.name, "ray-sweep-cancel", 3, 3)

    def running() -> int:
        children = sweep.get_children()  # type: ignore[attr-defined]
        return sum(1 for c in children if _job(ray_cluster, c) == "RUNNING")

    _wait_for(lambda: running() >= 2, "two trials' Ray jobs to be RUNNING")
    sweep.cancel()  # type: ignore[attr-defined]
    _wait_for(lambda: sweep.get_status() == rec.CANCELED, "the sweep to be Canceled")  # type: ignore[attr-defined]
    children = list(sweep.get_children())  # type: ignore[attr-defined]
    assert children and {c.get_status() for c in children} == {rec.CANCELED}
    states = [_job(ray_cluster, c) for c in children]
    assert states.count("STOPPED") >= 2, states  # the two that ran, stopped by the cancel
    # a trial still PENDING when canceled is stopped by Ray once placed (docs/ray.md, "Not
    # yet"): listed PENDING until then (RUNNING for a moment at most); then none is left
    ended = ("STOPPED", "FAILED", "SUCCEEDED")
    _wait_for(lambda: all(_job(ray_cluster, c) in ended for c in children), "every job to end")


@pytest.mark.slow
def test_the_digits_walkthrough_and_the_example_sweep_run_on_the_cluster(
    hub_server: Server, ray_cluster: RayCluster, envs_cache: Path
) -> None:
    """Acceptance: the examples, unchanged but for ``--compute``, train on the cluster from
    a folder workspace (each run served by its supervisor), register the best model from
    the run and deploy it locally."""
    from tests.runs.test_walkthroughs import EXAMPLES, check_digits, check_lineage, run_example

    project = hub_server.ws.path.parent
    walkthrough = EXAMPLES / "digits_walkthrough" / "walkthrough.py"
    result, output = run_example(walkthrough, project, envs_cache, "--compute", ray_cluster.name)
    check_digits(result, output)
    check_lineage(project, "digits_knn_model", "digits-knn")
    assert "Ray cluster http://127.0.0.1:" in output  # the run's system log, streamed
    sweep = EXAMPLES / "sweep_digits" / "sweep.py"
    args = ("--compute", ray_cluster.name, "--trials", "4")
    result, output = run_example(sweep, project, envs_cache, *args, timeout=900)
    assert len(result["statuses"]) == 4 and result["predictions"] == result["labels"]
    assert f"{result['sweep']}: Completed, 4 of 4 child runs" in output
    model = hub_server.ws.models.get(Ref("sweep-digits", None))
    assert model.properties["run_id"] == result["best_run"]
    ours = {f"serving-{c}" for c in (result["best_run"],)}
    assert ours <= {j.submission_id for j in ray_cluster.jobs.jobs() if j.status == "SUCCEEDED"}


# Last: it leaves the cluster one worker short.
KILL_TRIAL = """
import argparse, socket, time
from azureml.core import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=int)
a = p.parse_args()
print("node", socket.gethostname(), flush=True)
time.sleep(8)
Run.get_context().log("score", a.x)
"""


def test_a_killed_worker_fails_its_trials_and_the_sweep_goes_on(
    hub_server: Server, ray_cluster: RayCluster, remote_runs: RemoteRunStore, source: Path,
    engine: DockerClient, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    sweep = _grid_sweep(hub_server, source, KILL_TRIAL, ray_cluster.name, "ray-kill", 3, 2)

    def first_node() -> str | None:
        for child in sweep.get_children():  # type: ignore[attr-defined]
            text = remote_runs.log(child.id, 0)["text"]
            found = [line.split()[1] for line in text.splitlines() if line.startswith("node ")]
            if found:
                return found[0]
        return None

    _wait_for(lambda: first_node() is not None, "a trial's first line")
    engine.containers.get(str(first_node())).kill()
    killed = time.monotonic()
    assert sweep.wait_for_completion(raise_on_error=False)["status"] == rec.COMPLETED  # type: ignore[attr-defined]
    print(f"killed worker -> sweep ended: {time.monotonic() - killed:.1f} s")
    children = [remote_runs.get(c.id) for c in sweep.get_children()]  # type: ignore[attr-defined]
    failed = [c for c in children if c.status == rec.FAILED]
    completed = [c for c in children if c.status == rec.COMPLETED]
    assert len(children) == 3 and failed and completed
    assert len(failed) + len(completed) == 3
    for child in failed:
        message = str((child.error or {}).get("message"))
        assert "failed on the Ray cluster" in message, message
    assert {remote_runs.get_metrics(c.id)["score"] for c in completed} <= {1, 2, 3}


RETRIED = """
import os, socket, time
from azureml.core import Run
print("node", socket.gethostname(), "attempt", open(".serving-attempt").read(), flush=True)
time.sleep(8)
Run.get_context().log("score", 1)
"""


def test_a_run_asking_for_retries_is_submitted_again_when_its_worker_is_killed(
    hub_server: Server, ray_cluster: RayCluster, remote_runs: RemoteRunStore, source: Path,
    engine: DockerClient, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """After the test above the cluster has one worker left: a third one joins first."""
    from serving.runs.ray import cluster
    from serving.runs.ray.jobs_api import RayJobs

    head = engine.containers.get(f"{ray_cluster.prefix}-head")
    limits = cluster.NodeLimits(0.5, 700 * 2**20)
    ws_path = hub_server.ws.path
    kwargs = cluster.worker_kwargs(
        ws_path, ray_cluster.name, str(head.image.id), ray_cluster.prefix, limits, 3
    )
    engine.containers.run(**kwargs)
    alive = sum(1 for n in RayJobs(ray_cluster.address).nodes() if n.get("state") == "ALIVE")
    cluster.wait_ready(ray_cluster.jobs, alive + 1, lambda _line: None)
    monkeypatch.setenv("SERVING_TOKEN", hub_server.tokens["rw"])
    run = _submit(hub_server, source, RETRIED, ray_cluster.name, "ray-retry", retries=1)

    def node() -> str | None:
        text = remote_runs.log(run.id, 0)["text"]
        found = [line.split()[1] for line in text.splitlines() if line.startswith("node ")]
        return found[0] if found else None

    _wait_for(lambda: node() is not None, "the run's first line")
    engine.containers.get(str(node())).kill()
    assert run.wait_for_completion(raise_on_error=False)["status"] == rec.COMPLETED
    log = remote_runs.log(run.id, 0)["text"]
    assert "submitting the run again, attempt 2 of 2" in log and "attempt 2" in log
    assert remote_runs.get_metrics(run.id)["score"] == 1
    states = {j.submission_id: j.status for j in ray_cluster.jobs.jobs()}
    assert states[f"serving-{run.id}"] == "FAILED"
    assert states[f"serving-{run.id}-2"] == "SUCCEEDED"

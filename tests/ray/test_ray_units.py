"""Ray compute without a cluster: the job body, the node containers' arguments, package
zips, the relay, and the one-line errors (bad address, head not answering)."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from serving.errors import UserInputError
from serving.runs.compute import RAY, ComputeRecord
from serving.runs.execution import Plan
from serving.runs.ray import cluster
from serving.runs.ray.compute_ops import ray_spec
from serving.runs.ray.executor import RayExit, job_body
from serving.runs.ray.jobs_api import RayJobs, RayUnreachable, zip_folder
from serving.runs.ray.relay import Relay
from serving.runs.store import RunStore
from tests.helpers import Cli


def _plan(tmp_path: Path) -> Plan:
    env = {"AZUREML_RUN_ID": "r1", "PYTHONPATH": "/host/x", "PATH": "/usr/bin", "A": "b c"}
    env["SERVING_RUN_WORKSPACE"] = str(tmp_path)
    env["SERVING_RUN_TOKEN"] = env["AZUREML_RUN_TOKEN"] = "secret"  # travels as a file
    return Plan(
        "r1", tmp_path, tmp_path, tmp_path, ["train.py", "--lr", "0.1 x"], env,
        tmp_path / "log.txt", None,
    )  # fmt: skip


def test_job_body_carries_the_run(tmp_path: Path) -> None:
    spec = ray_spec("http://h:8265/", cpu="0.5", memory="512m", gpus=1)
    body = job_body(_plan(tmp_path), ComputeRecord("c", RAY, spec), "gcs://w.zip", "gcs://m.zip")
    assert body["entrypoint"] == "python -m serving.runs.ray.node_entry train.py --lr '0.1 x'"
    assert body["submission_id"] == "serving-r1"
    assert body["runtime_env"] == {
        "working_dir": "gcs://w.zip",
        "py_modules": ["gcs://m.zip"],
        "env_vars": {"AZUREML_RUN_ID": "r1", "A": "b c"},
    }
    assert (body["entrypoint_num_cpus"], body["entrypoint_memory"]) == (0.5, 512 * 2**20)
    assert body["entrypoint_num_gpus"] == 1 and spec.address == "http://h:8265"


def test_spec_checks() -> None:
    with pytest.raises(UserInputError, match="invalid Ray address 'h:8265'"):
        ray_spec("h:8265")
    with pytest.raises(UserInputError, match="gpus"):
        ray_spec("http://h:8265", gpus=-1)
    assert RayExit(1, reason="failed on the Ray cluster: x").describe().endswith(": x")


def test_node_containers_are_named_labelled_and_limited(tmp_path: Path) -> None:
    limits = cluster.NodeLimits(0.5, 700 * 2**20)
    head = cluster.head_kwargs(tmp_path, "c1", "img", "net", limits)
    worker = cluster.worker_kwargs(tmp_path, "c1", "img", "net", limits, 2)
    prefix = cluster.prefix(tmp_path, "c1")
    assert head["name"] == f"{prefix}-head" and worker["name"] == f"{prefix}-worker-2"
    assert head["ports"] == {"8265/tcp": ("127.0.0.1", None)} and "ports" not in worker
    assert "--num-cpus=0" in head["command"] and "--num-cpus=1" in worker["command"]
    assert f"--address={prefix}-head:6379" in worker["command"]
    assert worker["labels"] == {
        "serving.workspace": str(tmp_path), "serving.compute": "c1", "serving.role": "ray-worker"
    }  # fmt: skip
    assert (worker["nano_cpus"], worker["mem_limit"]) == (500_000_000, 700 * 2**20)


def test_zips_are_stable_and_skip_caches(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"\0")
    first = zip_folder(tmp_path / "pkg", parent=True)
    assert first == zip_folder(tmp_path / "pkg", parent=True)
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["pkg/a.py"]
    assert zipfile.ZipFile(io.BytesIO(zip_folder(tmp_path / "pkg"))).namelist() == ["a.py"]
    extra = zipfile.ZipFile(io.BytesIO(zip_folder(tmp_path / "pkg", extra={".t": b"s"})))
    assert extra.namelist() == ["a.py", ".t"] and extra.read(".t") == b"s"
    assert extra.getinfo(".t").external_attr >> 16 == 0o100600


def test_the_node_entry_takes_the_token_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.runs.ray.node_entry import take_token
    from serving.runs.reporting import TOKEN_FILE

    for name in ("SERVING_RUN_TOKEN", "AZUREML_RUN_TOKEN"):
        monkeypatch.setenv(name, "")  # recorded, so what take_token sets is undone after
        monkeypatch.delenv(name)
    take_token(tmp_path)  # none: nothing happens
    assert "SERVING_RUN_TOKEN" not in os.environ
    (tmp_path / TOKEN_FILE).write_text("tok\n")
    take_token(tmp_path)
    assert os.environ["SERVING_RUN_TOKEN"] == os.environ["AZUREML_RUN_TOKEN"] == "tok"
    assert not (tmp_path / TOKEN_FILE).exists()


def test_a_run_server_serves_the_workspace_until_closed(tmp_path: Path) -> None:
    from serving.runs.ray.run_server import RunServer
    from serving.workspace import Workspace

    Workspace.open(tmp_path / "ws", create=True)
    server = RunServer(tmp_path / "ws")
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert requests.get(f"{server.url}/api/v1/openapi.json", timeout=10).status_code == 200
        assert requests.get(f"{server.url}/api/v1/runs", timeout=10).status_code == 401
    finally:
        server.close()
    assert server.proc.returncode == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/api/v1/openapi.json", timeout=2)


def test_relay_copies_both_ways() -> None:
    server = socket.create_server(("127.0.0.1", 0))

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"got " + conn.recv(100))

    threading.Thread(target=echo, daemon=True).start()
    relay = Relay("127.0.0.1", server.getsockname()[:2])
    try:
        with socket.create_connection(relay.address, timeout=5) as client:
            client.sendall(b"hello")
            assert client.recv(100) == b"got hello"
    finally:
        relay.close()
        server.close()


def test_a_head_not_answering_is_one_line_naming_it(cli: Cli) -> None:
    port = socket.create_server(("127.0.0.1", 0))
    address = f"http://127.0.0.1:{port.getsockname()[1]}"
    port.close()
    with pytest.raises(RayUnreachable, match=f"the Ray head at {address} does not answer"):
        RayJobs(address).version()
    done = cli("compute", "create", "r1", "--type", "ray", "--address", address)
    assert done.code != 0 and f"the Ray head at {address} does not answer" in done.err
    assert "Traceback" not in done.err and len(done.err.strip().splitlines()) <= 2
    assert cli("compute", "create", "r1", "--type", "ray").code != 0
    assert cli("compute", "list", "-o", "json").json() == [
        r
        for r in cli("compute", "list", "-o", "json").json()
        if r["name"] != "r1"  # type: ignore[attr-defined]
    ]


def test_a_head_lost_during_a_run_fails_it_naming_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.runs.ray import executor

    monkeypatch.setattr(executor, "HEAD_LOST_S", 0.3)
    port = socket.create_server(("127.0.0.1", 0))
    address = f"http://127.0.0.1:{port.getsockname()[1]}"
    port.close()
    execution = executor.RayExecution(
        RayJobs(address), lambda _attempt: "serving-r1", _plan(tmp_path), None
    )
    assert execution.wait(0.1) is None  # not yet: the head may come back
    ended = execution.wait(5.0)
    assert ended is not None and not ended.ok
    assert ended.describe() == f"was lost with the Ray head at {address} (no answer for 0.3 s)"


def test_a_job_is_lost_only_when_its_script_did_not_end() -> None:
    from serving.runs.ray.jobs_api import JobState

    script = "Job entrypoint command failed with exit code 1, last available logs: x"
    assert not JobState("j", "FAILED", script, 1).lost
    assert not JobState("j", "FAILED", script, None).lost  # an older Ray without the code
    assert JobState("j", "FAILED", "Job supervisor actor died: node lost", None).lost
    assert not JobState("j", "STOPPED", "", None).lost
    assert not JobState("j", "SUCCEEDED", "", 0).lost


def test_not_every_failure_without_an_exit_code_is_a_lost_node() -> None:
    from serving.runs.ray.jobs_api import JobState

    assert not JobState("j", "FAILED", "runtime_env setup failed: disk full", None).lost


def test_max_retries_is_checked_on_every_path(tmp_path: Path) -> None:
    from serving.errors import UserInputError as Refused
    from serving.runs.submit import ScriptJob, check_job, job_to_wire

    (tmp_path / "t.py").write_text("pass\n")
    for bad in (-1, 11, "2", True, 1.5):
        with pytest.raises(Refused, match="max_retries must be a whole number from 0 to 10"):
            check_job(ScriptJob(tmp_path, "t.py", max_retries=bad))  # type: ignore[arg-type]
    check_job(ScriptJob(tmp_path, "t.py", max_retries=3))
    assert "max_retries" not in job_to_wire(ScriptJob(tmp_path, "t.py"))  # older servers
    assert job_to_wire(ScriptJob(tmp_path, "t.py", max_retries=2))["max_retries"] == 2


def test_a_retry_that_cannot_be_submitted_ends_the_run_with_both_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head refuses the second submission (a fault a live cluster will not give on
    demand): the run ends Failed naming the lost node and the refusal."""
    from serving.errors import ServingError
    from serving.runs.ray import executor
    from serving.runs.ray.jobs_api import JobState

    def submit(attempt: int) -> str:
        if attempt > 1:
            raise ServingError("the Ray head answered 500")
        return "serving-r1"

    plan = replace(_plan(tmp_path), max_retries=1)
    jobs = RayJobs("http://127.0.0.1:9")
    monkeypatch.setattr(jobs, "state", lambda _id: JobState(_id, "FAILED", "node died", None))
    monkeypatch.setattr(jobs, "logs", lambda _id, *_: "")
    execution = executor.RayExecution(jobs, submit, plan, None)
    ended = execution.wait(2.0)
    assert ended is not None and not ended.ok and execution.attempt == 2
    assert ended.describe() == (
        "was lost on the Ray cluster (node died) and could not be submitted again: "
        "the Ray head answered 500"
    )
    assert "attempt 2 of 2" in (tmp_path / "log.txt").read_text()


def _queued_run(tmp_path: Path) -> tuple[Plan, RunStore]:
    """A workspace with one Ray run as the supervisor leaves it after submitting its job."""
    from serving.runs import records as rec
    from serving.workspace import Workspace

    ws = Workspace.create(path=tmp_path / "proj")
    store = RunStore(ws.path, ws.db)
    record = store.create_run("exp", kind=rec.SCRIPT, target="rc", status=rec.QUEUED)
    plan = replace(_plan(tmp_path), run_id=record.id, workspace=ws.path)
    return plan, store


def test_a_job_that_ends_between_two_polls_still_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray says SUCCEEDED at the first poll (a short script; timing a live cluster will not
    give on demand): the run was shown Running first, so it keeps a start time."""
    from serving.runs import records as rec
    from serving.runs.ray import executor
    from serving.runs.ray.jobs_api import JobState

    plan, store = _queued_run(tmp_path)
    jobs = RayJobs("http://127.0.0.1:9")
    monkeypatch.setattr(jobs, "state", lambda _id: JobState(_id, "SUCCEEDED", "", 0))
    monkeypatch.setattr(jobs, "logs", lambda _id, *_: "done\n")
    execution = executor.RayExecution(jobs, lambda _attempt: "serving-r1", plan, None)
    assert execution.started_status == rec.QUEUED
    ended = execution.wait(2.0)
    assert ended is not None and ended.ok
    record = store.get(plan.run_id)
    assert record.status == rec.RUNNING and record.started_at


def test_a_cancel_waits_only_briefly_for_a_pending_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job waiting for resources stays PENDING after its stop (Ray applies it once the
    job is placed): the cancel gives up after PENDING_STOP_S, inside the studio's wait."""
    from serving.runs import records as rec
    from serving.runs.ray import executor
    from serving.runs.ray.jobs_api import JobState

    plan, store = _queued_run(tmp_path)
    jobs = RayJobs("http://127.0.0.1:9")
    stopped: list[str] = []
    monkeypatch.setattr(jobs, "state", lambda _id: JobState(_id, "PENDING", "", None))
    monkeypatch.setattr(jobs, "stop", stopped.append)
    monkeypatch.setattr(jobs, "logs", lambda _id, *_: "")
    execution = executor.RayExecution(jobs, lambda _attempt: "serving-r1", plan, None)
    assert execution.wait(0.1) is None
    started = time.monotonic()
    ended = execution.terminate(10.0)
    took = time.monotonic() - started
    assert stopped == ["serving-r1"] and ended.describe().endswith("stopped on the Ray cluster")
    assert executor.PENDING_STOP_S <= took < executor.PENDING_STOP_S + 2
    assert store.get(plan.run_id).status == rec.QUEUED  # never shown Running

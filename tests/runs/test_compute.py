"""Compute targets: the store, the queue of runs on a compute (at most max_nodes at once,
in submission order), the SDK and CLI shapes, and a run in a real container."""

from __future__ import annotations

import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.runs import records as rec
from serving.runs.compute import (
    LOCAL_COMPUTE,
    ComputeRecord,
    ComputeStore,
    executor_for,
    gpu_warning,
    slot_state,
    wait_for_slot,
)
from serving.runs.docker_exec import DockerExecutor, container_kwargs, package_folder
from serving.runs.execution import Mount, Plan
from serving.runs.store import RunStore
from serving.sdk.compute import (
    AmlCompute,
    ComputeTarget,
    ComputeTargetException,
    DockerCompute,
    GpuUnavailableWarning,
    compute_targets,
)
from serving.workspace import Workspace
from tests.helpers import DOCKER_TIMEOUT, CliResult

if TYPE_CHECKING:
    from docker import DockerClient


@pytest.fixture()
def store(ws: Workspace) -> ComputeStore:
    return ComputeStore(ws.path, ws.db)


@pytest.fixture()
def runs(ws: Workspace) -> RunStore:
    return RunStore(ws.path, ws.db)


def _run(runs: RunStore, target: str, status: str) -> str:
    record = runs.create_run("exp", kind=rec.SCRIPT, target=target, status=status)
    time.sleep(0.002)  # distinct created_at stamps, as real submissions have
    return record.id


# -- the store ---------------------------------------------------------------------------


def test_create_get_list_delete(store: ComputeStore) -> None:
    made = store.create("cpu-cluster", max_nodes=2, cpu="1.5", memory="512m", network=True)
    assert made.spec.max_nodes == 2 and made.spec.cpu == 1.5
    assert made.spec.memory_bytes == 512 * 2**20 and made.spec.network
    assert store.get("cpu-cluster") == made
    assert [r.name for r in store.list()] == ["local", "cpu-cluster"]
    assert store.get("local") == LOCAL_COMPUTE and store.get("local").spec.max_nodes is None
    data = made.to_dict()
    assert ComputeRecord.from_dict(json.loads(json.dumps(data))) == made
    with pytest.raises(ConflictError, match="already exists"):
        store.create("cpu-cluster")
    assert store.delete("cpu-cluster") == made
    with pytest.raises(NotFoundError, match=r"compute cpu-cluster not found .*local"):
        store.get("cpu-cluster")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "local"}, "'local' is reserved"),
        ({"name": "1st"}, "not valid: 2 to 32 characters"),
        ({"name": "a/b"}, "not valid"),
        ({"name": "ok", "kind": "kubernetes"}, "type 'kubernetes' is not supported"),
        ({"name": "ok", "max_nodes": 0}, "between 1 and 64"),
        ({"name": "ok", "max_nodes": "many"}, "whole number"),
        ({"name": "ok", "cpu": "fast"}, "invalid cpu 'fast'"),
        ({"name": "ok", "cpu": 0}, "out of range"),
        ({"name": "ok", "memory": "lots"}, "invalid memory 'lots'"),
        ({"name": "ok", "memory": "1k"}, "too small"),
        ({"name": "ok", "colour": "red"}, "not supported"),
    ],
)
def test_bad_values_are_refused_clearly(
    store: ComputeStore, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        store.create(**kwargs)  # type: ignore[arg-type]
    assert [r.name for r in store.list()] == ["local"]


def test_local_cannot_be_deleted_and_busy_computes_are_kept(
    store: ComputeStore, runs: RunStore
) -> None:
    with pytest.raises(UserInputError, match="cannot be deleted"):
        store.delete("local")
    store.create("c1")
    busy = _run(runs, "c1", rec.RUNNING)
    with pytest.raises(ConflictError, match=f"1 run\\(s\\) not ended: {busy}"):
        store.delete("c1")
    runs.set_status(busy, rec.COMPLETED)
    store.delete("c1")


def test_gpu_requests_are_named_never_silently_claimed(store: ComputeStore) -> None:
    assert "no GPU is available here" in str(gpu_warning("STANDARD_NC6"))
    assert gpu_warning("Standard_ND40rs_v2") and gpu_warning("standard_nv6")
    assert "use_gpu=True" in str(gpu_warning(use_gpu=True))
    assert gpu_warning("STANDARD_D2_V2") is None
    made = store.create("gpu", vm_size="STANDARD_NC6")
    assert made.spec.notes == (gpu_warning("STANDARD_NC6"),)


def test_executor_for_picks_by_kind(store: ComputeStore) -> None:
    from serving.runs.local_exec import LocalExecutor

    assert isinstance(executor_for(None), LocalExecutor)
    assert isinstance(executor_for(LOCAL_COMPUTE), LocalExecutor)
    assert isinstance(executor_for(store.create("dk")), DockerExecutor)


# -- the queue ---------------------------------------------------------------------------


def _claimer(runs: RunStore, run_id: str, log: list[str] | None = None) -> Callable[[], None]:
    """What a supervisor's claim does: the run is Preparing (recorded in ``log``)."""

    def claim() -> None:
        if log is not None:
            log.append(run_id)
        runs.set_status(run_id, rec.PREPARING)

    return claim


def test_a_full_compute_keeps_the_run_queued_until_a_node_frees(
    ws: Workspace, store: ComputeStore, runs: RunStore
) -> None:
    compute = store.create("one", max_nodes=1)
    first = _run(runs, "one", rec.RUNNING)
    second = _run(runs, "one", rec.QUEUED)
    lines: list[str] = []
    polls = iter(range(3))
    got = wait_for_slot(
        ws.db, second, compute, lines.append, lambda: next(polls, None) is None,
        _claimer(runs, second), poll_s=0.01,
    )  # fmt: skip
    assert got is False and runs.get(second).status == rec.QUEUED
    assert lines == ["waiting for a node on compute one: 1 of 1 busy"]
    runs.set_status(first, rec.COMPLETED)
    assert wait_for_slot(
        ws.db, second, compute, lines.append, lambda: False, _claimer(runs, second)
    )
    assert runs.get(second).status == rec.PREPARING


def test_queued_runs_start_in_submission_order(
    ws: Workspace, store: ComputeStore, runs: RunStore
) -> None:
    compute = store.create("fifo", max_nodes=1)
    other = _run(runs, "elsewhere", rec.RUNNING)  # other targets do not count
    older, newer = _run(runs, "fifo", rec.QUEUED), _run(runs, "fifo", rec.QUEUED)
    state = slot_state(ws.db, newer, "fifo")
    assert state.ahead == [older] and not state.free(1)
    assert slot_state(ws.db, older, "fifo").free(1)
    assert other not in state.busy
    started: list[str] = []

    def wait(run_id: str) -> None:
        claim = _claimer(runs, run_id, started)
        wait_for_slot(ws.db, run_id, compute, print, lambda: False, claim, poll_s=0.01)

    waiter = threading.Thread(target=wait, args=(newer,))
    waiter.start()
    time.sleep(0.1)
    assert started == []  # the older run goes first
    wait(older)
    assert started == [older]
    runs.set_status(older, rec.COMPLETED)
    waiter.join(10)
    assert started == [older, newer]


def test_racing_supervisors_never_exceed_max_nodes(
    ws: Workspace, store: ComputeStore, runs: RunStore
) -> None:
    compute = store.create("two", max_nodes=2)
    queued = [_run(runs, "two", rec.QUEUED) for _ in range(3)]
    stop = threading.Event()
    claimed: list[str] = []

    def wait(run_id: str) -> None:
        claim = _claimer(runs, run_id, claimed)
        wait_for_slot(ws.db, run_id, compute, print, stop.is_set, claim, poll_s=0.01)

    threads = [threading.Thread(target=wait, args=(run_id,)) for run_id in reversed(queued)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(claimed) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert sorted(claimed) == sorted(queued[:2])
    assert runs.get(queued[2]).status == rec.QUEUED


def test_local_compute_claims_at_once(ws: Workspace, runs: RunStore) -> None:
    run_id = _run(runs, "local", rec.QUEUED)
    for _ in range(3):
        _run(runs, "local", rec.RUNNING)
    assert wait_for_slot(ws.db, run_id, LOCAL_COMPUTE, print, lambda: True, _claimer(runs, run_id))


# -- the SDK -----------------------------------------------------------------------------


def test_sdk_find_or_create_idiom(ws: Workspace) -> None:
    with pytest.raises(ComputeTargetException, match="ComputeTargetNotFound"):
        ComputeTarget(workspace=ws, name="cpu-cluster")
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=4)
    target = ComputeTarget.create(ws, "cpu-cluster", config)
    target.wait_for_completion(show_output=True)
    assert target.type == "AmlCompute" and target.name == "cpu-cluster"
    found = ComputeTarget(ws, "cpu-cluster")
    assert found.max_nodes == 4 and found._record.spec.cpu == 2.0
    assert found._record.spec.memory_bytes == 7 * 2**30
    assert ComputeTarget.create(ws, "cpu-cluster", config).name == "cpu-cluster"  # same: kept
    with pytest.raises(ComputeTargetException, match="already exists with other settings"):
        ComputeTarget.create(ws, "cpu-cluster", AmlCompute.provisioning_configuration(max_nodes=1))
    status = found.get_status().serialize()
    assert status["provisioningState"] == "Succeeded" and status["currentNodeCount"] == 0
    assert status["scaleSettings"]["maxNodeCount"] == 4
    assert "cpu-cluster" in compute_targets(ws) and "local" not in compute_targets(ws)
    found.delete()
    assert compute_targets(ws) == {}


def test_sdk_defaults_unknown_sizes_and_gpus(ws: Workspace) -> None:
    plain = ComputeTarget.create(ws, "plain", AmlCompute.provisioning_configuration())
    assert plain.max_nodes == 4 and plain._record.spec.cpu is None  # Azure's default of 4
    with pytest.warns(UserWarning, match="not one this platform knows"):
        ComputeTarget.create(
            ws, "odd", AmlCompute.provisioning_configuration(vm_size="Standard_X9")
        )
    with pytest.warns(GpuUnavailableWarning, match="no GPU is available here"):
        gpu = ComputeTarget.create(
            ws, "gpu-cluster", AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6")
        )
    assert gpu.get_status().serialize()["errors"]
    own = ComputeTarget.create(
        ws, "mine", DockerCompute.provisioning_configuration(max_nodes=2, memory="1g", network=True)
    )
    assert own.type == "Docker" and own._record.spec.network


# -- the CLI -----------------------------------------------------------------------------


@pytest.fixture()
def compute_cli(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    from serving.cli.compute import compute
    from serving.cli.main import cli as root

    monkeypatch.setitem(root.commands, "compute", compute)
    return cli


def test_cli_create_list_show_delete(compute_cli: Callable[..., CliResult]) -> None:
    made = compute_cli("compute", "create", "box", "--type", "docker", "--max-nodes", "2",
                       "--cpu", "1", "--memory", "1g", "-o", "json")  # fmt: skip
    assert made.code == 0, made.err
    assert made.json()["spec"]["max_nodes"] == 2  # type: ignore[index]
    listed = compute_cli("compute", "list")
    assert listed.code == 0 and "box" in listed.out and "local" in listed.out
    shown = compute_cli("compute", "show", "box", "-o", "json").json()
    assert shown["memory"] == "1g" and shown["active_runs"] == []  # type: ignore[index]
    bad = compute_cli("compute", "create", "box2", "--memory", "lots")
    assert bad.code == 2 and "invalid memory 'lots'" in bad.err
    assert compute_cli("compute", "delete", "box").code == 0
    missing = compute_cli("compute", "show", "box")
    assert missing.code == 3 and "compute box not found" in missing.err


# -- the container -----------------------------------------------------------------------


def _plan(ws: Path, tmp: Path, argv: list[str], environment: dict[str, object]) -> Plan:
    run_dir = ws / "runs" / f"t{time.monotonic_ns()}"
    work = run_dir / ".work"
    work.mkdir(parents=True)
    (work / "job.py").write_text(JOB)
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    (data / "x.txt").write_text("data")
    return Plan(
        run_id=run_dir.name,
        workspace=ws,
        run_dir=run_dir,
        work_dir=work,
        script_argv=["job.py", *argv],
        env={"PYTHONPATH": str(package_folder().parent), "DATA": str(data)},
        std_log=run_dir / "user_logs" / "std_log.txt",
        environment=environment or None,
        compute={"name": "box", "kind": "docker", "spec": {"max_nodes": 1, "memory_bytes": 2**29}},
        mounts=[Mount(data)],
    )


JOB = """\
import os, socket, sys, time
import serving.runs.records
print("hello from", sys.executable, "as", os.getuid(), flush=True)
print("data:", open(os.path.join(os.environ["DATA"], "x.txt")).read(), flush=True)
os.makedirs("outputs", exist_ok=True)
with open("outputs/out.txt", "w") as out:
    out.write("written")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("network: yes")
except OSError:
    print("network: no")
if sys.argv[1] == "sleep":
    print("sleeping", flush=True)
    time.sleep(120)
sys.exit(int(sys.argv[1]))
"""


def test_container_kwargs_isolate_the_run(ws: Workspace, tmp_path: Path) -> None:
    plan = _plan(ws.path, tmp_path, ["0"], {})
    compute = ComputeRecord.from_dict({**plan.compute, "spec": {"cpu": 64, "memory_bytes": 2**30}})
    kwargs = container_kwargs(plan, "img", compute, uid=1000, gid=1000, package=package_folder(),
                              host_cpus=2)  # fmt: skip
    assert kwargs["user"] == "1000:1000" and kwargs["network_mode"] == "none"
    assert kwargs["nano_cpus"] == 2 * 10**9 and kwargs["mem_limit"] == kwargs["memswap_limit"]
    assert kwargs["working_dir"] == str(plan.work_dir)
    assert kwargs["command"] == ["job.py", "0"] and kwargs["labels"]["serving.run"] == plan.run_id
    volumes = kwargs["volumes"]
    assert volumes[str(ws.path)] == {"bind": str(ws.path), "mode": "rw"}
    assert volumes[str(tmp_path / "data")]["mode"] == "ro"
    assert volumes[str(package_folder())]["mode"] == "ro"
    assert str(package_folder().parent) not in volumes  # the package alone, not its parent
    assert str(plan.work_dir) not in volumes  # inside the workspace's mount


@pytest.fixture(scope="module")
def runtime_env() -> dict[str, object]:
    from serving.environments import EnvSpec

    return EnvSpec(name="runtime-only", python="3.11").to_dict()


@pytest.fixture()
def prepared(
    base_image: str, runtime_env: dict[str, object], ws: Workspace, tmp_path: Path
) -> Iterator[tuple[DockerExecutor, Callable[[list[str]], Plan]]]:
    executor = DockerExecutor()
    lines: list[str] = []
    executor.prepare(_plan(ws.path, tmp_path, ["0"], runtime_env), lines.append)
    assert any("environment runtime-only" in line for line in lines)
    yield executor, lambda argv: _plan(ws.path, tmp_path, argv, runtime_env)
    executor.release()


@pytest.mark.docker
@pytest.mark.timeout(DOCKER_TIMEOUT)
def test_a_run_in_a_container(
    prepared: tuple[DockerExecutor, Callable[[list[str]], Plan]], engine: DockerClient
) -> None:
    executor, make = prepared
    plan = make(["3"])
    executor.prepare(plan, lambda _line: None)
    started = time.monotonic()
    execution = executor.start(plan)
    assert set(execution.describe()) == {"container"}
    done = execution.wait(60)
    assert done is not None and done.code == 3 and not done.oom_killed
    assert time.monotonic() - started < 30
    log = plan.std_log.read_text()
    assert "hello from /opt/serving/env/bin/python as" in log and "data: data" in log
    assert "network: no" in log
    out = plan.work_dir / "outputs" / "out.txt"
    assert out.read_text() == "written" and out.stat().st_uid == plan.work_dir.stat().st_uid
    assert not engine.containers.list(all=True, filters={"label": f"serving.run={plan.run_id}"})


@pytest.mark.docker
@pytest.mark.timeout(DOCKER_TIMEOUT)
def test_terminate_ends_a_sleeping_run(
    prepared: tuple[DockerExecutor, Callable[[list[str]], Plan]], engine: DockerClient
) -> None:
    executor, make = prepared
    plan = make(["sleep"])
    execution = executor.start(plan)
    deadline = time.monotonic() + 30
    while "sleeping" not in (plan.std_log.read_text() if plan.std_log.exists() else ""):
        assert time.monotonic() < deadline, "the script never started"
        time.sleep(0.1)
    assert execution.wait(0.5) is None
    started = time.monotonic()
    ended = execution.terminate(grace_s=2)
    assert time.monotonic() - started < 15
    assert not ended.ok and execution.wait(0) == ended
    assert not engine.containers.list(all=True, filters={"label": f"serving.run={plan.run_id}"})


def test_a_reporting_run_gets_no_workspace_folder(ws: Workspace, tmp_path: Path) -> None:
    """A run of a server's workspace on Docker: no workspace mount, the host's network
    (the server listens on loopback), the script under remote_entry; its working copy
    travels as a tar owned by the run's user, without the live logs link."""
    from dataclasses import replace

    from serving.runs.docker_exec import REMOTE_WORK_DIR, working_copy_tar
    from serving.runs.reporting import Report

    plan = _plan(ws.path, tmp_path, ["0"], {})
    plan = replace(plan, report=Report("http://127.0.0.1:8600", "srvt_x"))
    compute = ComputeRecord.from_dict(plan.compute)
    kwargs = container_kwargs(plan, "img", compute, uid=1000, gid=1000, package=package_folder())
    assert kwargs["network_mode"] == "host"
    assert kwargs["command"] == ["-m", "serving.runs.remote_entry", REMOTE_WORK_DIR, "job.py", "0"]
    volumes = kwargs["volumes"]
    assert not any(Path(p) == ws.path or ws.path in Path(p).parents for p in volumes)
    assert volumes[str(tmp_path / "data")]["mode"] == "ro"  # data references stay mounted
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    (plan.work_dir / "job.py").write_text("print(1)\n")
    (plan.work_dir / "logs").symlink_to(tmp_path, target_is_directory=True)
    archive = tmp_path / "copy.tar"
    with archive.open("wb") as out:
        working_copy_tar(plan.work_dir, out, uid=1000, gid=1000)
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"serving-run", "serving-run/job.py", "serving-run/logs"}
    assert members["serving-run/logs"].isdir()
    assert all(m.uid == 1000 and m.gid == 1000 for m in members.values())

"""Script runs on local compute, through the SDK, with real supervisors and processes.

The scripts use the user-managed environment (this interpreter), so no virtual
environment is built: each run takes well under a second to start.

The tests of the SDK's surface run on a folder and on a real workspace server (``any_ws``,
conftest); those that reach into a folder's processes or files (the script's pid, the
supervisor, offline runs, a killed submitter) stay on a folder (``sws``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from serving.proc import ProcessRef, is_running
from serving.runs import records as rec
from serving.runs.errors import ActivityFailedException, ModelPathNotFoundException
from serving.runs.store import RunStore
from serving.sdk import Experiment, ScriptRunConfig, Workspace
from serving.sdk.run import Run

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def sws(tmp_path: Path) -> Workspace:
    return Workspace.create(path=tmp_path / "proj")


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def submit(ws: Any, source: Path, script: str = "train.py", **kwargs: object) -> Run:
    config = ScriptRunConfig(str(source), script, **kwargs)  # type: ignore[arg-type]
    run: Run = Experiment(ws, "tests").submit(config)
    return run


def wait_status(store: RunStore, run_id: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = store.find(run_id)
        if record.terminal:
            return record.status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end: {store.get(run_id).status}")


METRICS_SCRIPT = """
import numpy as np
from azureml.core.run import Run
run = Run.get_context()
run.log("once", 0.5)
for i in range(3):
    run.log("loss", 1.0 / (i + 1), step=i)
run.log("i64", np.int64(7))
run.log("f32", np.float32(0.25))
run.log_list("accs", [np.float64(0.1), 0.2, np.int32(3)])
run.log_row("row1", epoch=1, acc=0.5)
run.log_row("rows", epoch=1, acc=0.5)
run.log_row("rows", epoch=2, acc=0.7)
run.log_table("tbl", {"a": [1, 2], "b": [3, 4]})
try:
    run.log("bad", [1, 2])
except Exception as exc:
    print("refused:", exc)
run.tag("stage", "test")
run.complete()  # a no-op for a submitted run: the exit code decides
import os
os.makedirs("outputs/model", exist_ok=True)
open("outputs/model/weights.bin", "wb").write(b"w")
open("outputs/model.pkl", "wb").write(b"m")
"""


def test_metrics_shapes_outputs_and_register(any_ws: Any, tmp_path: Path) -> None:
    sws = any_ws
    write(tmp_path / "src", "train.py", METRICS_SCRIPT)
    run = submit(sws, tmp_path / "src")
    details = run.wait_for_completion()
    assert details["status"] == "Completed"
    metrics = run.get_metrics()
    assert metrics["once"] == 0.5
    assert metrics["loss"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert metrics["i64"] == 7 and isinstance(metrics["i64"], int)
    assert metrics["f32"] == 0.25 and isinstance(metrics["f32"], float)
    assert metrics["accs"] == [0.1, 0.2, 3]
    assert metrics["row1"] == {"epoch": 1, "acc": 0.5}
    assert metrics["rows"] == {"epoch": [1, 2], "acc": [0.5, 0.7]}
    assert metrics["tbl"] == {"a": [1, 2], "b": [3, 4]}
    assert "bad" not in metrics
    run.download_file("user_logs/std_log.txt", tmp_path / "log.txt")
    log = (tmp_path / "log.txt").read_text()
    assert "refused: run.log does not support list type. Use run.log_list instead" in log
    assert run.get_tags()["stage"] == "test"
    names = run.get_file_names()
    assert {"outputs/model.pkl", "outputs/model/weights.bin", "user_logs/std_log.txt"} <= set(names)
    model = run.register_model("tmodel", "outputs/model")
    assert model.version == 1
    assert sws.models.list(run_id=run.id)[0].name == "tmodel"
    with pytest.raises(ModelPathNotFoundException) as info:
        run.register_model("nomodel", "outputs/missing.pkl")
    assert "Could not locate the provided model_path outputs/missing.pkl" in str(info.value)
    assert "outputs/model.pkl" in str(info.value)


def test_details_and_environment_variables(any_ws: Any, tmp_path: Path) -> None:
    sws = any_ws
    write(
        tmp_path / "src",
        "train.py",
        """
        import json, os, sys
        keys = [k for k in os.environ if k.startswith("AZUREML_")]
        print(json.dumps({k: os.environ[k] for k in keys}))
        print("ARGS", sys.argv[1:])
        """,
    )
    run = submit(sws, tmp_path / "src", arguments=["--n", 3, "--lr", 0.5])
    details = run.wait_for_completion()
    for key in ("runId", "target", "status", "startTimeUtc", "endTimeUtc", "properties"):
        assert key in details
    assert details["runDefinition"]["arguments"] == ["--n", "3", "--lr", "0.5"]
    assert details["properties"]["ContentSnapshotId"]
    run.download_file("user_logs/std_log.txt", tmp_path / "log.txt")
    log = (tmp_path / "log.txt").read_text()
    env = json.loads(log.splitlines()[0])
    assert env["AZUREML_RUN_ID"] == run.id
    assert env["AZUREML_ARM_PROJECT_NAME"] == "tests"
    assert env["AZUREML_OUTPUT_DIRECTORY"] == "outputs"
    assert "ARGS ['--n', '3', '--lr', '0.5']" in log
    assert run.id.startswith("tests_") and run.number == 1


def test_failing_script_is_failed_with_log_tail(any_ws: Any, tmp_path: Path) -> None:
    write(tmp_path / "src", "train.py", "print('about to fail')\nraise SystemExit(1)\n")
    run = submit(any_ws, tmp_path / "src")
    with pytest.raises(ActivityFailedException) as info:
        run.wait_for_completion()
    error = json.loads(info.value.error_details)["error"]
    assert "exited with status 1" in error["message"]
    assert "about to fail" in error["log_tail"]
    assert run.get_status() == "Failed"


def test_sigkilled_script_is_failed(any_ws: Any, tmp_path: Path) -> None:
    sws = any_ws
    write(tmp_path / "src", "train.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    run = submit(sws, tmp_path / "src")
    run.wait_for_completion(raise_on_error=False)
    record = sws.runs.get(run.id)
    assert record.status == "Failed"
    assert record.error is not None and "SIGKILL" in record.error["message"]
    assert record.error["exit_code"] == -signal.SIGKILL


def test_cancel_ends_the_process_tree(sws: Workspace, tmp_path: Path) -> None:
    write(
        tmp_path / "src",
        "train.py",
        """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        open("logs/child.pid", "w").write(str(child.pid))
        time.sleep(300)
        """,
    )
    run = submit(sws, tmp_path / "src")
    pid_file = sws.runs.run_dir(run.id) / "logs/child.pid"
    deadline = time.monotonic() + 30
    while not pid_file.is_file() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the script did not start"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    script = ProcessRef.from_dict(sws.runs.get(run.id).supervisor["script"])
    assert script is not None
    run.cancel()
    assert run.get_status() == "Canceled"
    time.sleep(0.3)
    assert not is_running(script)
    assert not is_running(ProcessRef(child, None))  # gone, or a zombie left to init


def test_submitter_killed_the_run_still_completes(sws: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "src", "train.py", "import time\ntime.sleep(2)\nprint('done')\n")
    program = textwrap.dedent(
        f"""
        import sys, time
        from serving.sdk import Experiment, ScriptRunConfig, Workspace
        ws = Workspace.get(path={str(sws.path)!r})
        run = Experiment(ws, "tests").submit(ScriptRunConfig({str(tmp_path / "src")!r}, "train.py"))
        print(run.id, flush=True)
        run.wait_for_completion(show_output=True)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        proc.send_signal(signal.SIGKILL)
    assert wait_status(sws.runs, run_id) == "Completed"
    assert "done" in (sws.runs.run_dir(run_id) / "user_logs/std_log.txt").read_text()


def test_lost_supervisor_is_failed(sws: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "src", "train.py", "import time\ntime.sleep(300)\n")
    run = submit(sws, tmp_path / "src")
    deadline = time.monotonic() + 30
    while sws.runs.get(run.id).status != rec.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    record = sws.runs.get(run.id)
    supervisor = ProcessRef.from_dict(record.supervisor["process"])
    script = ProcessRef.from_dict(record.supervisor["script"])
    assert supervisor is not None and script is not None
    os.kill(supervisor.pid, signal.SIGKILL)
    time.sleep(0.5)
    assert run.get_status() == "Failed"
    assert "supervisor" in (sws.runs.get(run.id).error or {}).get("message", "")
    os.killpg(script.pid, signal.SIGKILL)


def test_real_azureml_core_is_shadowed(any_ws: Any, tmp_path: Path) -> None:
    """An installed azureml-core must not be reached inside a run: ours comes first."""
    sws = any_ws
    fake = tmp_path / "site" / "azureml" / "core"
    write(fake, "__init__.py", "raise RuntimeError('the real azureml-core tried to reach Azure')\n")
    write(tmp_path / "site" / "azureml", "__init__.py", "")
    write(
        tmp_path / "src",
        "train.py",
        "from azureml.core import Run\nrun = Run.get_context()\nrun.log('ok', 1)\n",
    )
    config = ScriptRunConfig(str(tmp_path / "src"), "train.py")
    config.run_config.environment_variables = {"PYTHONPATH": str(tmp_path / "site")}
    run = Experiment(sws, "tests").submit(config)
    run.wait_for_completion()
    assert run.get_metrics() == {"ok": 1}


def test_offline_context_prints_and_never_raises(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "train.py",
        """
        import numpy as np
        from azureml.core import Run
        run = Run.get_context()
        run.log("acc", np.float64(0.9), step=1)
        run.log_list("l", [1, 2])
        run.log_table("t", {"a": [1]})
        run.log_image("img", path="nothing.png")
        run.tag("k", "v")
        run.upload_file("x", "nothing")
        with run.child_run() as child:
            child.log("c", 1)
        run.complete()
        print("survived", run.id.startswith("OfflineRun_"), hasattr(run, "get_metrics"))
        """,
    )
    from serving.runs.supervisor import COMPAT_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZUREML_", "SERVING_"))}
    env["PYTHONPATH"] = str(COMPAT_DIR)
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "Attempted to log scalar metric acc:\n0.9" in out
    assert "survived True False" in out


def test_interactive_run_and_child_runs(any_ws: Any, tmp_path: Path) -> None:
    sws = any_ws
    exp = Experiment(sws, "notebook")
    with exp.start_logging() as run:
        run.log("a", 1)
        child = run.child_run(name="fold-1")
        child.log("score", 0.5)
        child.complete()
    assert run.get_status() == "Completed"
    assert child.get_status() == "Completed"
    assert [c.id for c in run.get_children()] == [child.id]
    assert run.get_metrics(recursive=True) == {run.id: {"a": 1}, child.id: {"score": 0.5}}
    assert [r.id for r in exp.get_runs()] == [run.id]
    assert Run(exp, run.id).get_metrics() == {"a": 1}
    assert sws.get_run(child.id).parent is not None


def test_cli_killed_while_streaming_the_run_still_completes(sws: Workspace, tmp_path: Path) -> None:
    write(
        tmp_path / "src", "train.py", "import time\nprint('started', flush=True)\ntime.sleep(2)\n"
    )
    env = {**os.environ, "SERVING_WORKSPACE": str(sws.path)}
    argv = [sys.executable, "-m", "serving", "runs", "submit", str(tmp_path / "src/train.py")]
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "started" in line:  # the CLI is streaming the log
                break
        proc.send_signal(signal.SIGKILL)
    (record,) = sws.runs.list()
    assert wait_status(sws.runs, record.id) == "Completed"

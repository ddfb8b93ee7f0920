"""`serving runs ...` and `serving experiments list` on real local runs in the current
interpreter (user-managed: no environment is built, so each run starts in well under a
second). The CLI runs in-process through ``serving.cli.main.main``.

Every test that goes through the CLI runs twice (``kind``): against the workspace folder,
and against a real workspace server (gunicorn) over it (``--workspace http://...`` with
``SERVING_TOKEN``), where runs are submitted through the API and execute on the server's
machine. Reading the folder behind the server (``RunStore``) stays the tests' oracle in
both."""

from __future__ import annotations

import _thread
import contextlib
import io
import json
import os
import re
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from serving.cli.main import cli as cli_group
from serving.cli.main import main
from serving.cli.run_views import experiment_for, locate_script
from serving.cli.runs import experiments as experiments_command
from serving.cli.runs import runs as runs_command
from serving.runs import follow
from serving.runs import records as rec
from serving.runs.store import STD_LOG, RunStore
from serving.sdk import Workspace as SdkWorkspace
from serving.workspace import Workspace
from tests.helpers import CliResult
from tests.remote_fixtures import HubProcess, start_hub, stop_hub

pytestmark = pytest.mark.timeout(120)

TRAIN = """
import sys
import time
from pathlib import Path
from azureml.core import Run

run = Run.get_context()
lr = float(sys.argv[sys.argv.index("--lr") + 1])
pause = float(sys.argv[sys.argv.index("--pause") + 1]) if "--pause" in sys.argv else 0.0
print("training with lr", lr, flush=True)
for step in range(3):
    run.log("loss", round(1.0 / (step + 1) + lr, 4), step=step)
    run.log("val_acc", [0.5, 0.7, 0.6][step], step=step)
    run.flush()
    time.sleep(pause)
run.log("accuracy", round(0.9 - lr, 4))
run.log("note", "text values are listed, not charted")
Path("outputs").mkdir(exist_ok=True)
Path("outputs/model.pkl").write_bytes(b"model")
print("done", flush=True)
"""
FAIL = """
print("loading data", flush=True)
raise SystemExit("the data folder is empty")
"""
SLEEP = """
import sys
import time
print("sleeping", flush=True)
time.sleep(float(sys.argv[1]))
print("woke up", flush=True)
"""
ENV = """
name: tiny
dependencies:
  - python=3.11
  - pip:
    - six
"""
PNG = b"\x89PNG\r\n\x1a\n"

Cli = Callable[..., CliResult]


def _register_commands() -> None:
    for command in (runs_command, experiments_command):
        if command.name not in cli_group.commands:  # until serving.cli.main registers them
            cli_group.add_command(command)


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def wait_for(store: RunStore, run_id: str, wanted: set[str], timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = store.find(run_id).status
        if status in wanted:
            return status
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not reach {sorted(wanted)}")


@contextlib.contextmanager
def _token(token: str | None) -> Iterator[None]:
    """``SERVING_TOKEN`` set (or unset) for a block outside any monkeypatch."""
    before = os.environ.pop("SERVING_TOKEN", None)
    if token:
        os.environ["SERVING_TOKEN"] = token
    try:
        yield
    finally:
        os.environ.pop("SERVING_TOKEN", None)
        if before is not None:
            os.environ["SERVING_TOKEN"] = before


def _submit_detached(target: str, token: str | None, *args: object) -> str:
    """``runs submit --detach -o json`` in-process, outside any capsys (module fixtures)."""
    out, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errors), _token(token):
        code = main(["--workspace", target, "runs", "submit", *(str(a) for a in args)])
    assert code == 0, errors.getvalue()
    run_id: str = json.loads(out.getvalue())["id"]
    return run_id


@dataclass(frozen=True)
class Trained:
    """A workspace with two completed training runs (lr 0.1 and 0.5)."""

    ws: Path
    source: Path
    store: RunStore
    first: str
    second: str
    target: str
    """The folder, or the URL of the server over it."""
    token: str | None = None

    @property
    def remote(self) -> bool:
        return self.token is not None


@pytest.fixture(scope="module", params=["folder", "server"])
def kind(request: pytest.FixtureRequest) -> str:
    param: str = request.param
    return param


@pytest.fixture(scope="module")
def trained(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    _register_commands()
    root = tmp_path_factory.mktemp("runs-cli")
    ws = Workspace.open(root / "ws", create=True)
    hub = start_hub(ws, root / "server.log") if kind == "server" else None
    target, token = (hub.base, hub.tokens["rw"]) if hub else (str(ws.path), None)
    try:
        yield _train(ws, root, target, token)
    finally:
        if hub is not None:
            stop_hub(hub)


def _train(ws: Workspace, root: Path, target: str, token: str | None) -> Trained:
    source = root / "my project"
    write(source, "train.py", TRAIN)
    env = write(root / "envs", "env.yml", ENV)
    first = _submit_detached(
        target,
        token,
        source / "train.py",
        "--detach",
        "-o",
        "json",
        "--tag",
        "lr=0.1",
        "--",
        "--lr",
        "0.1",
    )
    second = _submit_detached(
        target, token, "train.py", "--source-dir", source, "--experiment", "tuning",
        "--env", env, "--user-managed", "--display-name", "second",
        "--detach", "-o", "json", "--", "--lr", "0.5",
    )  # fmt: skip
    store = RunStore(ws.path, ws.db)
    for run_id in (first, second):
        assert follow.wait(store, run_id, timeout_s=60).status == rec.COMPLETED
    return Trained(ws.path, source, store, first, second, target, token)


@pytest.fixture()
def cli_at(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Cli]:
    """The CLI in-process against a given workspace (a folder, or a server's URL and
    token)."""
    _register_commands()
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("SERVING_TOKEN", raising=False)

    def at(target: str | Path, token: str | None = None) -> Cli:
        if token:
            monkeypatch.setenv("SERVING_TOKEN", token)

        def run(*args: object) -> CliResult:
            capsys.readouterr()
            code = main(["--workspace", str(target), *(str(a) for a in args)])
            captured = capsys.readouterr()
            return CliResult(code, captured.out, captured.err)

        return run

    return at


@pytest.fixture()
def shared(trained: Trained, cli_at: Callable[..., Cli]) -> Cli:
    return cli_at(trained.target, trained.token)


@pytest.fixture()
def fresh_ws(tmp_path: Path) -> Workspace:
    return Workspace.open(tmp_path / "ws", create=True)


@pytest.fixture()
def fresh_hub(kind: str, fresh_ws: Workspace, tmp_path: Path) -> Iterator[HubProcess | None]:
    """A server over the fresh workspace in ``server`` mode."""
    if kind == "folder":
        yield None
        return
    hub = start_hub(fresh_ws, tmp_path / "server.log")
    try:
        yield hub
    finally:
        stop_hub(hub)


@pytest.fixture()
def fresh(fresh_ws: Workspace, fresh_hub: HubProcess | None, cli_at: Callable[..., Cli]) -> Cli:
    if fresh_hub is None:
        return cli_at(fresh_ws.path)
    return cli_at(fresh_hub.base, fresh_hub.tokens["rw"])


def rows_of(result: CliResult) -> list[dict[str, Any]]:
    data = json.loads(result.out)
    assert isinstance(data, list), result.out
    return data


def object_of(result: CliResult) -> dict[str, Any]:
    data = json.loads(result.out)
    assert isinstance(data, dict), result.out
    return data


def one_error_line(result: CliResult) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


# -- submit --------------------------------------------------------------------------------
def test_submit_streams_the_log_and_live_metrics(fresh: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "src", "train.py", TRAIN)
    result = fresh("runs", "submit", script, "--", "--lr", "0.1", "--pause", "0.4")
    assert result.code == 0, result.err
    assert result.out.startswith("RunId: src_")
    assert "training with lr 0.1" in result.out
    # a metric line arrives while the script still runs, before its last output (a poll
    # shows each metric's latest value: which step's depends on when the poll falls)
    early = re.search(r"metric loss=\S+ \(step \d\)", result.out)
    assert early is not None and early.start() < result.out.index("done"), result.out
    assert "Status: Completed" in result.out
    assert "Metrics: loss=0.4333 (3 values, min 0.4333, max 1.1)" in result.out
    names = [e["name"] for e in rows_of(fresh("experiments", "list", "-o", "json"))]
    assert names == ["src"]


def test_submit_json_keeps_stdout_for_the_record(fresh: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "src", "train.py", TRAIN)
    result = fresh("runs", "submit", "-o", "json", "-e", "exp1", script, "--", "--lr", "0.2")
    assert result.code == 0, result.err
    record = json.loads(result.out)  # stdout is the record alone: pipe-able
    assert record["status"] == "Completed" and record["experiment"] == "exp1"
    assert record["definition"]["arguments"] == ["--lr", "0.2"]
    assert f"RunId: {record['id']}" in result.err and "training with lr 0.2" in result.err


def test_failing_script_exits_8_with_the_log_tail(fresh: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "jobs", "fail.py", FAIL)
    result = fresh("runs", "submit", "-o", "json", script)
    assert result.code == 8
    record = json.loads(result.out)
    assert record["status"] == "Failed"
    last = result.err.strip().splitlines()[-1]
    assert last.startswith(f"error: run {record['id']} Failed: User program failed")
    assert last.endswith("(last log line: the data folder is empty)")
    assert "loading data" in result.err  # streamed on stderr
    shown = fresh("runs", "show", record["id"])
    assert shown.code == 0
    assert "log_tail" in shown.out and "loading data" in shown.out
    assert "UserError: User program failed" in shown.out
    details = object_of(fresh("runs", "show", record["id"], "-o", "json"))
    assert "the data folder is empty" in details["log_tail"]


def test_ctrl_c_stops_following_and_the_run_goes_on(
    fresh: Cli, fresh_ws: Workspace, tmp_path: Path
) -> None:
    script = write(tmp_path / "src", "sleep.py", SLEEP)
    store = RunStore(fresh_ws.path, fresh_ws.db)
    fired, calling = threading.Event(), threading.Event()

    def interrupt_once_sleeping() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and calling.is_set():
            found = store.list()
            log = store.run_dir(found[0].id) / STD_LOG if found else None
            if log is not None and log.is_file() and "sleeping" in log.read_text():
                fired.set()
                _thread.interrupt_main()  # what Ctrl-C does to the CLI's main thread
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=interrupt_once_sleeping)
    calling.set()  # never an interrupt after the CLI returned: it would stop pytest itself
    watcher.start()
    try:
        result = fresh("runs", "submit", script, "--", "4")
    finally:
        calling.clear()
        watcher.join()
    assert fired.is_set()
    assert result.code == 130
    line = one_error_line(result)
    run_id = store.list()[0].id
    assert "goes on running" in line and f"serving runs logs {run_id} --follow" in line
    assert wait_for(store, run_id, set(rec.TERMINAL)) == rec.COMPLETED
    assert "woke up" in fresh("runs", "logs", run_id).out


def test_cancel_a_running_run(fresh: Cli, fresh_ws: Workspace, tmp_path: Path) -> None:
    script = write(tmp_path / "src", "sleep.py", SLEEP)
    submitted = fresh("runs", "submit", "--detach", script, "--", "30")
    assert submitted.code == 0, submitted.err
    run_id = submitted.out.strip()  # text mode: the run id alone
    store = RunStore(fresh_ws.path, fresh_ws.db)
    wait_for(store, run_id, {rec.RUNNING})
    result = fresh("runs", "cancel", run_id)
    assert (result.code, result.out.strip()) == (0, f"run {run_id} Canceled")
    again = fresh("runs", "cancel", run_id, "-o", "json")
    assert again.json() == {"id": run_id, "status": "Canceled"}
    listed = rows_of(fresh("runs", "list", "--status", "canceled", "-o", "json"))
    assert [r["id"] for r in listed] == [run_id]


def test_submit_errors_are_one_line(fresh: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "src", "train.py", TRAIN)
    missing = fresh("runs", "submit", tmp_path / "src" / "nope.py")
    assert missing.code == 2 and "script nope.py not found" in one_error_line(missing)
    no_env = fresh("runs", "submit", script, "--env", tmp_path / "nope.yml")
    assert no_env.code == 3 and "does not exist" in one_error_line(no_env)
    bad_name = fresh("runs", "submit", script, "--experiment=bad name")
    assert bad_name.code == 2 and "experiment name" in one_error_line(bad_name)
    assert fresh("runs", "list", "-o", "json").json() == []


def test_experiment_name_and_script_location(tmp_path: Path) -> None:
    assert experiment_for(Path("/x/my project")) == "my_project"
    assert experiment_for(Path("/x/_train-2")) == "train-2"
    assert experiment_for(Path("/x/...")) == "default"
    script = write(tmp_path / "src" / "jobs", "train.py", "")
    assert locate_script(script, None) == (script.parent, "train.py")
    source = tmp_path / "src"
    assert locate_script(Path("jobs/train.py"), source) == (source, "jobs/train.py")
    assert locate_script(script, source) == (source, "jobs/train.py")


# -- looking at runs -----------------------------------------------------------------------
def test_list_and_experiments(shared: Cli, trained: Trained) -> None:
    rows = rows_of(shared("runs", "list", "-o", "json"))
    assert {(r["id"], r["experiment"]) for r in rows} == {
        (trained.first, "my_project"),
        (trained.second, "tuning"),
    }
    only = rows_of(shared("runs", "list", "--experiment", "tuning", "-o", "json"))
    assert [r["id"] for r in only] == [trained.second]
    newest = rows_of(shared("runs", "list", "--status", "Completed", "--limit", "1", "-o", "json"))
    assert [r["id"] for r in newest] == [trained.second]
    text = shared("runs", "list")
    assert text.out.split()[:3] == ["RUN", "EXPERIMENT", "STATUS"]
    assert trained.first in text.out and "Completed" in text.out
    unknown = shared("runs", "list", "--experiment", "nope")
    assert unknown.code == 3 and one_error_line(unknown) == "error: experiment nope not found"
    found = rows_of(shared("experiments", "list", "-o", "json"))
    assert [(e["name"], e["runs"]) for e in found] == [("my_project", 1), ("tuning", 1)]
    assert "my_project" in shared("experiments", "list").out


def test_show(shared: Cli, trained: Trained) -> None:
    data = object_of(shared("runs", "show", trained.first, "-o", "json"))
    assert data["status"] == "Completed" and data["arguments"] == ["--lr", "0.1"]
    assert data["metrics"]["loss"] == [1.1, 0.6, 0.4333]
    assert "outputs/model.pkl" in data["files"] and data["tags"] == {"lr": "0.1"}
    assert data["environment"].startswith("user-managed (") and data["duration_s"] > 0
    second = object_of(shared("runs", "show", trained.second, "-o", "json"))
    assert second["display_name"] == "second" and second["script"] == "train.py"
    assert second["source_directory"] == str(trained.source.resolve())
    assert second["environment"].endswith("environment tiny")
    text = shared("runs", "show", trained.first).out
    assert "--lr 0.1" in text and "loss: 0.4333 (3 values, min 0.4333, max 1.1)" in text
    assert "val_acc: 0.6 (3 values, min 0.5, max 0.7)" in text and "outputs/model.pkl" in text


def test_metrics(shared: Cli, trained: Trained) -> None:
    values = object_of(shared("runs", "metrics", trained.first, "-o", "json"))
    run = SdkWorkspace(trained.ws).get_run(trained.first)
    assert values == run.get_metrics()
    assert values == {
        "loss": [1.1, 0.6, 0.4333],
        "val_acc": [0.5, 0.7, 0.6],
        "accuracy": 0.8,
        "note": "text values are listed, not charted",
    }
    table = shared("runs", "metrics", trained.first).out.splitlines()
    assert table[0].split() == ["METRIC", "COUNT", "LAST", "MIN", "MAX"]
    assert table[1].split() == ["loss", "3", "0.4333", "0.4333", "1.1"]
    one = shared("runs", "metrics", trained.first, "--name", "accuracy", "-o", "json")
    assert one.json() == {"accuracy": 0.8}
    missing = shared("runs", "metrics", trained.first, "--name", "nope")
    assert missing.code == 3 and "has no metric nope" in one_error_line(missing)


def test_logs(shared: Cli, trained: Trained) -> None:
    assert shared("runs", "logs", trained.first).out == "training with lr 0.1\ndone\n"
    assert "running train.py --lr 0.1" in shared("runs", "logs", trained.first, "--system").out
    data = object_of(shared("runs", "logs", trained.first, "-o", "json"))
    assert data["log"] == "training with lr 0.1\ndone\n"
    followed = shared("runs", "logs", trained.first, "--follow")
    assert "done" in followed.out and "Status: Completed" in followed.out
    system = shared("runs", "logs", trained.first, "--follow", "--system")
    assert system.code == 0 and "supervising run" in system.out
    as_json = shared("runs", "logs", trained.first, "--follow", "--system", "-o", "json")
    assert object_of(as_json)["status"] == "Completed" and "supervising run" in as_json.err


def test_download(
    shared: Cli, trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dl"
    result = shared("runs", "download", trained.first, "--prefix", "outputs/", "--output-dir", dest)
    assert (result.code, result.out.strip()) == (0, f"downloaded 1 file to {dest}")
    assert (dest / "outputs" / "model.pkl").read_bytes() == b"model"
    monkeypatch.chdir(tmp_path)
    assert shared("runs", "download", trained.first).code == 0
    assert (tmp_path / trained.first / "user_logs" / "std_log.txt").is_file()
    nothing = shared("runs", "download", trained.first, "--prefix", "nope/")
    assert nothing.code == 3 and "outputs/model.pkl" in one_error_line(nothing)


def test_compare(shared: Cli, trained: Trained) -> None:
    rows = rows_of(shared("runs", "compare", trained.first, trained.second, "-o", "json"))
    assert [r["arguments"] for r in rows] == [["--lr", "0.1"], ["--lr", "0.5"]]
    assert rows[0]["metrics"]["loss"] == {
        "final": 0.4333,
        "best": 0.4333,
        "goal": "min",
        "count": 3,
    }
    assert rows[1]["metrics"]["val_acc"] == {"final": 0.6, "best": 0.7, "goal": "max", "count": 3}
    assert "note" not in rows[0]["metrics"]  # text values are not compared
    text = shared("runs", "compare", trained.first, trained.second).out.splitlines()
    assert text[0].split() == ["RUN", "STATUS", "loss", "val_acc", "accuracy", "ARGUMENTS"]
    assert text[2].split() == [trained.second, "Completed", "0.8333", "0.6", "(best", "0.7)",
                               "0.4", "--lr", "0.5"]  # fmt: skip
    one = shared("runs", "compare", trained.first, trained.second, "-m", "accuracy", "-o", "json")
    assert [list(r["metrics"]) for r in rows_of(one)] == [["accuracy"], ["accuracy"]]
    missing = shared("runs", "compare", trained.first, "--metric", "nope")
    assert missing.code == 3 and "no numeric metric nope" in one_error_line(missing)


def test_register_records_lineage(shared: Cli, trained: Trained) -> None:
    result = shared(
        "runs", "register", trained.first, "--name", "digits", "--path", "outputs/model.pkl",
        "--tag", "stage=dev", "--description", "from the cli",
    )  # fmt: skip
    assert (result.code, result.out.strip()) == (0, "digits:1")
    model = object_of(shared("models", "show", "digits", "-o", "json"))
    assert model["run_id"] == trained.first and model["tags"] == {"stage": "dev"}
    assert model["properties"]["experiment_name"] == "my_project"
    assert trained.first in shared("models", "show", "digits").out
    missing = shared("runs", "register", trained.first, "--name", "m", "--path", "outputs/x")
    assert missing.code == 2 and "outputs/model.pkl" in one_error_line(missing)


def test_chart(
    shared: Cli, trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = tmp_path / "both.png"
    result = shared("runs", "chart", trained.first, trained.second, "--output", both)
    assert (result.code, result.out.strip()) == (0, f"wrote {both}")
    assert both.read_bytes().startswith(PNG)
    one = shared(
        "runs", "chart", trained.first, "-m", "loss", "--output", tmp_path / "l.png", "-o", "json"
    )
    assert one.json() == {"output": str(tmp_path / "l.png"), "metrics": ["loss"]}
    assert (tmp_path / "l.png").read_bytes().startswith(PNG)
    missing = shared("runs", "chart", trained.first, "-m", "nope", "--output", tmp_path / "n.png")
    assert missing.code == 3 and not (tmp_path / "n.png").exists()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    absent = shared("runs", "chart", trained.first, "--output", tmp_path / "x.png")
    assert absent.code == 2
    assert "matplotlib" in one_error_line(absent) and "serving[loadtest]" in absent.err


@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["logs"],
        ["metrics"],
        ["cancel"],
        ["download"],
        ["compare"],
        ["chart", "--output", "x.png"],
        ["register", "--name", "m", "--path", "outputs/model.pkl"],
    ],
)
def test_unknown_run_is_exit_3_on_one_line(shared: Cli, command: list[str]) -> None:
    name, *rest = command
    result = shared("runs", name, "nope_1_2", *rest)
    assert result.code == 3
    assert one_error_line(result) == "error: run nope_1_2 not found"

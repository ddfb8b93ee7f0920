"""Hardening of the endpoint lifecycle on the local target, with real CLI subprocesses and
real gunicorn processes: the per-endpoint lock, Ctrl-C during deploy, an update whose
init() fails, proxies ignored for loopback, rotating logs, leftovers and permissions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from serving.config import PlatformSettings
from serving.deploy import process, service
from serving.deploy.docker import write_keys as write_docker_keys
from serving.deploy.folders import endpoint_folder
from serving.deploy.toolkit import write_keys
from serving.errors import UserInputError
from serving.workspace import Workspace
from tests.helpers import FIXTURES, CliResult, cli_env, serving_cmd

Cli = Callable[..., CliResult]
Proc = Callable[..., subprocess.CompletedProcess[str]]

SLOW_INIT = """
import time

def init():
    time.sleep(120)

def run(data):
    return data
"""


def _deploy_ok(proc_cli: Proc, model: Path, env: Path, name: str, *extra: str) -> dict[str, object]:
    registered = proc_cli("models", "register", model, "--name", "m")
    assert registered.returncode == 0, registered.stderr
    result = proc_cli(
        "deploy", name, "--model", "m", "--entry-script", FIXTURES / "ok.py",
        "--env", env, "--workers", "1", "-o", "json", *extra, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def _start_cli(ws_path: Path, *args: object) -> subprocess.Popen[str]:
    """The CLI as a subprocess on ``ws_path``, its output captured, to signal or race."""
    return subprocess.Popen(
        serving_cmd(*(str(a) for a in args)),
        env=cli_env(ws_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _processes_under(folder: Path) -> list[int]:
    """Pids of processes whose command line names ``folder`` (servers run from it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline and _running(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_two_deletes_race_one_wins_the_other_is_one_line(
    proc_cli: Proc, ws_path: Path, small_tree: Path, runtime_only_env: Path
) -> None:
    data = _deploy_ok(proc_cli, small_tree, runtime_only_env, "race-svc")
    record = Workspace.open(ws_path).endpoints.get("race-svc")
    assert record.keys == () and record.runtime["server_env"]["SERVING_AUTH"] == "none"
    pid = int(record.runtime["process"]["pid"])
    assert _running(pid)
    racers = [_start_cli(ws_path, "endpoints", "delete", "race-svc") for _ in range(2)]
    outcomes = sorted((p.wait(timeout=120), p.communicate()[1]) for p in racers)
    assert [code for code, _ in outcomes] == [0, 3], outcomes
    loser = outcomes[1][1]
    errors = [line for line in loser.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "endpoint race-svc not found" in errors[0], loser
    assert "Traceback" not in loser and loser.strip().splitlines()[-1] == errors[0]
    assert not _running(pid)
    assert Workspace.open(ws_path).endpoints.list() == []
    assert not (ws_path / "endpoints" / "race-svc").exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(str(data["scoring_uri"]), timeout=5)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_deploy_leaves_nothing_delete_cannot_find(
    proc_cli: Proc,
    ws_path: Path,
    small_tree: Path,
    runtime_only_env: Path,
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    script = tmp_path / "slow_init.py"
    script.write_text(SLOW_INIT)
    assert proc_cli("models", "register", small_tree, "--name", "m").returncode == 0
    cli = _start_cli(
        ws_path, "deploy", "slow-svc", "--model", "m", "--entry-script", script,
        "--env", runtime_only_env, "--workers", "1",
    )  # fmt: skip
    ws = Workspace.open(ws_path)
    deadline = time.monotonic() + 600
    pid = None
    while pid is None:
        assert cli.poll() is None, cli.communicate()[1]
        assert time.monotonic() < deadline, "the server was never recorded"
        try:
            pid = ws.endpoints.get("slow-svc").runtime.get("process", {}).get("pid")
        except Exception:  # the record is not there yet
            pid = None
        time.sleep(0.2)
    time.sleep(1.0)  # well into the readiness wait (init sleeps for two minutes)
    assert _running(pid)
    cli.send_signal(signum)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == (130 if signum == signal.SIGINT else -signal.SIGKILL), err
    record = ws.endpoints.get("slow-svc")
    assert record.runtime["process"]["pid"] == pid
    if signum == signal.SIGINT:
        assert record.state == "Failed" and record.error == "interrupted"
    deleted = proc_cli("endpoints", "delete", "slow-svc")
    assert deleted.returncode == 0, deleted.stderr
    assert not _running(pid)
    assert _processes_under(ws_path / "endpoints" / "slow-svc") == []
    assert ws.endpoints.list() == []


@pytest.mark.slow
def test_failed_update_leaves_the_old_version_serving_and_recorded(
    proc_cli: Proc,
    ws_path: Path,
    small_tree: Path,
    runtime_only_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _deploy_ok(proc_cli, small_tree, runtime_only_env, "upd-svc", "--auth")
    uri = str(data["scoring_uri"])
    key = data["keys"][0]  # type: ignore[index]
    headers = {"Authorization": f"Bearer {key}"}
    assert requests.post(uri, json={"data": [1, 2]}, headers=headers, timeout=10).json() == {
        "sum": 3
    }
    updated = proc_cli(
        "endpoints", "update", "upd-svc", "--entry-script", FIXTURES / "init_raises.py",
        timeout=300,
    )  # fmt: skip
    assert updated.returncode == 6, updated.stderr
    assert "init exploded" in updated.stderr
    ws = Workspace.open(ws_path)
    assert (ws.endpoints.get("upd-svc").error or "").startswith("update failed")
    assert requests.post(uri, json={"data": [2, 2]}, headers=headers, timeout=10).json() == {
        "sum": 4
    }
    shown = json.loads(proc_cli("endpoints", "show", "upd-svc", "-o", "json").stdout)
    assert shown["state"] == "Healthy" and shown["scoring_uri"] == uri
    record = ws.endpoints.get("upd-svc")
    assert record.spec["entry_script"].endswith("ok.py") and "candidate" not in record.runtime
    folders = sorted(p.name for p in ws.endpoint_dir("upd-svc").iterdir())
    assert folders == ["keys", Path(record.runtime["folder"]).name], folders

    # loopback calls ignore HTTP_PROXY: the CLI's invoke and the SDK's run still get there
    env = {**cli_env(ws_path), "HTTP_PROXY": "http://127.0.0.1:9"}
    env["http_proxy"] = "http://127.0.0.1:9"
    invoked = subprocess.run(
        serving_cmd("endpoints", "invoke", "upd-svc", "--data", '{"data": [5]}'),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert invoked.returncode == 0 and json.loads(invoked.stdout) == {"sum": 5}, invoked.stderr
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    from serving.sdk import Webservice

    assert Webservice(ws, "upd-svc").run(json.dumps({"data": [6]})) == {"sum": 6}
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("http_proxy")

    # a good update keeps the scoring URI and serves the new script
    good = proc_cli(
        "endpoints", "update", "upd-svc", "--entry-script", FIXTURES / "prints.py",
        "-o", "json", timeout=300,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["scoring_uri"] == uri
    assert ws.endpoints.get("upd-svc").spec["entry_script"].endswith("prints.py")
    assert requests.post(uri, json={"data": [1]}, headers=headers, timeout=10).status_code == 200
    assert proc_cli("endpoints", "delete", "upd-svc").returncode == 0


SLOW_ON_PORT = """
import json
import os
import time


def init():
    if os.environ.get("SERVING_PORT") == "{port}":  # on the endpoint's port, not the trial's
        time.sleep(120)


def run(raw_data):
    return {{"sum": sum(json.loads(raw_data)["data"]) * 100}}
"""


def _second_phase_candidate(cli: subprocess.Popen[str], ws: Workspace, name: str, port: int) -> str:
    """Wait until the update records the new version starting on the endpoint's port (its
    init() then sleeps): the previous version is stopped by then. Its folder."""
    deadline = time.monotonic() + 600
    while True:
        assert cli.poll() is None, cli.communicate()
        assert time.monotonic() < deadline, "the new version never started on the port"
        candidate = ws.endpoints.get(name).runtime.get("candidate") or {}
        if candidate.get("port") == port:
            time.sleep(1.5)  # well into its readiness wait
            return str(candidate["folder"])
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL])
def test_update_interrupted_after_the_old_version_stopped_puts_it_back_and_says_so(
    proc_cli: Proc,
    ws_path: Path,
    small_tree: Path,
    runtime_only_env: Path,
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    data = _deploy_ok(proc_cli, small_tree, runtime_only_env, "back-svc", "--auth")
    uri, key = str(data["scoring_uri"]), data["keys"][0]  # type: ignore[index]
    headers = {"Authorization": f"Bearer {key}"}
    ws = Workspace.open(ws_path)
    before = ws.endpoints.get("back-svc")
    assert proc_cli("models", "register", small_tree, "--name", "m").returncode == 0  # m:2
    script = tmp_path / "slow_on_port.py"
    script.write_text(SLOW_ON_PORT.format(port=before.runtime["port"]))
    cli = _start_cli(
        ws_path, "endpoints", "update", "back-svc", "--entry-script", script, "--model", "m:2"
    )
    new_folder = _second_phase_candidate(cli, ws, "back-svc", before.runtime["port"])
    cli.send_signal(signum)
    _, err = cli.communicate(timeout=300)
    assert cli.returncode == (130 if signum == signal.SIGINT else -signal.SIGKILL), err
    if signum == signal.SIGKILL:  # the next command on the endpoint puts it back
        assert ws.endpoints.get("back-svc").state == "Transitioning"
        regen = proc_cli("endpoints", "keys", "back-svc", "--regen", "secondary")
        assert regen.returncode == 0, regen.stderr
    else:
        assert ws.endpoints.get("back-svc").error == "update interrupted"
    _assert_serves_as_before(proc_cli, ws, before, Path(new_folder))
    assert requests.post(uri, json={"data": [1, 2]}, headers=headers, timeout=10).json() == {
        "sum": 3
    }
    assert proc_cli("endpoints", "delete", "back-svc").returncode == 0


def _assert_serves_as_before(proc_cli: Proc, ws: Workspace, before: Any, new_folder: Path) -> None:
    """The record names the previous version, running again (a new process), and nothing
    of the new version is left."""
    record = ws.endpoints.get(before.name)
    assert record.state == "Healthy" and "candidate" not in record.runtime, record
    assert record.spec == before.spec and record.models == before.models
    assert record.runtime["folder"] == before.runtime["folder"]
    pid = int(record.runtime["process"]["pid"])
    assert _running(pid) and pid != before.runtime["process"]["pid"]
    assert _processes_under(new_folder) == [] and not new_folder.exists()
    shown = json.loads(proc_cli("endpoints", "show", before.name, "-o", "json").stdout)
    assert shown["state"] == "Healthy" and shown["models"] == list(before.models), shown


def test_leftover_staging_folders_are_removed_by_the_next_command(ws: Workspace) -> None:
    ws.endpoints.create("left-svc", "local", {}, [], [])
    base = endpoint_folder(ws, "left-svc")
    serving_version = base / "version-aaaa0000"
    (serving_version / "app").mkdir(parents=True)
    ws.endpoints.update("left-svc", runtime={"folder": str(serving_version)})
    killed_update = base / "version-bbbb1111"
    (killed_update / "models").mkdir(parents=True)
    download = base / ".m:1.123.abcd.tmp"
    download.mkdir()
    with pytest.raises(UserInputError, match="has no keys"):
        service.regen_key(ws, "left-svc", "primary")  # any endpoint command tidies first
    assert serving_version.is_dir()
    assert not killed_update.exists() and not download.exists()


def test_endpoint_folders_and_keys_files_are_private(ws: Workspace) -> None:
    base = endpoint_folder(ws, "perm-svc")
    assert base.stat().st_mode & 0o777 == 0o700
    assert base.parent.stat().st_mode & 0o777 == 0o700
    write_keys(base / "keys", ["a", "b"])
    assert (base / "keys").stat().st_mode & 0o777 == 0o600
    write_docker_keys(base / "keys.d", ["a", "b"])
    assert (base / "keys.d" / "keys").stat().st_mode & 0o777 == 0o640
    assert (base / "keys.d").stat().st_mode & 0o777 == 0o750
    assert (base / "keys.d" / "keys").read_text() == "a\nb\n"


def test_detached_process_logs_rotate_at_the_size_limit(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    code = "import sys\nfor i in range(400):\n    print(f'line {i:05d} ' + 'x' * 90, flush=True)\n"
    settings = PlatformSettings(log_max_bytes=4000, log_backups=2)
    ref, proc = process.start_detached(
        [sys.executable, "-c", code], env=dict(os.environ), cwd=tmp_path, log_file=log,
        settings=settings,
    )  # fmt: skip
    assert proc.wait(timeout=60) == 0 and ref.pid == proc.pid
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["server.log", "server.log.1", "server.log.2"], names
    for path in tmp_path.iterdir():
        assert 0 < path.stat().st_size <= 4000
    assert log.read_text().splitlines()[-1].startswith("line 00399 ")


def test_logpipe_passes_the_exit_code_and_signals_end_it_as_a_group(tmp_path: Path) -> None:
    ref, proc = process.start_detached(
        [sys.executable, "-c", "import sys; print('bye'); sys.exit(3)"],
        env=dict(os.environ), cwd=tmp_path, log_file=tmp_path / "a.log",
    )  # fmt: skip
    assert proc.wait(timeout=60) == 3 and (tmp_path / "a.log").read_text() == "bye\n"
    ref, proc = process.start_detached(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        env=dict(os.environ), cwd=tmp_path, log_file=tmp_path / "b.log",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while "up" not in (tmp_path / "b.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.stop(ref, grace_s=10)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert not process.is_running(ref)

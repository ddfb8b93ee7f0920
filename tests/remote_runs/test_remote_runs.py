"""Runs submitted to a workspace server and followed through its API (local compute: the
server's machine), the run token's scope, and metric batches from several workers."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
import requests

from serving.errors import UserInputError
from serving.hub.remote.runs import RemoteRunStore
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs import run_tokens
from serving.runs.reporting import Report, RunReporter
from serving.runs.store import STD_LOG, RunStore
from serving.runs.submit import ScriptJob
from serving.sdk.run_reporting import ReportingRun
from tests.hub.conftest import Server
from tests.hub.openapi_check import check

TRAIN = """
import os, sys
from azureml.core import Run
run = Run.get_context()
for i in range(50):
    run.log("loss", 1.0 / (i + 1), step=i)
run.tag("stage", "done")
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("weights")
print("trained with", sys.argv[1:])
"""


def _write(source: Path, text: str, name: str = "train.py") -> None:
    (source / name).write_text(textwrap.dedent(text))


def test_a_run_submitted_to_a_server_runs_there_and_is_followed(
    remote_runs: RemoteRunStore, hub_server: Server, source: Path, tmp_path: Path
) -> None:
    _write(source, TRAIN)
    (source / ".amlignore").write_text("data/\n")
    (source / "data").mkdir()
    (source / "data" / "big.bin").write_bytes(b"x" * 1000)
    job = ScriptJob(source, "train.py", arguments=["--lr", "0.1"])
    record = remote_runs.submit("remote", job, tags={"who": "test"})
    out = io.StringIO()
    ended = remote_runs.wait(record.id, out=out, timeout_s=120)
    assert ended.status == rec.COMPLETED, out.getvalue()
    assert "trained with ['--lr', '0.1']" in out.getvalue()
    assert "Execution Summary" in out.getvalue()
    page = remote_runs.page_url(record.id)  # the studio's page of the run, behind sign-in
    assert f"Web View: {page}\n" in out.getvalue()
    answer = requests.get(page, allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and "/studio/login" in answer.headers["Location"]
    snapshot = RunStore(hub_server.ws.path, hub_server.ws.db).run_dir(record.id) / "snapshot"
    assert (snapshot / "train.py").is_file() and not (snapshot / "data").exists()
    metrics = remote_runs.get_metrics(record.id)
    assert metrics["loss"][0] == 1.0 and len(metrics["loss"]) == 50
    shown = remote_runs.get(record.id)
    assert shown.tags == {"who": "test", "stage": "done"}
    assert shown.definition["source_directory"] == str(source)
    assert "outputs/model.txt" in remote_runs.file_names(record.id)
    got = remote_runs.download(record.id, "outputs/model.txt", tmp_path / "got.txt")
    assert got.read_text() == "weights"
    model = remote_runs.register_model(record.id, "remote-model", model_path="outputs/model.txt")
    assert model["run_id"] == record.id and model["version"] == 1
    updated = remote_runs.update(record.id, add_tags={"k": "v"}, remove_tags=["who"])
    assert updated.tags == {"stage": "done", "k": "v"}


def test_a_running_run_is_canceled_through_the_server(
    remote_runs: RemoteRunStore, source: Path
) -> None:
    _write(source, "import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n")
    record = remote_runs.submit("remote", ScriptJob(source, "train.py"))
    deadline = time.monotonic() + 60
    while remote_runs.get(record.id).status != rec.RUNNING:
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.2)
    assert remote_runs.cancel(record.id).status == rec.CANCELED


def test_what_cannot_travel_is_refused_with_a_message(
    remote_runs: RemoteRunStore, hub_server: Server, source: Path
) -> None:
    _write(source, "print(1)\n")
    job = ScriptJob(source, "train.py", interpreter="/no/such/python")
    with pytest.raises(UserInputError, match="not a program on the workspace server"):
        remote_runs.submit("remote", job)
    with pytest.raises(UserInputError, match=r"script train2\.py not found"):
        remote_runs.submit("remote", ScriptJob(source, "train2.py"))
    bad = hub_server.call(
        "POST", "/experiments/remote/runs", data=b"not a tar",
        headers={"Content-Type": "application/x-tar"},
    )  # fmt: skip
    assert bad.status_code == 400
    check(bad, hub_server.base)


def test_a_run_token_reaches_its_own_run_only(hub_server: Server) -> None:
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    own = store.create_run("scoped", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING).id
    other = store.create_run("scoped", kind=rec.SCRIPT, target="cpu").id
    token = run_tokens.mint(hub_server.ws.db, own)
    line = b'{"n":"acc","k":"scalar","v":0.5,"t":1.0}\n'
    post = {"data": line, "headers": {"Content-Type": "application/x-ndjson"}}
    ok = hub_server.call("POST", f"/runs/{own}/metrics", token=token, **post)
    assert check(ok, hub_server.base) == {"appended": 1}
    assert hub_server.call("GET", f"/runs/{own}", token=token).status_code == 200
    patched = hub_server.call("PATCH", f"/runs/{own}", token=token, json={"add_tags": {"a": "1"}})
    assert check(patched, hub_server.base)["tags"] == {"a": "1"}
    uploaded = hub_server.call(
        "POST", f"/runs/{own}/files", token=token, params={"name": "outputs/m.bin"},
        data=b"weights", headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert uploaded.status_code == 201 and check(uploaded, hub_server.base)["items"] == [
        "outputs/m.bin"
    ]
    body = {"model_name": "scoped", "model_path": "outputs/m.bin", "tags": {"t": "1"}}
    registered = hub_server.call("POST", f"/runs/{own}/register", token=token, json=body)
    assert registered.status_code == 201, registered.text
    assert check(registered, hub_server.base)["run_id"] == own
    refused = [
        hub_server.call("POST", f"/runs/{other}/metrics", token=token, **post),
        hub_server.call("GET", f"/runs/{other}", token=token),
        hub_server.call("GET", "/runs", token=token),
        hub_server.call("GET", "/models", token=token),
        hub_server.call("POST", f"/runs/{own}/cancel", token=token),
        hub_server.call("GET", "/endpoints", token=token),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert "may only report" in check(answer, hub_server.base)["error"]["message"]
    store.set_status(own, rec.COMPLETED)
    ended = hub_server.call("GET", f"/runs/{own}", token=token)
    assert ended.status_code == 401  # its supervisor died before revoking: the end counts
    assert run_tokens.revoke(hub_server.ws.db, own) == 1
    assert hub_server.call("GET", f"/runs/{own}", token=token).status_code == 401


def test_metric_batches_from_many_clients_never_interleave(hub_server: Server) -> None:
    """Several threads post batches at once (the server has two workers, four threads
    each); every line of the file is whole and every record arrived."""
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    run_id = store.create_run("batches", kind=rec.INTERACTIVE, target="local").id
    per_batch, batches, threads = 2000, 5, 4

    def post(worker: int) -> None:
        for b in range(batches):
            lines = "".join(
                json.dumps({"n": f"w{worker}", "k": "scalar", "v": i, "s": b * per_batch + i,
                            "t": 1.0, "d": "x" * 40}) + "\n"
                for i in range(per_batch)
            )  # fmt: skip
            answer = hub_server.call(
                "POST", f"/runs/{run_id}/metrics", data=lines.encode(),
                headers={"Content-Type": "application/x-ndjson"},
            )  # fmt: skip
            assert answer.status_code == 200, answer.text

    workers = [threading.Thread(target=post, args=(w,)) for w in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    raw = store.metrics_file(run_id).read_bytes().splitlines()
    assert len(raw) == per_batch * batches * threads
    assert all(json.loads(line)["k"] == "scalar" for line in raw)
    history = m.history(store.metrics_file(run_id))
    assert {name: len(points) for name, points in history.items()} == {
        f"w{w}": per_batch * batches for w in range(threads)
    }


def test_bad_metric_lines_are_refused_whole(hub_server: Server) -> None:
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    run_id = store.create_run("batches", kind=rec.INTERACTIVE, target="local").id
    body = b'{"n":"a","k":"scalar","v":1,"t":1}\n{"n": 3}\n'
    answer = hub_server.call(
        "POST", f"/runs/{run_id}/metrics", data=body,
        headers={"Content-Type": "application/x-ndjson"},
    )  # fmt: skip
    assert answer.status_code == 400 and "line 2" in answer.json()["error"]["message"]
    assert not store.metrics_file(run_id).exists()


def test_run_token_names_are_reserved(hub_server: Server) -> None:
    from serving.hub.tokens import TokenStore

    with pytest.raises(UserInputError, match="reserved"):
        TokenStore(hub_server.ws.db).create("run-mine")


def test_interactive_runs_start_and_end_through_the_api(hub_server: Server) -> None:
    started = hub_server.call("POST", "/experiments/notebook/runs", json={"display_name": "nb"})
    assert started.status_code == 201
    run = check(started, hub_server.base)
    assert (run["status"], run["kind"], run["display_name"]) == (
        "Running",
        rec.INTERACTIVE,
        "nb",
    )
    child = check(
        hub_server.call("POST", "/experiments/notebook/runs", json={"parent_id": run["id"]}),
        hub_server.base,
    )
    assert child["parent_id"] == run["id"] and child["id"].startswith(run["id"] + "_")
    ended = hub_server.call(
        "POST", f"/runs/{child['id']}/status", json={"status": "Failed", "error": {"code": "X"}}
    )
    assert check(ended, hub_server.base)["status"] == "Failed"
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    script = store.create_run("notebook", kind=rec.SCRIPT, target="local").id
    owned = hub_server.call("POST", f"/runs/{script}/status", json={"status": "Completed"})
    assert (
        owned.status_code == 409
        and "supervisor" in check(owned, hub_server.base)["error"]["message"]
    )


def _job_tar(job: object) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("job.json", json.dumps(job).encode()), ("source/t.py", b"pass\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("script", "/etc/hostname"),
        ("script", "../t.py"),
        ("arguments", [{"a": 1}]),
        ("environment_variables", {"A=B": "1"}),
        ("environment_variables", {"A": "nul\0"}),
        ("max_run_duration_seconds", "soon"),
        ("max_run_duration_seconds", -1),
        ("max_retries", -1),
        ("max_retries", 11),
        ("max_retries", True),
        ("compute", ["cpu"]),
        ("display_name", 5),
        ("data_references", {"d": "x"}),
        ("tags", {"t": {"nested": 1}}),
    ],
)
def test_job_json_values_of_the_wrong_shape_are_refused(
    hub_server: Server, field: str, value: object
) -> None:
    before = len(RunStore(hub_server.ws.path, hub_server.ws.db).list(experiment="shapes"))
    answer = hub_server.call(
        "POST", "/experiments/shapes/runs", data=_job_tar({"script": "t.py", field: value}),
        headers={"Content-Type": "application/x-tar"},
    )  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert field in check(answer, hub_server.base)["error"]["message"]
    assert len(RunStore(hub_server.ws.path, hub_server.ws.db).list(experiment="shapes")) == before


CANCELED_SCRIPT = """
import os, time
from serving.sdk import Run
run = Run.get_context()
for i in range(3):
    run.log("x", i)
os.makedirs("outputs", exist_ok=True)
open("outputs/o.txt", "w").write("partial")
print("ready", flush=True)
time.sleep(60)
"""


def test_a_terminated_reporting_script_still_sends_metrics_and_outputs(
    hub_server: Server, tmp_path: Path
) -> None:
    """A cancel stops the container with SIGTERM: ``remote_entry`` ends the script, then
    flushes the metrics still batched and sends ``outputs/`` before the grace is over."""
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    run_id = store.create_run("term", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING).id
    work = tmp_path / "work"
    work.mkdir()
    (work / "s.py").write_text(CANCELED_SCRIPT)
    env = (
        os.environ | Report(hub_server.base, run_tokens.mint(hub_server.ws.db, run_id)).variables()
    )
    env |= {"AZUREML_RUN_ID": run_id, "PYTHONPATH": str(Path(__file__).parents[2])}
    env.pop("SERVING_RUN_WORKSPACE", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "serving.runs.remote_entry", str(work), "s.py"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 143, err
    series = m.history_and_values(store.metrics_file(run_id))[0]["x"]
    assert [point[1] for point in series] == [0, 1, 2]
    assert (store.run_dir(run_id) / "outputs" / "o.txt").read_text() == "partial"
    run_tokens.revoke(hub_server.ws.db, run_id)


def test_the_log_route_never_cuts_a_character_in_two(hub_server: Server) -> None:
    """A tailer polling while the log's writer is midway through a character gets the
    whole character on its next call, never two U+FFFD halves."""
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    run_id = store.create_run("tail", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING).id
    log = store.run_dir(run_id) / STD_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes("line é\nhalf ".encode() + "€".encode()[:2])
    first = check(hub_server.call("GET", f"/runs/{run_id}/log"), hub_server.base)
    assert first["text"] == "line é\nhalf " and not first["ended"]
    with log.open("ab") as fh:
        fh.write("€".encode()[2:] + b" done\n")
    params = {"offset": first["next_offset"]}
    second = check(hub_server.call("GET", f"/runs/{run_id}/log", params=params), hub_server.base)
    assert second["text"] == "€ done\n"
    store.set_status(run_id, rec.COMPLETED)


def test_remote_get_metrics_has_the_folder_shapes(
    hub_server: Server, remote_runs: RemoteRunStore
) -> None:
    """What ``get_metrics()`` answers is the same through the server as from the folder:
    a one-item list stays a list, a name logged as text and as numbers keeps both."""
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    run_id = store.create_run("shapes", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING).id
    writer = m.MetricsWriter(store.metrics_file(run_id))
    for name, kind, value in [
        ("one", m.SCALAR, 0.5), ("many", m.SCALAR, 1), ("many", m.SCALAR, 2),
        ("single_list", m.LIST, [7]), ("list", m.LIST, [1, 2]), ("list", m.LIST, [3]),
        ("mixed", m.SCALAR, "warm-up"), ("mixed", m.SCALAR, 0.1), ("text", m.SCALAR, "a"),
        ("row", m.ROW, {"epoch": 1, "acc": 0.5}), ("rows", m.ROW, {"e": 1}),
        ("rows", m.ROW, {"e": 2}), ("table", m.TABLE, {"a": [1, 2], "b": ["x", "y"]}),
    ]:  # fmt: skip
        writer.add(name, kind, value)
    writer.flush()
    folder = m.read_metrics(store.metrics_file(run_id))
    assert remote_runs.get_metrics(run_id) == folder
    assert remote_runs.get_metrics(run_id, "single_list") == {"single_list": [7]}
    token = run_tokens.mint(hub_server.ws.db, run_id)  # and inside the run, with its token
    inside = ReportingRun(RunReporter(hub_server.base, token, run_id))
    assert inside.get_metrics() == folder
    run_tokens.revoke(hub_server.ws.db, run_id)
    store.set_status(run_id, rec.COMPLETED)


def test_a_run_token_is_refused_on_every_route_outside_its_scope(tmp_path: Path) -> None:
    """Every /api/ route of the app (its url_map, so a route added later is covered) with
    the token's own run in every path part: 403 unless auth.RUN_SCOPED lists it; and path
    tricks around its own run stay refused."""
    from serving.hub.app import create_app
    from serving.hub.auth import PUBLIC, RUN_SCOPED
    from serving.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", create=True)
    app = create_app(ws)
    store = RunStore(ws.path, ws.db)
    own = store.create_run("scope", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING).id
    other = store.create_run("scope", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING).id
    auth = {"Authorization": f"Bearer {run_tokens.mint(ws.db, own)}"}
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in PUBLIC:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", own, path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            answer = client.open(path, method=method, headers=auth)
            if rule.endpoint in RUN_SCOPED:
                assert answer.status_code != 403, (method, path)
            else:
                assert answer.status_code == 403, (method, path, answer.status_code)
                checked += 1
    assert checked >= 20
    for path in (
        f"/api/v1/runs/{own}/../{other}", f"/api/v1/runs/{other}%2F..%2F{own}",
        f"/api/v1/runs/{own}_child1/metrics", f"/api/v1/runs/{own}/", "/api//v1/runs",
    ):  # fmt: skip
        assert client.get(path, headers=auth).status_code == 403, path


def test_a_run_token_dies_with_its_killed_supervisor(hub_server: Server) -> None:
    """A supervisor killed before it could revoke (SIGKILL): the token's next call finds
    the supervisor gone, the run Failed, and is refused; a container left running cannot
    report into the run."""
    store = RunStore(hub_server.ws.path, hub_server.ws.db)
    run_id = store.create_run("killed", kind=rec.SCRIPT, target="cpu", status=rec.RUNNING).id
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(30)
    store.update_json(run_id, "supervisor", {"process": {"pid": gone.pid, "start_ticks": 1}})
    token = run_tokens.mint(hub_server.ws.db, run_id)
    answer = hub_server.call("GET", f"/runs/{run_id}", token=token)
    assert answer.status_code == 401, answer.text
    assert store.get(run_id).status == rec.FAILED

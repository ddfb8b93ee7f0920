"""The workspace server's API against a real gunicorn server and a real workspace: every
route answers and matches the OpenAPI document; tokens; streamed upload and download;
a killed upload; downsampled metrics; paging over hundreds of runs."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from serving.hub.openapi import document
from serving.hub.tokens import TokenRecord, TokenStore
from serving.sdk import Experiment, ScriptRunConfig
from serving.sdk import Workspace as SdkWorkspace
from tests.hub.conftest import LONG_SERIES, PAGED_RUNS, Server
from tests.hub.openapi_check import check

pytestmark = pytest.mark.timeout(240)


def test_every_read_route_answers_and_matches_the_document(server: Server) -> None:
    trained, long = server.runs["trained"], server.runs["long"]
    calls = {
        "/experiments": "/experiments",
        "/runs": "/runs?experiment=trained&status=Completed&target=local",
        "/runs/{run_id}": f"/runs/{trained}",
        "/runs/{run_id}/metrics": f"/runs/{trained}/metrics",
        "/runs/{run_id}/log": f"/runs/{trained}/log",
        "/runs/{run_id}/files": f"/runs/{trained}/files",
        "/runs/{run_id}/file": f"/runs/{trained}/file?name=outputs/model/weights.bin",
        "/models": "/models?tag=team=x",
        "/models/{name}/{version}": "/models/folder/latest",
        "/models/{name}/{version}/download": "/models/single/1/download",
        "/models/{name}/{version}/file": "/models/folder/1/file?path=sub/b.txt",
        "/environments": "/environments",
        "/environments/{name}/{version}": "/environments/env/1",
        "/images": "/images",
        "/images/{name}/{version}": "/images/digits/latest",
        "/endpoints": "/endpoints",
        "/endpoints/{name}": "/endpoints/svc",
        "/endpoints/{name}/logs": "/endpoints/svc/logs?tail=10",
        "/endpoints/{name}/keys": "/endpoints/svc/keys",
        "/workspace": "/workspace",
        "/openapi.json": "/openapi.json",
    }
    documented = {p for p, item in document()["paths"].items() if "get" in item}
    assert documented == set(calls)
    bodies = {path: server.checked("GET", url) for path, url in calls.items()}
    run = bodies["/runs/{run_id}"]
    assert run["status"] == "Completed" and run["experiment"] == "trained"
    assert bodies["/runs"]["items"][0]["id"] == trained
    assert bodies["/runs/{run_id}/metrics"]["series"]["loss"]["count"] == 20
    assert bodies["/runs/{run_id}/metrics"]["values"]["note"] == "hello"
    names = {f["name"] for f in bodies["/runs/{run_id}/files"]["items"]}
    assert "outputs/model/weights.bin" in names
    assert [m["id"] for m in bodies["/models"]["items"]] == ["single:1"]
    assert server.checked("GET", f"/models?run_id={trained}")["items"] == []
    assert server.checked("GET", "/runs?target=elsewhere")["items"] == []
    assert bodies["/models/{name}/{version}"]["kind"] == "dir"
    assert bodies["/endpoints/{name}"]["models"] == ["single:1"]
    assert bodies["/endpoints/{name}/keys"]["primary_key"] == "key-one"
    assert "key" not in str(bodies["/endpoints"]).replace("auth_enabled", "")
    file = server.call("GET", f"/runs/{trained}/file?name=outputs/model/weights.bin")
    assert file.content == b"w" * 1000
    assert server.call("GET", "/models/folder/1/file?path=sub/b.txt").content == b"b" * 3000
    assert server.checked("GET", f"/runs/{long}/metrics?name=curve&max_points=30")["values"] == {}
    held = server.ws.describe()  # other tests of the module register and delete models
    assert bodies["/workspace"] == {k: held[k] for k in ("name", "models", "environments",
                                                         "endpoints")}  # fmt: skip
    assert held["environments"] == held["endpoints"] == 1 and "path" not in bodies["/workspace"]


def test_errors_are_json_in_the_documented_shape(server: Server) -> None:
    escape = f"/runs/{server.runs['trained']}/file?name=../../workspace.db"
    cases = [
        ("GET", "/runs/nope_1_abc", 404, "NotFound"),
        ("GET", "/runs?limit=0", 400, "UserInput"),
        ("GET", "/runs?after=%%%", 400, "UserInput"),
        ("GET", "/runs?status=Sleeping", 400, "UserInput"),
        ("GET", "/models/single/0", 400, "UserInput"),
        ("GET", "/models/single/9", 404, "NotFound"),
        ("GET", "/endpoints/none", 404, "NotFound"),
        ("GET", escape, 400, "UserErrorException"),
        ("GET", "/nowhere", 404, "NotFound"),
        ("PUT", "/models", 405, "MethodNotAllowed"),
    ]  # fmt: skip
    for method, path, status, code in cases:
        response = server.call(method, path)
        assert response.status_code == status, (path, response.text)
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == code, (path, response.text)
        if path != "/nowhere" and method != "PUT":
            check(response, server.base)


def test_tokens_missing_wrong_revoked_and_read_only(server: Server) -> None:
    run = server.runs["trained"]
    for token, status in ((None, 401), ("srvt_wrong", 401), ("gone", 401), ("not-a-token", 401)):
        response = server.call("GET", "/runs", token=token)
        assert response.status_code == status
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "Unauthorized"
        check(response, server.base)
    assert server.call("GET", "/runs", token="ro").status_code == 200
    upload = {"data": b"x", "headers": {"Content-Type": "application/octet-stream"}}
    writes = [
        ("POST", f"/runs/{run}/cancel", {}),
        ("POST", "/models/x?filename=x.bin", upload),
        ("PATCH", "/models/single/1", {"json": {"description": "no"}}),
        ("DELETE", "/models/single/1", {}),
        ("GET", "/endpoints/svc/keys", {}),
    ]  # fmt: skip
    for method, path, extra in writes:
        response = server.call(method, path, token="ro", **extra)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "Forbidden"
        check(response, server.base)
    assert server.checked("GET", "/models/single/1")["description"] is None
    used = {t.name: t for t in server_tokens(server)}
    assert used["ro"].last_used_at is not None and used["gone"].revoked


def server_tokens(server: Server) -> list[TokenRecord]:
    return TokenStore(server.ws.db).list()


def test_upload_and_download_are_byte_equal(server: Server, tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 7)
    made = server.checked(
        "POST", "/models/uploaded?filename=weights.bin&tag=stage=dev&description=d",
        status=201, data=data, headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert (made["version"], made["tags"], made["size_bytes"]) == (1, {"stage": "dev"}, len(data))
    got = server.call("GET", "/models/uploaded/1/download")
    check(got, server.base)
    assert got.content == data
    assert got.headers["X-Model-SHA256"] == hashlib.sha256(data).hexdigest()
    folder = tmp_path / "dirmodel"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "w.bin").write_bytes(os.urandom(70_000))
    (folder / "conf.json").write_text("{}")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    made = server.checked(
        "POST", "/models/uploaded_dir?filename=dirmodel", status=201,
        data=archive.getvalue(), headers={"Content-Type": "application/x-tar"},
    )  # fmt: skip
    assert sorted(f["path"] for f in made["files"]) == ["conf.json", "nested/w.bin"]
    got = server.call("GET", "/models/uploaded_dir/latest/download")
    check(got, server.base)
    with tarfile.open(fileobj=io.BytesIO(got.content), mode="r:") as tar:
        tar.extractall(tmp_path / "back", filter="data")
    for rel in ("conf.json", "nested/w.bin"):
        assert (tmp_path / "back/dirmodel" / rel).read_bytes() == (folder / rel).read_bytes()


def test_update_then_delete_a_model(server: Server) -> None:
    server.checked("POST", "/models/temp?filename=t.bin", status=201, data=b"t",
                   headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    changed = server.checked(
        "PATCH", "/models/temp/1", json={"add_tags": {"a": "1"}, "description": "new"}
    )
    assert (changed["tags"], changed["description"]) == ({"a": "1"}, "new")
    assert server.call("PATCH", "/models/temp/1", json={"bogus": 1}).status_code == 400
    assert server.call("PATCH", "/models/temp/1", json={"remove_tags": ["zz"]}).status_code == 400
    assert server.checked("DELETE", "/models/temp/1")["name"] == "temp"
    assert server.call("GET", "/models/temp/1").status_code == 404
    assert server.call("DELETE", "/models/single/1").status_code == 409  # used by svc


def test_a_killed_upload_leaves_no_version(server: Server) -> None:
    host, port = server.base.removeprefix("http://").split(":")
    head = (
        "POST /api/v1/models/killed?filename=big.bin HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: Bearer {server.tokens['rw']}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 20000000\r\n\r\n"
    )
    uploads = server.ws.path / "tmp" / "uploads"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"x" * 3_000_000)
        deadline = time.monotonic() + 30
        while not (uploads.is_dir() and any(uploads.iterdir())):  # the body is being read
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.05)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and uploads.is_dir() and any(uploads.iterdir()):
        time.sleep(0.2)
    assert not any(uploads.iterdir()), list(uploads.iterdir())
    assert server.checked("GET", "/models?name=killed")["items"] == []
    assert server.ws.models.list(name="killed") == []


def test_metrics_of_a_long_series_are_downsampled_keeping_extremes(server: Server) -> None:
    started = time.perf_counter()
    body = server.checked("GET", f"/runs/{server.runs['long']}/metrics?max_points=300")
    elapsed = time.perf_counter() - started
    curve = body["series"]["curve"]
    assert curve["count"] == LONG_SERIES + 1
    assert len(curve["points"]) <= 300
    values = [p[1] for p in curve["points"]]
    assert (curve["min"], curve["max"]) == (-5.0, 1000.0)
    assert -5.0 in values and 1000.0 in values
    assert curve["last"]["value"] == 42.5 and curve["points"][-1][1] == 42.5
    steps = [p[0] for p in curve["points"]]
    assert steps == sorted(steps)
    print(f"metrics of {LONG_SERIES} points to 300: {elapsed * 1000:.0f} ms")


def test_runs_are_paged_sorted_and_filtered(server: Server) -> None:
    seen: list[dict[str, Any]] = []
    url = "/runs?experiment=paged&limit=70"
    pages = 0
    while url:
        body = server.checked("GET", url)
        seen += body["items"]
        pages += 1
        url = f"/runs?experiment=paged&limit=70&after={body['next']}" if body["next"] else ""
        assert pages <= 10
    assert pages == 5 and len({r["id"] for r in seen}) == PAGED_RUNS
    keys = [(r["created_at"], r["number"]) for r in seen]
    assert keys == sorted(keys, reverse=True)
    oldest = server.checked("GET", "/runs?experiment=paged&sort=created_at&limit=3")["items"]
    assert [r["display_name"] for r in oldest] == ["p0", "p1", "p2"]
    assert server.checked("GET", "/runs?status=Failed")["items"] == []


def test_log_is_tailed_from_an_offset(server: Server) -> None:
    run = server.runs["trained"]
    first = server.checked("GET", f"/runs/{run}/log")
    assert "training done" in first["text"] and first["ended"]
    again = server.checked("GET", f"/runs/{run}/log?offset={first['next_offset']}")
    assert again["text"] == "" and again["ended"]
    system = server.checked("GET", f"/runs/{run}/log?which=system")
    assert system["size"] >= 0


def test_cancel_of_an_ended_run_keeps_its_status(server: Server) -> None:
    body = server.checked("POST", f"/runs/{server.runs['long']}/cancel")
    assert body["status"] == "Completed"


def test_a_chunked_upload_without_length_registers(server: Server) -> None:
    parts = [os.urandom(300_000) for _ in range(4)]
    made = server.call(
        "POST", "/models/chunked?filename=c.bin", data=iter(parts),
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert made.status_code == 201, made.text  # (openapi-core cannot wrap a streamed body)
    assert made.json()["size_bytes"] == 1_200_000
    assert server.call("GET", "/models/chunked/1/download").content == b"".join(parts)


def test_cancel_ends_a_running_script_run(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "slow"
    source.mkdir()
    (source / "train.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(120)\n")
    sws = SdkWorkspace.get(path=server.ws.path)
    run = Experiment(sws, "slow").submit(ScriptRunConfig(str(source), "train.py"))
    deadline = time.monotonic() + 60
    while server.checked("GET", f"/runs/{run.id}")["status"] != "Running":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.2)
    ended = server.checked("POST", f"/runs/{run.id}/cancel")
    assert ended["status"] == "Canceled", ended


def _workers_peak_kib(server: Server) -> int:
    """The largest peak resident size (VmHWM) among the server's worker processes."""
    assert server.process is not None
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    peaks = []
    for pid in children.read_text().split():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
    assert peaks
    return max(peaks)


def test_large_transfers_stream_with_bounded_memory(server: Server, tmp_path: Path) -> None:
    size = 96 * 1024 * 1024
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(size // (1 << 20)):
            out.write(os.urandom(1 << 20))
    before = _workers_peak_kib(server)
    with big.open("rb") as body:
        made = server.call("POST", "/models/big?filename=big.bin", data=body,
                           headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert made.status_code == 201, made.text
    digest = hashlib.sha256()
    with server.call("GET", "/models/big/1/download", stream=True) as got:
        for chunk in got.iter_content(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == made.json()["files"][0]["sha256"]
    grown_mib = (_workers_peak_kib(server) - before) / 1024
    print(f"worker peak memory grew {grown_mib:.1f} MiB for a 96 MiB upload + download")
    assert grown_mib < 32, f"a worker's peak memory grew {grown_mib:.0f} MiB for 96 MiB"

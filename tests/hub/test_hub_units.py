"""The workspace server's parts without a server: downsampling, page tokens, the token
store and its migration, the gunicorn command line."""

from __future__ import annotations

import io
import sqlite3
import tarfile
from pathlib import Path

import pytest

from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.hub import paging, streams
from serving.hub.app import create_app
from serving.hub.launch import APP, HubServerOptions, hub_argv
from serving.hub.series import downsample, summary
from serving.hub.tokens import PREFIX, TokenStore, token_hash
from serving.registry.db import MIGRATIONS, SCHEMA_VERSION, Database
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs.store import RunStore
from serving.workspace import Workspace


def test_downsample_keeps_extremes_last_and_order() -> None:
    points = [(i, float((i * 37) % 101), float(i)) for i in range(10_000)]
    points[4321] = (4321, 500.0, 4321.0)
    points[17] = (17, -3.0, 17.0)
    kept = downsample(points, 100)
    assert len(kept) <= 100
    assert (4321, 500.0, 4321.0) in kept and (17, -3.0, 17.0) in kept
    assert kept[-1] == points[-1]
    assert [p[0] for p in kept] == sorted(p[0] for p in kept)
    assert downsample(points[:50], 100) == points[:50]


def test_summary_sends_non_finite_values_as_null() -> None:
    shown = summary([(0, float("nan"), 0.0), (1, 2.0, 1.0), (2, float("inf"), 2.0)], 10)
    assert (shown["min"], shown["max"], shown["last"]["value"]) == (2.0, 2.0, None)
    assert [p[1] for p in shown["points"]] == [None, 2.0, None]


def test_page_tokens_round_trip_and_refuse_garbage() -> None:
    token = paging.encode(["2026-01-01T00:00:00", 3, "run_1"])
    assert paging.decode(token) == ["2026-01-01T00:00:00", 3, "run_1"]
    for bad in ("%%%", "bm90IGpzb24", "eyJhIjoxfQ"):  # not base64, not JSON, not a list
        with pytest.raises(UserInputError):
            paging.decode(bad)
    items, nxt = paging.page_of(list(range(5)), {"limit": "2"})
    assert items == [0, 1] and nxt is not None
    items, nxt = paging.page_of(list(range(5)), {"limit": "2", "after": nxt})
    assert items == [2, 3]
    with pytest.raises(UserInputError):
        paging.limit_arg({"limit": "5000"})


def test_tokens_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    store = TokenStore(ws.db)
    record, token = store.create("ci", read_only=True)
    assert token.startswith(PREFIX) and len(token) >= 43 + len(PREFIX)
    assert record.read_only and not record.revoked
    raw = (tmp_path / "ws" / "workspace.db").read_bytes()
    assert token.encode() not in raw
    with ws.db.read() as conn:
        assert conn.execute("SELECT sha256 FROM tokens").fetchone()[0] == token_hash(token)
    verified = store.verify(token)
    assert verified is not None and verified.name == "ci"
    assert store.list()[0].last_used_at is not None
    assert store.verify(token[:-1]) is None and store.verify("x" + token) is None
    with pytest.raises(ConflictError):
        store.create("ci")
    store.revoke("ci")
    assert store.verify(token) is None
    with pytest.raises(NotFoundError):
        store.revoke("ci")
    _again, second = store.create("ci")  # a revoked name can be given again
    assert store.verify(second) is not None and [t.revoked for t in store.list()] == [False, True]
    with pytest.raises(UserInputError):
        store.create("bad name")


def test_an_older_workspace_gets_the_tokens_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:
        conn.executescript(migration)
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    assert Database(path).migrate() == 3
    store = TokenStore(Database(path))
    _record, token = store.create("after-upgrade")
    assert store.verify(token) is not None and SCHEMA_VERSION >= 4


def test_gunicorn_command_line_is_data() -> None:
    options = HubServerOptions(Path("/ws"), host="::1", port=8601, workers=3)
    argv = hub_argv(options, python="/py")
    assert argv[:3] == ["/py", "-m", "gunicorn"] and argv[-1] == APP
    assert argv[argv.index("--bind") + 1] == "[::1]:8601"
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--worker-class") + 1] == "gthread"
    assert options.url == "http://[::1]:8601"
    with pytest.raises(UserInputError):
        HubServerOptions(Path("/ws"), port=0)


def test_one_pass_metrics_read_matches_history_and_read_metrics(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    writer = m.MetricsWriter(path)
    writer.add("loss", m.SCALAR, 0.5, 0)
    writer.add("loss", m.SCALAR, float("inf"), 1)
    writer.add("note", m.SCALAR, "text")
    writer.add("accs", m.LIST, [0.1, 0.2])
    writer.add("rows", m.ROW, {"epoch": 1, "acc": 0.5})
    writer.add("rows", m.ROW, {"epoch": 2, "acc": 0.7})
    writer.add("mixed", m.SCALAR, "first a string")
    writer.add("mixed", m.SCALAR, 3)
    writer.flush()
    series, values = m.history_and_values(path)
    assert series == m.history(path)
    expected = {k: v for k, v in m.read_metrics(path).items() if k not in series}
    assert values == expected == {"note": "text", "rows": {"epoch": [1, 2], "acc": [0.5, 0.7]}}
    assert m.history_and_values(path, "rows") == ({}, {"rows": expected["rows"]})


def test_an_unexpected_error_is_json_without_a_traceback(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    _record, token = TokenStore(ws.db).create("t")
    app = create_app(ws)

    def boom() -> str:
        raise RuntimeError("secret detail /etc/passwd")

    app.add_url_rule("/api/v1/boom", view_func=boom)
    answer = app.test_client().get("/api/v1/boom", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 500
    assert answer.get_json() == {
        "error": {"code": "Internal", "message": "internal error: RuntimeError"}
    }
    assert b"Traceback" not in answer.data and b"secret" not in answer.data


def _tar_with(tmp: Path, name: str, kind: bytes, link: str = "") -> Path:
    archive = tmp / f"{len(list(tmp.iterdir()))}.tar"
    with tarfile.open(archive, "w") as tar:
        ok = tarfile.TarInfo("ok.bin")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        odd = tarfile.TarInfo(name)
        odd.type, odd.linkname = kind, link
        tar.addfile(odd, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    return archive


def test_an_uploaded_tar_holds_only_plain_files_and_folders(tmp_path: Path) -> None:
    """Symbolic links (even ones pointing inside), hard links to anything but an earlier
    file, devices, absolute names and '..' are refused before anything is written, with a
    message naming the member and no server path; a hard link to an earlier file (what
    ``tar -h`` writes) is unpacked as a copy."""
    bad = [
        ("inner", tarfile.SYMTYPE, "ok.bin"),
        ("outer", tarfile.SYMTYPE, "/etc/passwd"),
        ("hard", tarfile.LNKTYPE, "/etc/passwd"),
        ("hard_up", tarfile.LNKTYPE, "../ok.bin"),
        ("hard_later", tarfile.LNKTYPE, "later.bin"),
        ("dev", tarfile.CHRTYPE, ""),
        ("fifo", tarfile.FIFOTYPE, ""),
        ("/abs.bin", tarfile.REGTYPE, ""),
        ("sub/../../up.bin", tarfile.REGTYPE, ""),
    ]
    archives = tmp_path / "archives"
    archives.mkdir()
    for name, kind, link in bad:
        dest = tmp_path / "dest" / name.strip("/").replace("/", "_")
        dest.mkdir(parents=True)
        with pytest.raises(UserInputError) as refused:
            streams.unpack_tar(_tar_with(archives, name, kind, link), dest)
        assert repr(name) in refused.value.message and str(tmp_path) not in refused.value.message
        assert not any(dest.iterdir()), name
    assert not (tmp_path / "up.bin").exists()
    fine = tmp_path / "fine"
    fine.mkdir()
    streams.unpack_tar(_tar_with(archives, "sub/w.bin", tarfile.REGTYPE), fine)
    assert (fine / "ok.bin").read_bytes() == b"ok" and (fine / "sub" / "w.bin").is_file()
    copied = tmp_path / "copied"
    copied.mkdir()
    streams.unpack_tar(_tar_with(archives, "./deep/twin.bin", tarfile.LNKTYPE, "./ok.bin"), copied)
    twin = copied / "deep" / "twin.bin"
    assert twin.read_bytes() == b"ok" and twin.stat().st_nlink == 1


def test_error_messages_never_name_the_server_folder(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    _record, token = TokenStore(ws.db).create("t")
    app = create_app(ws)

    def local_message() -> str:
        raise UserInputError(f"file {ws.path.resolve()}/blobs/ab is odd", hint=f"see {ws.path}")

    app.add_url_rule("/api/v1/odd", view_func=local_message)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    odd = client.get("/api/v1/odd", headers=auth).get_json()["error"]
    assert odd == {
        "code": "UserInput",
        "message": "file <workspace>/blobs/ab is odd",
        "hint": "see <workspace>",
    }
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    answer = client.post(
        "/api/v1/models/m?filename=folder",
        data=empty.getvalue(),
        headers=auth | {"Content-Type": "application/x-tar"},
    )
    assert answer.status_code == 400
    message = answer.get_json()["error"]["message"]
    assert message.startswith("model folder folder is empty") and str(tmp_path) not in message


def test_a_run_file_behind_a_symbolic_link_is_not_served(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    _record, token = TokenStore(ws.db).create("t", read_only=True)
    store = RunStore(ws.path, ws.db)
    run = store.create_run("e", kind=rec.INTERACTIVE, target="local")
    outputs = store.run_dir(run.id) / "outputs"
    outputs.mkdir(parents=True)
    (outputs / "real.txt").write_text("mine")
    secret = tmp_path / "secret"
    (secret / "sub").mkdir(parents=True)
    (secret / "key").write_text("server secret")
    (secret / "sub" / "key").write_text("server secret")
    (outputs / "leak").symlink_to(secret / "key")
    (outputs / "dir").symlink_to(secret)
    (outputs / "alias").symlink_to(outputs / "real.txt")
    client = create_app(ws).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/runs/{run.id}"
    with client.get(f"{base}/file?name=outputs/real.txt", headers=auth) as real:
        assert real.data == b"mine"
    for name in ("outputs/leak", "outputs/dir/key", "outputs/dir/sub/key", "outputs/alias"):
        answer = client.get(f"{base}/file?name={name}", headers=auth)
        assert answer.status_code == 404, (name, answer.data)
    listed = client.get(f"{base}/files", headers=auth).get_json()["items"]
    assert [f["name"] for f in listed] == ["outputs/real.txt"]


def test_downsample_keeps_extremes_of_a_bucket_that_starts_with_nan() -> None:
    points = [(i, float(i % 10), float(i)) for i in range(100)]
    points[0] = (0, float("nan"), 0.0)
    points[50], points[60] = (50, -7.0, 50.0), (60, 99.0, 60.0)
    kept = downsample(points, 3)
    assert [p[0] for p in kept] == [50, 60, 99]


def test_keyset_pages_of_runs_with_equal_timestamps_miss_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    """Runs made within one millisecond share created_at (and runs of two experiments
    share numbers): the page key's number and id still order them totally."""
    ws = Workspace.open(tmp_path / "ws", create=True)
    _record, token = TokenStore(ws.db).create("t", read_only=True)
    store = RunStore(ws.path, ws.db)
    made = {store.create_run(e, kind=rec.INTERACTIVE, target="local").id for e in "ab" * 4}
    with ws.db.write() as conn:
        conn.execute("UPDATE runs SET created_at = '2026-01-01T00:00:00.000+00:00'")
    client = create_app(ws).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for sort in ("-created_at", "created_at"):
        seen: list[str] = []
        url = f"/api/v1/runs?limit=3&sort={sort}"
        while url:
            body = client.get(url, headers=auth).get_json()
            seen += [r["id"] for r in body["items"]]
            url = f"/api/v1/runs?limit=3&sort={sort}&after={body['next']}" if body["next"] else ""
            assert len(seen) <= len(made)
        assert sorted(seen) == sorted(made)
        whole = store.list(oldest_first=sort == "created_at")
        assert seen == [r.id for r in whole]


def test_a_workspace_with_runs_from_before_migration_4_upgrades_in_place(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    store = RunStore(ws.path, ws.db)
    made = [store.create_run("old", kind=rec.INTERACTIVE, target="local").id for _ in range(3)]
    with ws.db.write() as conn:  # back to schema 3: no tokens table, no paging index
        conn.execute("DROP INDEX runs_parent_created")
        conn.execute("DROP TABLE sessions")  # migration 5's tables, which need tokens
        conn.execute("DROP TABLE run_metric_summary")
        conn.execute("DROP TABLE tokens")
    with sqlite3.connect(ws.db.path) as conn:
        conn.execute("PRAGMA user_version = 3")
    upgraded = Workspace.open(tmp_path / "ws")
    with upgraded.db.read() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE parent_id IS NULL"
                " ORDER BY created_at DESC, number DESC, id DESC LIMIT 5"
            )
        )
    assert "runs_parent_created" in plan and "TEMP B-TREE" not in plan, plan
    again = RunStore(upgraded.path, upgraded.db)
    assert [r.id for r in again.list()] == made[::-1]
    _record, token = TokenStore(upgraded.db).create("after-upgrade")
    assert TokenStore(upgraded.db).verify(token) is not None


def test_series_reader_reads_only_what_was_appended(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    reader = m.SeriesReader(path)
    assert reader.read() == ({}, {})
    writer = m.MetricsWriter(path)
    writer.add("loss", m.SCALAR, 0.5, 0)
    writer.add("note", m.SCALAR, "text")
    writer.flush()
    assert reader.read() == m.history_and_values(path)
    done = reader.offset
    with path.open("ab") as fh:
        fh.write(b'{"n": "loss", "k": "scalar", "v": 0.4, "s": 1, "t": 1.0}\n{"n": "lo')
    series, values = reader.read()
    assert [p[1] for p in series["loss"]] == [0.5, 0.4] and values == {"note": "text"}
    assert reader.offset > done  # the unfinished line is left for the next read
    with path.open("ab") as fh:
        fh.write(b'ss", "k": "scalar", "v": 0.3, "s": 2, "t": 2.0}\n')
    assert reader.read() == m.history_and_values(path)
    path.write_bytes(b'{"n": "acc", "k": "scalar", "v": 1, "s": 0, "t": 0.0}\n')
    assert reader.read() == m.history_and_values(path) == ({"acc": [(0, 1, 0.0)]}, {})

"""The studio's parts without a browser: metric summaries (refreshed when a run ends),
keyset pages of the runs table in every sort (each run exactly once, runs without a value
last), sessions (expiry, revoked token, run tokens refused), the Host check."""

from __future__ import annotations

import contextlib
import math
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import render_template_string

from serving.errors import UserInputError
from serving.hub.app import create_app
from serving.hub.studio import pages_endpoints, pages_runs, pipeline_graph, runtable, web
from serving.hub.studio.sessions import SessionStore
from serving.hub.tokens import TokenStore
from serving.loadtest.target import Target
from serving.runs import metrics as m
from serving.runs import records as rec
from serving.runs import run_tokens, summary
from serving.runs.store import STD_LOG, RunStore
from serving.runs.sweeps.spec import DEFINITION_KEY
from serving.runs.sweeps.spec import KIND as SWEEP_KIND
from serving.workspace import Workspace


@pytest.fixture()
def store(tmp_path: Path) -> RunStore:
    ws = Workspace.open(tmp_path / "ws", create=True)
    return RunStore(ws.path, ws.db)


def _run(store: RunStore, values: list[float], *, end: bool = True) -> str:
    record = store.create_run("exp", kind=rec.INTERACTIVE, target="local")
    writer = m.MetricsWriter(store.metrics_file(record.id))
    for i, value in enumerate(values):
        writer.add("acc", m.SCALAR, value, i)
    writer.add("note", m.SCALAR, "text", None)
    writer.flush()
    store.set_status(record.id, rec.RUNNING)
    if end:
        store.set_status(record.id, rec.COMPLETED)
    return record.id


def test_summary_is_written_when_a_run_ends_and_skips_nan(store: RunStore) -> None:
    run_id = _run(store, [0.5, math.nan, 0.9, 0.7])
    found = summary.lasts(store.db, [run_id], ["acc", "note"])
    assert found == {run_id: {"acc": 0.7}}
    with store.db.read() as conn:
        row = conn.execute("SELECT count, min, max FROM run_metric_summary").fetchone()
    assert tuple(row) == (4, 0.5, 0.9)
    running = _run(store, [0.1], end=False)
    assert summary.stale(store.db, [(run_id, True), (running, False)], 10) == [running]


def _all_pages(store: RunStore, sort: runtable.Sort, limit: int) -> list[str]:
    ids: list[str] = []
    token = None
    for _ in range(100):
        page, token = runtable.page(store.db, "exp", sort, token, limit)
        ids.extend(page)
        if token is None:
            return ids
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("column", ["created", "status", "duration", "metric:acc"])
def test_every_sort_pages_through_each_run_once_missing_values_last(
    store: RunStore, column: str, descending: bool
) -> None:
    made = [_run(store, [float(i % 4)]) for i in range(9)]
    no_metric = store.create_run("exp", kind=rec.INTERACTIVE, target="local").id
    sort = runtable.Sort(column, descending)
    ids = _all_pages(store, sort, limit=4)
    assert sorted(ids) == sorted([*made, no_metric])
    if column == "metric:acc":
        assert ids[-1] == no_metric
        lasts = summary.lasts(store.db, ids[:-1], ["acc"])
        values = [lasts[i]["acc"] for i in ids[:-1]]
        assert values == sorted(values, reverse=descending)
    if column == "duration":
        assert ids[-1] == no_metric  # never ended: no duration


def test_bad_sorts_and_tokens_are_user_errors(store: RunStore) -> None:
    with pytest.raises(UserInputError):
        runtable.Sort.parse("name", None)
    with pytest.raises(UserInputError):
        runtable.Sort.parse("created", "up")
    with pytest.raises(UserInputError):
        runtable.page(store.db, "exp", runtable.Sort("created", True), "WzFd", 5)


def test_sessions_end_with_their_token_or_their_time(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    tokens = TokenStore(ws.db)
    sessions = SessionStore(ws.db, tokens)
    token = tokens.create("alice")[1]
    assert sessions.open("srvt_wrong") is None
    opened = sessions.open(token)
    assert opened is not None
    session_id, session = opened
    assert sessions.find(session_id) == session and not session.read_only
    with ws.db.read() as conn:
        stored = [r[0] for r in conn.execute("SELECT sha256 FROM sessions")]
    assert stored == [run_tokens.token_hash(session_id)]  # never the id itself
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="milliseconds")
    with ws.db.write() as conn:
        conn.execute("UPDATE sessions SET expires_at = ?", (past,))
    assert sessions.find(session_id) is None
    second = sessions.open(token)
    assert second is not None
    run_id = RunStore(ws.path, ws.db).create_run("exp", kind=rec.SCRIPT, target="local").id
    assert sessions.open(run_tokens.mint(ws.db, run_id)) is None  # a run's token: API only
    tokens.revoke("alice")
    assert sessions.find(second[0]) is None
    with ws.db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("host", "status"),
    [("127.0.0.1:8600", 302), ("localhost", 302), ("[::1]:8600", 302), ("evil.example", 403)],
)
def test_host_header_is_checked(tmp_path: Path, host: str, status: int) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    client = create_app(ws).test_client()
    answer = client.get("/studio/experiments", headers={"Host": host})
    assert answer.status_code == status


def test_studio_hosts_setting_adds_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVING_STUDIO_HOSTS", "studio.lan, other.lan")
    ws = Workspace.open(tmp_path / "ws", create=True)
    client = create_app(ws).test_client()
    assert client.get("/studio/login", headers={"Host": "studio.lan:80"}).status_code == 200
    assert client.get("/studio/login", headers={"Host": "x.lan"}).status_code == 403


def _sign_in(client: Any, token: str, **form: str) -> Any:
    """Sign in as a browser does: the form first (its CSRF value and cookie), then POST."""
    page = client.get("/studio/login").get_data(as_text=True)
    found = re.search(r'name="login_csrf" value="([^"]+)"', page)
    assert found
    return client.post("/studio/login", data={"token": token, "login_csrf": found[1], **form})


def _signed_in(store: RunStore) -> Any:
    """A test client of the store's workspace, signed in with a new read-write token."""
    ws = Workspace.open(store.root)
    client = create_app(ws).test_client()
    assert _sign_in(client, TokenStore(ws.db).create("alice")[1]).status_code == 302
    return client


def _session_count(ws: Workspace) -> int:
    with ws.db.read() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])


def test_next_after_sign_in_stays_in_the_studio(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    token = TokenStore(ws.db).create("alice")[1]
    client = create_app(ws).test_client()
    for given, expected in [
        ("/studio/models", "/studio/models"),
        ("//evil.example/studio/", "/studio/experiments"),
        ("https://evil.example/", "/studio/experiments"),
        ("/studio/\\evil.example", "/studio/experiments"),
        ("/studio/x\r\nSet-Cookie: a=b", "/studio/experiments"),
    ]:
        answer = _sign_in(client, token, next=given)
        assert answer.status_code == 302 and answer.headers["Location"] == expected


def test_sign_in_needs_its_form_and_replaces_the_old_session(tmp_path: Path) -> None:
    """Login CSRF: a POST without the sign-in form's value (or from another origin, even
    another port of this host) opens nothing; a second sign-in ends the first session."""
    ws = Workspace.open(tmp_path / "ws", create=True)
    token = TokenStore(ws.db).create("alice")[1]
    client = create_app(ws).test_client()
    bare = client.post("/studio/login", data={"token": token, "login_csrf": "guess"})
    assert bare.status_code == 403 and _session_count(ws) == 0
    for origin in ("http://localhost:3000", "null"):
        page = client.get("/studio/login").get_data(as_text=True)
        value = re.search(r'name="login_csrf" value="([^"]+)"', page)
        assert value
        sent = client.post(
            "/studio/login",
            data={"token": token, "login_csrf": value[1]},
            headers={"Origin": origin},
        )
        assert sent.status_code == 403 and _session_count(ws) == 0
    tabs = [client.get("/studio/login").get_data(as_text=True) for _ in range(2)]
    values = [re.search(r'name="login_csrf" value="([^"]+)"', tab) for tab in tabs]
    assert values[0] and values[1] and values[0][1] == values[1][1]  # two tabs, both work
    assert _sign_in(client, token).status_code == 302 and _session_count(ws) == 1
    first = client.get_cookie("serving_studio")
    assert first is not None
    assert _sign_in(client, token).status_code == 302 and _session_count(ws) == 1
    second = client.get_cookie("serving_studio")
    assert second is not None and second.value != first.value
    page = client.get("/studio/experiments").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    referer = {"Referer": "http://evil.example/page"}
    refused = client.post("/studio/logout", data={"csrf": csrf[1]}, headers=referer)
    assert refused.status_code == 403 and _session_count(ws) == 1
    assert client.post("/studio/logout", data={"csrf": csrf[1]}).status_code == 302
    assert _session_count(ws) == 0  # sign-out deletes the session's row


def test_pages_forbid_framing_and_foreign_scripts(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    answer = create_app(ws).test_client().get("/studio/login")
    assert answer.headers["X-Frame-Options"] == "DENY"
    policy = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert answer.headers["Cache-Control"] == "no-store"


def test_lazy_refresh_stops_at_its_byte_budget(store: RunStore) -> None:
    ids = [_run(store, [0.1] * 50, end=False) for _ in range(3)]
    paths = [(i, store.metrics_file(i)) for i in ids]
    size = paths[0][1].stat().st_size
    assert summary.refresh_within(store.db, paths, max_bytes=size + 1) == 1
    assert summary.refresh_within(store.db, paths, max_bytes=10 * size) == 3
    assert set(summary.lasts(store.db, ids, ["acc"])) == set(ids)


def test_templates_and_static_files_ship_in_the_wheel() -> None:
    """pyproject's package data globs (as setuptools expands them, no recursion) cover
    every template and static file, so a non-editable install has them all."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["serving"]
    shipped = {p for pattern in patterns for p in (root / "serving").glob(pattern)}
    studio = root / "serving" / "hub" / "studio"
    needed = {p for d in ("templates", "static") for p in (studio / d).rglob("*") if p.is_file()}
    assert needed and needed <= shipped, sorted(str(p) for p in needed - shipped)


class _Endless(BaseHTTPRequestHandler):
    """An endpoint whose answer never ends (it would fill the server's memory if read whole)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(10_000):  # 640 MiB at most: bounded, the reader stops long before
                self.wfile.write(b"[" * 65536)

    def log_message(self, *args: object) -> None:
        pass


def test_test_form_reads_a_bounded_answer() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        target = Target("x", f"http://127.0.0.1:{server.server_address[1]}", "/score")
        answer = pages_endpoints._send(target, "{}")
    finally:
        server.shutdown()
        server.server_close()
    assert answer["status"] == 200
    assert len(answer["text"]) < pages_endpoints.MAX_ANSWER + 100 and "cut at" in answer["text"]
    refused = pages_endpoints._send(Target("x", "http://127.0.0.1:1", "/score"), "{}")
    assert "cannot reach" in refused["error"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/studio/runs/nope", 404),
        ("/studio/experiments/nope", 404),
        ("/studio/models/nope", 404),
        ("/studio/models/nope/1", 404),
        ("/studio/models/x/abc", 400),
        ("/studio/endpoints/nope", 404),
        ("/studio/nowhere/at/all", 404),
        ("/studio/experiments/exp?limit=abc", 400),
        ("/studio/experiments/exp?limit=0", 400),
        ("/studio/experiments/exp?sort=name", 400),
        ("/studio/experiments/exp?dir=up", 400),
        ("/studio/experiments/exp?after=!!!", 400),
        ("/studio/experiments/exp?after=WyJhIiwiYiIsImMiLCJkIiwiZSJd", 400),  # wrong types
    ],
)
def test_bad_ids_and_arguments_get_error_pages(store: RunStore, path: str, status: int) -> None:
    """A page, never JSON or a traceback: 404 for what does not exist, 400 for arguments."""
    store.create_run("exp", kind=rec.INTERACTIVE, target="local")
    client = _signed_in(store)
    answer = client.get(path)
    page = answer.get_data(as_text=True)
    assert answer.status_code == status and answer.mimetype == "text/html"
    assert 'id="error-message"' in page and "Traceback" not in page


def test_an_unexpected_error_is_a_500_page_without_details(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _signed_in(store)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"secret detail in {store.root}")

    monkeypatch.setattr(RunStore, "experiments", broken)
    answer = client.get("/studio/experiments")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 500 and answer.mimetype == "text/html"
    assert "RuntimeError" in page and "secret detail" not in page and "Traceback" not in page


def test_a_lazy_refresh_never_overwrites_a_later_one(store: RunStore) -> None:
    """A page reads a running run's file, the run ends and its final summary is written,
    then the page's (older) result arrives: it is dropped."""
    run_id = _run(store, [0.1, 0.2], end=False)
    read_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    partial = summary.compute(store.metrics_file(run_id))
    writer = m.MetricsWriter(store.metrics_file(run_id))
    writer.add("acc", m.SCALAR, 0.9, 2)
    writer.flush()
    store.set_status(run_id, rec.COMPLETED)  # the final refresh
    assert not summary.store(store.db, run_id, partial, read_since=read_at)
    assert summary.lasts(store.db, [run_id], ["acc"]) == {run_id: {"acc": 0.9}}


def test_lazy_refresh_skips_big_files_that_have_a_summary(store: RunStore) -> None:
    big = _run(store, [0.1] * 500, end=False)
    small = _run(store, [0.2], end=False)
    paths = [(big, store.metrics_file(big)), (small, store.metrics_file(small))]
    budget = store.metrics_file(small).stat().st_size + 10
    assert summary.refresh_within(store.db, paths, budget) == 1  # the big one, once
    assert set(summary.lasts(store.db, [big, small], ["acc"])) == {big}
    assert summary.refresh_within(store.db, paths, budget) == 1  # now only the small one
    assert set(summary.lasts(store.db, [big, small], ["acc"])) == {big, small}


def test_pager_and_sort_links_keep_the_chosen_columns_and_page_size(store: RunStore) -> None:
    for i in range(3):
        _run(store, [float(i)])
    client = _signed_in(store)
    page = client.get("/studio/experiments/exp?limit=2&metric=acc").get_data(as_text=True)
    found = re.search(r'id="next-page" href="([^"]+)"', page)
    assert found and "limit=2" in found[1] and "metric=acc" in found[1]
    sort = re.search(r'href="([^"]*sort=status[^"]*)"', page)
    assert sort and "limit=2" in sort[1] and "metric=acc" in sort[1]
    plain = client.get("/studio/experiments/exp?limit=2").get_data(as_text=True)
    found = re.search(r'id="next-page" href="([^"]+)"', plain)
    assert found and "metric=" not in found[1] and "None" not in found[1]


@pytest.mark.parametrize(("goal", "best"), [("MINIMIZE", 0), ("MAXIMIZE", 1)])
def test_sweep_page_best_run_follows_the_goal(store: RunStore, goal: str, best: int) -> None:
    """Before the driver writes its best-run table, the page picks the best child itself."""
    definition = {DEFINITION_KEY: {"primary_metric_name": "loss", "primary_metric_goal": goal}}
    parent = store.create_run("exp", kind=SWEEP_KIND, target="local", definition=definition)
    children = []
    for value in (0.2, 0.9):
        child = store.create_run("exp", kind=rec.SCRIPT, target="local", parent_id=parent.id)
        writer = m.MetricsWriter(store.metrics_file(child.id))
        writer.add("loss", m.SCALAR, value, None)
        writer.flush()
        children.append(child.id)
    client = _signed_in(store)
    page = client.get(f"/studio/runs/{parent.id}").get_data(as_text=True)
    found = re.search(r'id="best-run">Best run: <a href="[^"]+">([^<]+)</a>', page)
    assert found and found[1] == children[best]


def test_downloads_stay_inside_the_run_folder(store: RunStore, tmp_path: Path) -> None:
    run_id = store.create_run("exp", kind=rec.INTERACTIVE, target="local").id
    outputs = store.run_dir(run_id) / "outputs"
    outputs.mkdir()
    (outputs / "model.txt").write_text("weights")
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (outputs / "link.txt").symlink_to(secret)
    client = _signed_in(store)
    url = f"/studio/data/runs/{run_id}/file?name="
    with client.get(url + "outputs/model.txt") as got:
        assert got.status_code == 200 and got.data == b"weights"
        assert got.headers["Content-Disposition"].startswith("attachment")  # never inline
    for name in ("../../../secret.txt", str(secret), "outputs/link.txt", "outputs/../../x"):
        answer = client.get(url + name)
        assert answer.status_code in (400, 404) and b"not yours" not in answer.data
    page = client.get(f"/studio/runs/{run_id}").get_data(as_text=True)
    assert "outputs/model.txt" in page and "link.txt" not in page  # links are not listed


def test_pipeline_graph_escapes_step_names(tmp_path: Path) -> None:
    """Step names come from a user's pipeline: the SVG shows them as text."""
    evil = '</text><script>alert(1)</script><text x="0">'
    node = pipeline_graph.Node(evil, 16, 16, "Completed", "#2e7d32", "r_1", 'r"0')
    edge = pipeline_graph.Edge(0, 0, 1, 1, "<data>")
    graph = pipeline_graph.Graph([node], [edge], 200, 100)
    app = create_app(Workspace.open(tmp_path / "ws", create=True))
    with app.test_request_context("/studio/runs/r_1"):
        macros = app.jinja_env.get_template("studio/_macros.html").module
        svg = render_template_string(
            '{% include "studio/_pipeline.html" %}', pipeline={"graph": graph}, m=macros
        )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;data&gt;" in svg
    assert 'r"0' not in svg


def test_run_page_log_tail_starts_at_a_whole_line(store: RunStore) -> None:
    run_id = store.create_run("exp", kind=rec.INTERACTIVE, target="local").id
    log = store.run_dir(run_id) / STD_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"".join(f"line {i:05d} é\n".encode() for i in range(8000)))
    client = _signed_in(store)
    page = client.get(f"/studio/runs/{run_id}").get_data(as_text=True)
    found = re.search(r'data-log-start="(\d+)"', page)
    assert found
    start, data = int(found[1]), log.read_bytes()
    assert 0 < len(data) - start <= pages_runs.LOG_TAIL_BYTES and data[start - 1 : start] == b"\n"


def test_static_urls_change_with_their_content(tmp_path: Path) -> None:
    """The stylesheet's URL carries its digest: a new version is never a cached old one."""
    client = create_app(Workspace.open(tmp_path / "ws", create=True)).test_client()
    page = client.get("/studio/login").get_data(as_text=True)
    found = re.search(r'href="(/studio/static/studio\.css\?v=([0-9a-f]{12}))"', page)
    assert found and found[2] == web.STATIC_DIGESTS["studio.css"]
    with client.get(found[1]) as answer:
        assert answer.status_code == 200 and answer.mimetype == "text/css"


def test_a_run_without_numeric_metrics_is_computed_once(store: RunStore) -> None:
    """Its summary is a marker row: not stale again (no recomputing at every page view),
    never a metric column."""
    run_id = _run(store, [])  # only the string metric "note"
    assert summary.stale(store.db, [(run_id, True)], 10) == []
    assert summary.names_in_experiment(store.db, "exp") == []
    assert summary.lasts(store.db, [run_id], ["note"]) == {}


def test_run_page_lists_at_most_its_limits(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Child runs and output files are capped, and the page says so."""
    monkeypatch.setattr(pages_runs, "MAX_CHILDREN", 2)
    monkeypatch.setattr(pages_runs, "MAX_FILES", 2)
    parent = store.create_run("exp", kind=rec.INTERACTIVE, target="local").id
    for _ in range(3):
        store.create_run("exp", kind=rec.INTERACTIVE, target="local", parent_id=parent)
    outputs = store.run_dir(parent) / "outputs"
    outputs.mkdir()
    for i in range(3):
        (outputs / f"f{i}.txt").write_text("x")
    client = _signed_in(store)
    page = client.get(f"/studio/runs/{parent}").get_data(as_text=True)
    children = page.split('id="children"')[1].split("</section>")[0]
    assert children.count("<tr><td>") == 2 and 'id="more-children"' in children
    assert page.count('class="download"') == 2 and "The first 2 of 3 files" in page

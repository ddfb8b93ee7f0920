"""Units of the remote client and the upload cap: records rebuilt from the server's JSON
equal the folder's, the cap counts bodies and archives (hard links as their copies)."""

from __future__ import annotations

import http.server
import io
import json
import re
import signal
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from serving import proc
from serving.errors import (
    BackendUnavailableError,
    IntegrityError,
    NotFoundError,
    UserInputError,
)
from serving.hub import streams
from serving.hub.remote.models import model_record
from serving.hub.remote.registries import endpoint_record, environment_record, image_record
from serving.hub.remote.runs import RemoteRunStore
from serving.hub.remote.transport import HubClient, _error
from serving.hub.remote.workspace import RemoteWorkspace
from serving.proc import interrupt_after
from serving.registry import Ref
from serving.runs.reporting import HttpMetricsWriter, ReportError, RunReporter
from serving.workspace import Workspace


def test_records_survive_the_json_round_trip(ws_path: Path, small_tree: Path) -> None:
    ws = Workspace.open(ws_path, create=True)
    model = ws.models.register(small_tree, "tree", tags={"a": "b"}, properties={"p": "1"})
    plain_files = tuple(replace(f, executable=False) for f in model.files)  # not in JSON
    assert model_record(model.to_dict()) == replace(model, id=0, files=plain_files)
    env, _ = ws.environments.register(
        "e", spec={"name": "e", "python": "3.11", "requirements": ["numpy"]},
        content_hash="1" * 64, python="3.11", source_text="numpy\n", source_name="r.txt",
    )  # fmt: skip
    shown = env.to_dict() | {"spec": env.spec, "source_text": env.source_text}
    assert environment_record(shown) == replace(env, id=0)
    image = ws.images.record(
        "serving/tree", tag=None, image_id="sha256:" + "2" * 64, build_key="k", env_hash="1",
        python="3.11", flavour="slim", base_image="b", size_bytes=3, models=["tree:1"],
        entry_script="score.py", labels={"l": "v"}, extra={"sbom": "x"},
    )  # fmt: skip
    assert image_record(image.to_dict()).to_dict() == image.to_dict()
    endpoint = ws.endpoints.create("svc", "local", {}, ["k1", "k2"], [model.id])
    again = endpoint_record(endpoint.to_dict())
    assert again.to_dict() == endpoint.to_dict() and again.keys == ()
    assert ws.models.get(Ref("tree")).ref == "tree:1"


def test_receive_counts_against_the_cap(tmp_path: Path) -> None:
    assert streams.receive(io.BytesIO(b"x" * 10), tmp_path / "a", 10, limit=10) == 10
    with pytest.raises(streams.TooLargeError):
        streams.receive(io.BytesIO(b"x" * 11), tmp_path / "b", None, limit=10)
    with pytest.raises(streams.TooLargeError):  # refused by its Content-Length, unread
        streams.receive(io.BytesIO(b""), tmp_path / "c", 11, limit=10)
    assert not (tmp_path / "c").exists()


def _tar(path: Path, size: int, *, link: bool) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("a.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(b"a" * size))
        if link:
            twin = tarfile.TarInfo("twin.bin")
            twin.type, twin.linkname = tarfile.LNKTYPE, "a.bin"
            tar.addfile(twin)
    return path


def test_unpacking_counts_hard_links_as_the_copies_they_become(tmp_path: Path) -> None:
    streams.unpack_tar(_tar(tmp_path / "one.tar", 60, link=False), tmp_path / "one", 100)
    with pytest.raises(streams.TooLargeError, match="unpacked"):
        streams.unpack_tar(_tar(tmp_path / "two.tar", 60, link=True), tmp_path / "two", 100)
    assert not (tmp_path / "two").exists()  # refused before anything was written


def test_the_cap_setting() -> None:
    assert streams.max_upload_bytes({}) == 10 * 2**30
    assert streams.max_upload_bytes({streams.MAX_UPLOAD_ENV: "1024"}) == 1024
    for bad in ("0", "-1", "1e9", "lots"):
        with pytest.raises(UserInputError, match=streams.MAX_UPLOAD_ENV):
            streams.max_upload_bytes({streams.MAX_UPLOAD_ENV: bad})


class _Trickle(io.RawIOBase):
    """A body that answers each read with at most 7 bytes, as a socket may."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(7, len(buffer), len(self.data))
        buffer[:size], self.data = self.data[:size], self.data[size:]
        return size


def test_read_capped_reads_to_the_end_and_stops_past_the_cap() -> None:
    assert streams.read_capped(_Trickle(b"x" * 100), 100, "a batch") == b"x" * 100  # type: ignore[arg-type]
    with pytest.raises(streams.TooLargeError, match="a batch is larger"):
        streams.read_capped(_Trickle(b"x" * 101), 100, "a batch")  # type: ignore[arg-type]


def test_a_cut_download_is_one_error_and_leaves_no_file(tmp_path: Path) -> None:
    """A server that promises 100 bytes and closes after 10: BackendUnavailable (the
    CLI's one line, exit 7), not urllib3's ProtocolError; nothing under either name."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    client = HubClient(f"http://127.0.0.1:{listener.getsockname()[1]}", "srvt_x", timeout=10)
    with listener, pytest.raises(BackendUnavailableError, match="cut off"):
        client.download("/models/m/1/download", tmp_path / "model.bin")
    server.join(10)
    assert list(tmp_path.iterdir()) == []


def _answer(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    return response


def test_error_answers_map_to_the_folder_errors() -> None:
    """The server's codes come back as the classes (and so exit codes) a folder raises;
    an answer without the server's body (a proxy's page) is judged by its status."""
    body = json.dumps({"error": {"code": "TooLarge", "message": "too big", "hint": "h"}})
    assert isinstance(_error(_answer(413, body.encode())), UserInputError)
    gone = json.dumps({"error": {"code": "NotFound", "message": "no run x"}}).encode()
    assert isinstance(_error(_answer(404, gone)), NotFoundError)
    for status in (502, 503, 504):
        mapped = _error(_answer(status, b"<html>bad gateway</html>"))
        assert isinstance(mapped, BackendUnavailableError), status
        assert mapped.message == f"HTTP {status} from the workspace server"
    assert "SERVING_TOKEN" in str(_error(_answer(401, b"{}")).hint)


class _HostileServer(http.server.BaseHTTPRequestHandler):
    """A 'workspace server' listing a run file whose name leaves the download folder."""

    def do_GET(self) -> None:
        body = json.dumps({"items": [{"name": "../../escaped.txt", "size_bytes": 1}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_run_file_names_that_leave_the_folder_are_refused(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        runs = RemoteRunStore(HubClient(f"http://127.0.0.1:{server.server_port}", "srvt_x"))
        with pytest.raises(IntegrityError, match="not a relative path inside the run"):
            runs.file_names("run-1")
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path.parent / "escaped.txt").exists()


class _Answer(http.server.BaseHTTPRequestHandler):
    """Answers every call 200 with ``BODY`` (of ``TYPE``), whatever it asked."""

    BODY = b""
    TYPE = "text/html"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", self.TYPE)
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


class _NotAServer(_Answer):
    """A page, as a misrouted proxy would send."""

    BODY = b"<html>welcome</html>"


class _Circling(_Answer):
    """A list route whose every page says the next one is 'again'."""

    BODY = json.dumps({"items": [{"n": 1}], "next": "again"}).encode()
    TYPE = "application/json"


class _Older(_Answer):
    """A server from before ``GET /workspace``: that route is unknown, every list empty."""

    TYPE = "application/json"

    def _answer(self) -> None:
        if self.path.startswith("/api/v1/workspace"):
            body = {"error": {"code": "NotFound", "message": "The requested URL was not found"}}
            self.send_response(404)
        else:
            body = {"items": [], "next": None}
            self.send_response(200)
        data = json.dumps(body).encode()
        self.send_header("Content-Type", self.TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer


class _Interrupting(_Answer):
    """Sends the test's main thread a real SIGINT (Ctrl-C) once a call has arrived, then
    answers a moment later: the interrupt lands while the call is in flight."""

    BODY = json.dumps({"items": [], "next": None}).encode()
    TYPE = "application/json"
    answering = threading.Event()

    def _answer(self) -> None:
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        time.sleep(0.3)
        self.answering.set()
        super()._answer()

    do_GET = do_POST = _answer


@contextmanager
def _serving(handler: type[_Answer]) -> Iterator[str]:
    """``handler`` on a loopback port in a thread, for the block: its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_reporting_run_counts_batches_a_non_server_answered_as_lost() -> None:
    """Not JSON back: the batch is lost with a line on stderr (a ReportError), and the
    writer goes on (a ValueError would have ended its background thread)."""
    with _serving(_NotAServer) as base:
        reporter = RunReporter(base, "srvt_x", "r1")
        with pytest.raises(ReportError, match="did not answer as a workspace server"):
            reporter.call("POST", "/metrics", b"{}", "application/x-ndjson")
        writer = HttpMetricsWriter(reporter)  # retried (a page may be a passing state)
        writer.add("a", "scalar", 1.0)
        writer.flush()
        assert writer.lost == 1


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://", "host:port"),
        ("http://127.0.0.1:99999", "Port out of range"),
        ("https://[::1", "Invalid IPv6 URL"),
    ],
)
def test_a_server_url_that_is_not_one_is_a_one_line_input_error(url: str, why: str) -> None:
    """Refused where it is given (exit 2), not later as an unreachable server (exit 7)
    or a ValueError from the URL parser."""
    with pytest.raises(UserInputError, match=re.escape(why)):
        HubClient(url, "srvt_x")
    assert HubClient("HTTP://127.0.0.1:8600/", None).base_url == "HTTP://127.0.0.1:8600"


def test_paging_stops_when_a_server_repeats_its_page_token() -> None:
    with _serving(_Circling) as base:
        pages = HubClient(base, "srvt_x").items("/runs")
        assert [next(pages), next(pages)] == [{"n": 1}, {"n": 1}]
        with pytest.raises(IntegrityError, match="page token again twice"):
            next(pages)


def test_ctrl_c_waits_for_the_json_call_in_flight() -> None:
    """A first Ctrl-C during a workspace call is raised once its answer is read (no
    half-read connection is left); a second one at once."""
    with _serving(_Interrupting) as base:
        with pytest.raises(KeyboardInterrupt):
            HubClient(base, "srvt_x").get("/runs")
        assert _Interrupting.answering.is_set()  # raised after the answer, not before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    reached = []
    with pytest.raises(KeyboardInterrupt), interrupt_after():
        signal.raise_signal(signal.SIGINT)  # held
        reached.append(1)
        signal.raise_signal(signal.SIGINT)  # raised at once
        reached.append(2)
    assert reached == [1]


def test_a_held_ctrl_c_is_raised_whatever_the_block_did_and_explained_when_slow(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(KeyboardInterrupt) as raised, interrupt_after():
        signal.raise_signal(signal.SIGINT)
        raise ValueError("the server did not answer")  # the press is not lost with it
    assert isinstance(raised.value.__context__, ValueError)
    assert capfd.readouterr().err == ""  # a press held a moment only: nothing said
    monkeypatch.setattr(proc, "HELD_NOTICE_S", 0.05)
    with pytest.raises(KeyboardInterrupt), interrupt_after():
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.5)  # a slow answer
    assert capfd.readouterr().err == proc.HELD_NOTICE.decode()


def test_a_ctrl_c_is_not_held_off_the_main_thread_or_under_another_handler() -> None:
    def elsewhere() -> None:
        with interrupt_after():
            seen.append(signal.getsignal(signal.SIGINT))

    seen: list[object] = []
    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]
    mine = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with interrupt_after():
            signal.raise_signal(signal.SIGINT)  # the other handler gets it, nothing held
        assert seen[-1] == signal.SIGINT
    finally:
        signal.signal(signal.SIGINT, mine)


def test_workspace_show_against_an_older_server_counts_its_lists() -> None:
    with _serving(_Older) as base:
        shown = RemoteWorkspace(base).describe()
    host = base.removeprefix("http://")
    assert shown == {"name": host, "url": base, "models": 0, "environments": 0, "endpoints": 0}

"""A Ray job's output through its head's log tail websocket, against a small stand-in for
the head's endpoint (a real websocket handshake and frames on a loopback socket; the
timings of a live cluster are not what is tested here): pieces arrive in order, nothing
after ``close``, no tail falls back to the whole-log call, and the run's log holds every
byte once when the tail and the last whole copy overlap."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from serving.runs.execution import Plan
from serving.runs.ray import executor
from serving.runs.ray.jobs_api import JobState, RayJobs
from serving.runs.ray.log_tail import LogTail, tail_url

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Head:
    """Accepts websocket connections and sends each ``pieces`` as text frames, then a
    close frame once ``release`` is set."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.release = threading.Event()
        self.paths: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            self.paths.append(request.split(b" ")[1].decode())
            found = re.search(rb"Sec-WebSocket-Key: *(\S+)", request, re.IGNORECASE)
            assert found is not None
            accept = base64.b64encode(hashlib.sha1(found.group(1) + GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            for piece in self.pieces:
                data = piece.encode()
                conn.sendall(bytes([0x81, len(data)]) + data)  # FIN + text, short length
            self.release.wait(10)
            try:
                conn.sendall(bytes([0x88, 0]))  # close
                conn.recv(64)  # the client's close
            except OSError:
                pass

    def stop(self) -> None:
        self.release.set()
        self.listener.close()


@contextmanager
def head(pieces: list[str]) -> Iterator[Head]:
    running = Head(pieces)
    try:
        yield running
    finally:
        running.stop()


def _collect(url: str) -> tuple[LogTail, list[str]]:
    got: list[str] = []
    return LogTail(url, got.append, threading.Lock()), got


def test_the_tail_url_of_a_head() -> None:
    assert (
        tail_url("http://h:8265/", "serving-r 1") == "ws://h:8265/api/jobs/serving-r%201/logs/tail"
    )
    assert tail_url("https://h/ray", "j") == "wss://h/ray/api/jobs/j/logs/tail"


def test_pieces_arrive_in_order_until_the_head_closes_the_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY"):  # a proxy for the internet, not for the head
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    with head(["one\n", "two\nthree\n"]) as ray:
        tail, got = _collect(tail_url(ray.address, "serving-r1"))
        ray.release.set()
        assert tail.wait(5)
    assert got == ["one\n", "two\nthree\n"]
    assert ray.paths == ["/api/jobs/serving-r1/logs/tail"]


def test_nothing_reaches_the_sink_after_close() -> None:
    with head(["one\n"]) as ray:
        tail, got = _collect(tail_url(ray.address, "j"))
        deadline = time.monotonic() + 5
        while not got:
            assert time.monotonic() < deadline, "the first piece never came"
            time.sleep(0.01)
        tail.close()  # the head has not closed it: the reader is woken out of recv
        assert tail.wait(5)
    assert got == ["one\n"]


def test_a_head_without_the_tail_ends_it_at_once() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    address = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    tail, got = _collect(tail_url(address, "j"))
    assert tail.wait(5) and got == []


def _plan(tmp_path: Path) -> Plan:
    return Plan("r1", tmp_path, tmp_path, tmp_path, ["t.py"], {}, tmp_path / "log.txt", None)


def _execution(jobs: RayJobs, plan: Plan, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(executor, "STATE_POLL_S", 0.05)
    monkeypatch.setattr(executor, "LOG_POLL_S", 0.0)  # a copy at every poll, if no tail
    monkeypatch.setattr(executor, "TAIL_FROM_BYTES", 4)  # "one\n" is enough output
    monkeypatch.setattr(executor.RayExecution, "_show", lambda self, status: None)
    return executor.RayExecution(jobs, lambda _attempt: "serving-r1", plan, None)


def test_the_run_log_holds_each_byte_once_from_copies_and_the_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first whole copy gives "one"; the output is then past the tail's threshold, so
    the tail opens and sends pieces that straddle what the log holds ("on", "e\ntw"...);
    the job ends once the log has "two" and a third line the tail never sent: the last
    whole copy adds only that. While the tail is open the whole output is not fetched."""
    plan = _plan(tmp_path)
    outputs = iter(["one\n"] + ["one\ntwo ✓\nthree\n"] * 10)
    with head(["on", "e\ntw", "o ✓\n"]) as ray:
        jobs = RayJobs(ray.address)
        fetched: list[str] = []

        def state(_id: str) -> JobState:
            done = plan.std_log.is_file() and "two" in plan.std_log.read_text(encoding="utf-8")
            return JobState(_id, "SUCCEEDED" if done else "RUNNING", "", 0)

        monkeypatch.setattr(jobs, "state", state)

        def logs(_id: str, *_: object) -> str:
            fetched.append(_id)
            return next(outputs)

        monkeypatch.setattr(jobs, "logs", logs)
        ended = _execution(jobs, plan, monkeypatch).wait(5.0)
    assert ended is not None and ended.ok
    assert plan.std_log.read_text(encoding="utf-8") == "one\ntwo ✓\nthree\n"
    assert len(fetched) == 2  # the first copy and the last: the tail was open in between
    assert ray.paths == ["/api/jobs/serving-r1/logs/tail"]


def test_where_no_tail_opens_the_whole_output_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    jobs = RayJobs(f"http://127.0.0.1:{closed.getsockname()[1]}")
    closed.close()  # the head refuses the tail (and answers the API: mocked below)
    outputs = iter(["one\n"] * 3 + ["one\ntwo\n"] * 20)
    states = iter(["RUNNING"] * 8 + ["SUCCEEDED"] * 10)
    monkeypatch.setattr(jobs, "state", lambda _id: JobState(_id, next(states), "", 0))
    monkeypatch.setattr(jobs, "logs", lambda _id, *_: next(outputs))
    plan = _plan(tmp_path)
    execution = _execution(jobs, plan, monkeypatch)
    ended = execution.wait(5.0)
    assert ended is not None and ended.ok
    assert plan.std_log.read_text() == "one\ntwo\n"
    assert execution._tail_at > 0  # a tail was tried, and the copies went on


@pytest.mark.parametrize(
    ("logged", "whole", "expected"),
    [
        # the tail sent a \r\n split between two reads as two newlines: one byte ahead
        ("abc\n\ndef\n", "abc\ndef\nLAST\n", "abc\n\ndef\nLAST\n"),
        ("abc\ndef\n", "abc\ndef\nLAST\n", "abc\ndef\nLAST\n"),  # in step
        # repeated lines: the match nearest the byte count is the one
        ("p\np\np\n", "p\np\np\np\nend\n", "p\np\np\np\nend\n"),
    ],
)
def test_the_last_copy_goes_on_after_what_the_log_holds(
    logged: str, whole: str, expected: str, tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    execution = executor.RayExecution(
        RayJobs("http://127.0.0.1:9"), lambda _attempt: "serving-r1", plan, None
    )
    execution._write(logged.encode())
    start = execution._resume_at(whole.encode())
    execution._write(whole.encode()[start:])
    assert plan.std_log.read_text() == expected

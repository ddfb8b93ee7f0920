"""The lean request reader against gunicorn's parser: same environ, or hands the request over.

Every plain request on a hot route must give exactly the environ gunicorn's parser and
``wsgi.create`` give (but for per-request objects); every request it is not sure of must
be left to gunicorn (``None``). Served end to end, both paths are covered by the server,
contract and V2 suites, which run through the keep-alive worker.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from gunicorn import http
from gunicorn.config import Config
from gunicorn.http import wsgi

from serving.server.lean import LeanReader
from serving.server.wire import CoalescingResponse, RequestSource

CLIENT = ("127.0.0.1", 50123)
SERVER = ("127.0.0.1", 8000)
_PER_REQUEST = {"wsgi.input", "wsgi.errors", "wsgi.early_hints", "gunicorn.socket"}


@pytest.fixture
def sock() -> Iterator[socket.socket]:
    a, b = socket.socketpair()
    yield a
    a.close()
    b.close()


def _request(head: str, body: bytes = b"") -> bytes:
    return head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body


def _gunicorn(data: bytes, sock: socket.socket, cfg: Config) -> tuple[Any, dict[str, Any]]:
    parser = http.get_parser(cfg, RequestSource(data), CLIENT)
    req = next(parser)
    _resp, environ = wsgi.create(req, sock, CLIENT, SERVER, cfg, response_class=CoalescingResponse)
    return req, environ


def _comparable(environ: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in environ.items() if k not in _PER_REQUEST}


PLAIN = [
    _request(
        "POST /score HTTP/1.1\nHost: 127.0.0.1:8000\nContent-Type: application/json\n"
        "Content-Length: 11\n",
        b'{"data": 1}',
    ),
    _request("GET /score?data=%5B1%2C2%5D&x=1 HTTP/1.1\nHost: h\nAuthorization: Bearer k\n"),
    _request(
        "POST /v2/models/digits/infer HTTP/1.1\nHost: h\nConnection: close\n"
        "Inference-Header-Content-Length: 5\nContent-Length: 7\nTraceId:  t-1 \n"
        "X-Request-Id: abc\nUser-Agent: Python-urllib/3.11\nAccept: */*\n",
        b"{}12345",
    ),
    _request("POST /score HTTP/1.1\nContent-Length: 0\nConnection: keep-alive\n"),
    _request("GET /v2/models/a%20b/ready HTTP/1.1\nHost: h\n"),
]


@pytest.mark.parametrize("data", PLAIN, ids=range(len(PLAIN)))
def test_plain_requests_read_as_gunicorn_reads_them(data: bytes, sock: socket.socket) -> None:
    cfg = Config()
    lean = LeanReader(cfg, tls=False).read(data, sock, CLIENT, SERVER)
    assert lean is not None
    req, environ = lean
    theirs_req, theirs = _gunicorn(data, sock, cfg)
    assert _comparable(environ) == _comparable(theirs)
    assert set(environ) | {"wsgi.early_hints"} == set(theirs)  # the worker adds early hints
    assert environ["wsgi.input"].read() == theirs["wsgi.input"].read()
    assert environ["gunicorn.socket"] is sock
    for name in ("method", "uri", "path", "query", "version", "headers"):
        assert getattr(req, name) == getattr(theirs_req, name), name
    assert req.should_close() == theirs_req.should_close()


def test_tls_sets_the_https_scheme(sock: socket.socket) -> None:
    lean = LeanReader(Config(), tls=True).read(PLAIN[0], sock, CLIENT, SERVER)
    assert lean is not None
    assert lean[1]["wsgi.url_scheme"] == "https"


UNSURE = {
    "other route": _request("GET /health/ready HTTP/1.1\nHost: h\n"),
    "HTTP/1.0": _request("POST /score HTTP/1.0\nContent-Length: 0\n"),
    "lower-case method": _request("post /score HTTP/1.1\nContent-Length: 0\n"),
    "PUT": _request("PUT /score HTTP/1.1\nContent-Length: 0\n"),
    "absolute form": _request("POST http://h/score HTTP/1.1\nContent-Length: 0\n"),
    "double slash": _request("POST //score HTTP/1.1\nContent-Length: 0\n"),
    "fragment": _request("GET /score#x HTTP/1.1\nHost: h\n"),
    "empty line first": b"\r\n" + _request("GET /score HTTP/1.1\nHost: h\n"),
    "chunked": _request(
        "POST /score HTTP/1.1\nTransfer-Encoding: chunked\n", b"1\r\nx\r\n0\r\n\r\n"
    ),
    "expect": _request("POST /score HTTP/1.1\nExpect: 100-continue\nContent-Length: 1\n", b"x"),
    "upgrade": _request("GET /score HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\n"),
    "other connection": _request("GET /score HTTP/1.1\nConnection: TE\n"),
    "repeated field": _request("GET /score HTTP/1.1\nHost: a\nHost: b\n"),
    "repeated other": _request("GET /score HTTP/1.1\nX-A: 1\nX-A: 2\n"),
    "underscore": _request("GET /score HTTP/1.1\nX_Forwarded_For: 1.2.3.4\n"),
    "scheme header": _request("GET /score HTTP/1.1\nX-Forwarded-Proto: https\n"),
    "space before colon": _request("GET /score HTTP/1.1\nHost : h\n"),
    "folded": _request("GET /score HTTP/1.1\nX-A: 1\n  2\n"),
    "non-ascii value": _request("GET /score HTTP/1.1\nX-A: caf\xe9\n"),
    "no colon": _request("GET /score HTTP/1.1\nbroken\n"),
    "bare LF": b"GET /score HTTP/1.1\nHost: h\n\n",
}


@pytest.mark.parametrize("data", list(UNSURE.values()), ids=list(UNSURE))
def test_unusual_requests_are_left_to_gunicorn(data: bytes, sock: socket.socket) -> None:
    assert LeanReader(Config(), tls=False).read(data, sock, CLIENT, SERVER) is None


def test_limits_leave_long_heads_to_gunicorn(sock: socket.socket) -> None:
    cfg = Config()
    cfg.set("limit_request_fields", 2)
    reader = LeanReader(cfg, tls=False)
    assert reader.read(_request("GET /score HTTP/1.1\nA: 1\nB: 2\n"), sock, CLIENT, SERVER)
    assert (
        reader.read(_request("GET /score HTTP/1.1\nA: 1\nB: 2\nC: 3\n"), sock, CLIENT, SERVER)
        is None
    )
    cfg.set("limit_request_field_size", 40)
    long_value = _request("GET /score HTTP/1.1\nA: " + "x" * 40 + "\n")
    assert LeanReader(cfg, tls=False).read(long_value, sock, CLIENT, SERVER) is None


def test_unset_limits_mean_gunicorns_defaults(sock: socket.socket) -> None:
    cfg = Config()
    cfg.set("limit_request_field_size", 0)
    cfg.set("limit_request_line", 0)
    reader = LeanReader(cfg, tls=False)
    assert reader.read(
        _request("GET /score HTTP/1.1\nA: " + "x" * 8000 + "\n"), sock, CLIENT, SERVER
    )
    long_field = _request("GET /score HTTP/1.1\nA: " + "x" * 9000 + "\n")
    assert reader.read(long_field, sock, CLIENT, SERVER) is None
    long_line = _request("GET /score?" + "x" * 9000 + " HTTP/1.1\nHost: h\n")
    assert reader.read(long_line, sock, CLIENT, SERVER) is None


@pytest.mark.parametrize("length", ["+5", "5, 5", " ", "0x5", "6", "4"])
def test_bodies_framed_otherwise_are_left_to_gunicorn(length: str, sock: socket.socket) -> None:
    data = _request(f"POST /score HTTP/1.1\nContent-Length: {length}\n", b"12345")
    assert LeanReader(Config(), tls=False).read(data, sock, CLIENT, SERVER) is None


def test_a_body_without_a_length_is_left_to_gunicorn(sock: socket.socket) -> None:
    data = _request("POST /score HTTP/1.1\nHost: h\n", b"GET /score HTTP/1.1\r\n\r\n")
    assert LeanReader(Config(), tls=False).read(data, sock, CLIENT, SERVER) is None


def _pre(worker: Any, req: Any) -> None:
    return None


def _post(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    return None


@pytest.mark.parametrize(
    "setting",
    [
        ("proxy_protocol", True),
        ("pre_request", _pre),
        ("post_request", _post),
        ("permit_obsolete_folding", True),
    ],
    ids=lambda s: s[0],
)
def test_settings_it_does_not_follow_turn_it_off(setting: tuple[str, Any]) -> None:
    assert LeanReader(Config(), tls=False).enabled
    cfg = Config()
    cfg.set(*setting)
    assert not LeanReader(cfg, tls=False).enabled


def test_a_logger_of_gunicorns_that_counts_requests_turns_it_off() -> None:
    assert not LeanReader(Config(), tls=False, access_log=True).enabled
    from gunicorn.glogging import Logger
    from gunicorn.instrument.statsd import Statsd

    from serving.server.lean import gunicorn_access_log

    cfg = Config()
    assert not gunicorn_access_log(cfg, Logger(cfg))
    cfg.set("accesslog", "-")
    assert gunicorn_access_log(cfg, Logger(cfg))
    assert gunicorn_access_log(Config(), Statsd.__new__(Statsd))  # no socket needed


def test_wsgi_errors_follow_the_error_log_and_survive_close(
    sock: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import logging

    cfg = Config()
    cfg.set("errorlog", "/dev/null")  # not "-": every handler's stream counts (gunicorn's rule)
    reader = LeanReader(cfg, tls=False)
    first = reader.read(PLAIN[0], sock, CLIENT, SERVER)
    second = reader.read(PLAIN[0], sock, CLIENT, SERVER)
    assert first is not None and second is not None
    errors = first[1]["wsgi.errors"]
    assert second[1]["wsgi.errors"] is errors  # one per reader, not one per request
    error_log = logging.getLogger("gunicorn.error")
    handler = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(error_log, "handlers", [handler])  # its only one, for this test
    errors.close()  # an app closing it breaks nothing for the next request
    errors.write("one\n")
    handler.setStream(io.StringIO())  # as a reopened log file (SIGUSR1)
    errors.write("two\n")
    errors.flush()
    stream = handler.stream
    assert isinstance(stream, io.StringIO) and stream.getvalue() == "two\n"

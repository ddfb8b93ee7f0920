"""The keep-alive worker's response: gunicorn's header checks on every response, and
gunicorn's default headers with a Date formatted once per second."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.http.errors import InvalidResponseHeader, InvalidResponseHeaderName

from serving.server.lean import LeanRequest
from serving.server.wire import CoalescingResponse, http_date


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def _answer(sock: socket.socket, headers: list[tuple[str, str]], body: bytes = b"{}") -> Any:
    resp = CoalescingResponse(LeanRequest("POST", "/score", "/score", "", []), sock, Config())
    resp.start_response("200 OK", headers)
    resp.write(body)
    resp.close()
    return resp


HEADERS = [
    ("Content-Type", "application/json"),
    ("Content-Length", "2"),
    ("x-ms-run-function-failed", "False"),
    ("x-request-id", "abc"),
]


def test_the_same_headers_give_the_same_answer_twice(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    first = _answer(pair[0], list(HEADERS))
    second = _answer(pair[0], list(HEADERS))
    assert first.headers == second.headers == HEADERS
    assert first.response_length == second.response_length == 2
    data = pair[1].recv(65536)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert data.count(b"x-request-id: abc\r\n") == 2


def test_values_are_stripped_and_hop_by_hop_headers_dropped_every_time(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    for _ in range(2):
        resp = _answer(pair[0], [("X-A", " padded "), ("Connection", "close"), *HEADERS[1:2]])
        assert resp.headers == [("X-A", "padded"), ("Content-Length", "2")]


@pytest.mark.parametrize(
    ("header", "error"),
    [(("Bad Name", "x"), InvalidResponseHeaderName), (("X-A", "a\r\nb"), InvalidResponseHeader)],
)
def test_bad_headers_are_refused_every_time(
    pair: tuple[socket.socket, socket.socket], header: tuple[str, str], error: type[Exception]
) -> None:
    _answer(pair[0], list(HEADERS))
    for _ in range(2):
        with pytest.raises(error):
            _answer(pair[0], [*HEADERS, header])


def test_date_is_gunicorns_format() -> None:
    assert parsedate_to_datetime(http_date()).tzname() == "UTC"
    assert http_date().endswith(" GMT")

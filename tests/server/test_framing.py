"""Where a request ends in a buffer: whole, in pieces, pipelined, and what is left to gunicorn."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.server.framing import NEED_MORE, TOO_LARGE, UNSURE, RequestFramer, expects_continue

HEAD = b"POST /score HTTP/1.1\r\nHost: x\r\n"


def _framer() -> RequestFramer:
    return RequestFramer(head_limit=8192, body_limit=1000)


def _length_request(body: bytes) -> bytes:
    return HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body


def _chunked_request(chunks: list[bytes], trailer: bytes = b"") -> bytes:
    framed = b"".join(b"%x;x=1\r\n%s\r\n" % (len(c), c) for c in chunks if c)
    return HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n" + trailer + b"\r\n"


@st.composite
def requests_(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["get", "length", "chunked"]))
    if kind == "get":
        return b"GET /score?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    if kind == "length":
        return _length_request(draw(st.binary(max_size=200)))
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
    return _chunked_request(chunks, draw(st.sampled_from([b"", b"X-Trailer: 1\r\n"])))


@settings(max_examples=300, deadline=None)
@given(st.lists(requests_(), min_size=1, max_size=4), st.data())
def test_pieces_frame_like_the_whole(stream: list[bytes], data: st.DataObject) -> None:
    """However the bytes arrive, each request ends where it really ends."""
    wire = b"".join(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    framer = _framer()
    buf = bytearray()
    served: list[bytes] = []
    for start, stop in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        buf += wire[start:stop]
        while (end := framer.request_end(buf)) > 0:
            served.append(bytes(buf[:end]))
            del buf[:end]
            framer.reset()
        assert end == NEED_MORE
    assert served == stream
    assert not buf


@pytest.mark.parametrize(
    "request_",
    [
        HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        HEAD + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        HEAD + b"Content-Length: -1\r\n\r\n",
        HEAD + b"Content-Length: 1e3\r\n\r\n",
        HEAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n",
        HEAD + b"Transfer-Encoding: br, chunked\r\n\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 5000,
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET /" + b"a" * 9000,
    ],
)
def test_what_it_cannot_frame_goes_to_gunicorn(request_: bytes) -> None:
    assert _framer().request_end(request_) == UNSURE


def test_a_long_chunked_body_is_scanned_once() -> None:
    framer = RequestFramer(head_limit=8192, body_limit=10**6)
    wire = _chunked_request([b"x"] * 20000)
    buf = bytearray()
    for start in range(0, len(wire), 1000):
        buf += wire[start : start + 1000]
        end = framer.request_end(buf)
    assert end == len(wire)


@pytest.mark.parametrize(
    "request_",
    [
        HEAD + b"Content-Length: 1001\r\n\r\n",
        HEAD + b"Content-Length: 99999999999999999999999999\r\n\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n3e9\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n7FFFFFFF\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 40 + b"\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n3e8\r\n" + b"x" * 1000 + b"\r\n1\r\n",
    ],
)
def test_a_declared_body_over_the_limit_is_too_large(request_: bytes) -> None:
    """Known from the header block or a chunk-size line, before any of the body."""
    assert _framer().request_end(request_) == TOO_LARGE


def test_a_body_at_the_limit_is_not_too_large() -> None:
    assert _framer().request_end(HEAD + b"Content-Length: 1000\r\n\r\n") == NEED_MORE
    padded = HEAD + b"Content-Length: 00000000000000000000001\r\n\r\nx"
    assert _framer().request_end(padded) == len(padded)
    chunked = _chunked_request([b"x" * 1000]).replace(b"3e8;", b"00000000000000003e8;")
    assert _framer().request_end(chunked) == len(chunked)


@pytest.mark.parametrize(
    "codings",
    [
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n",
    ],
)
def test_codings_before_chunked_are_framed(codings: bytes) -> None:
    """gunicorn accepts these; leaving them to it would leave it a partial body."""
    request_ = HEAD + codings + b"\r\n3\r\nabc\r\n0\r\n\r\n"
    framer = _framer()
    assert framer.request_end(request_[:-9]) == NEED_MORE
    assert framer.request_end(request_) == len(request_)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (b"expect: 100-continue", True),
        (b"expect:100-continue ", True),
        (b"x-note: 100-continue\r\nexpect: something", False),
        (b"x-expect: 100-continue", False),
        (b"expect: 100-continue-later", False),
        (b"x-note: expect: 100-continue", False),
        (b"", False),
    ],
)
def test_expect_is_read_from_the_expect_field(fields: bytes, expected: bool) -> None:
    """Only an ``Expect`` field whose value is ``100-continue`` asks for an interim answer."""
    head = b"post /score http/1.1\r\nhost: x\r\n" + fields
    assert expects_continue(head) is expected

"""Where an HTTP/1.1 request ends in a buffer of received bytes, found incrementally.

:class:`serving.server.worker.KeepAliveWorker` reads requests without blocking into a
per-connection buffer and hands a request to gunicorn's parser only once all its bytes are
there, so a client that trickles bytes never holds the worker. This module answers the one
question that needs: does the buffer hold a whole request yet, and where does it end?

It does not validate requests (gunicorn's parser does): whatever it cannot frame with
certainty (no ``Content-Length`` or ``chunked`` it understands, a header block over the
limit, bare-LF line ends, a malformed chunk) it reports as :data:`UNSURE`, and the worker
hands gunicorn the bytes received so far, and only those (never a blocking read of the
socket: gunicorn answers the malformed request at once), then closes the connection. A
body declared larger than the limit (``Content-Length``, or chunk sizes adding up past it)
is :data:`TOO_LARGE`, known from a few bytes: the worker answers 413 without reading it.
"""

from __future__ import annotations

NEED_MORE = 0
"""The buffer does not hold a whole request yet."""

UNSURE = -1
"""Hand the buffer over now; where the request ends is for gunicorn's parser to say."""

TOO_LARGE = -2
"""The request declares a body over the body limit (``Content-Length`` or chunk sizes)."""

_CODINGS_BEFORE_CHUNKED = frozenset((b"gzip", b"deflate", b"compress", b"identity"))
"""Transfer codings gunicorn accepts before the final ``chunked`` (it decodes none)."""

_HEX = frozenset(b"0123456789abcdefABCDEF")
_CHUNK_LINE_LIMIT = 4096
"""Longest chunk-size line (with extensions) before the framing gives up."""


class RequestFramer:
    """Finds the end of the first request in a growing buffer; reset per request.

    Work already done is kept between calls (where the header block was searched up to,
    which chunks were seen), so a body arriving in many small pieces costs linear time.
    """

    __slots__ = (
        "_body_limit",
        "_chunk_pos",
        "_chunk_total",
        "_end",
        "_head_limit",
        "_scanned",
        "head",
    )

    def __init__(self, head_limit: int, body_limit: int) -> None:
        self._head_limit = head_limit
        self._body_limit = body_limit
        self.reset()

    def reset(self) -> None:
        """Forget the request framed so far (the next one starts at offset 0)."""
        self._scanned = 0
        self._chunk_pos = -1
        self._chunk_total = 0
        self._end = 0
        self.head = b""
        """The header block in lower case, once it is complete (else empty)."""

    def request_end(self, buf: bytes | bytearray) -> int:
        """The end offset of the first request in ``buf``, or :data:`NEED_MORE`,
        :data:`UNSURE`, :data:`TOO_LARGE`."""
        if self._end:
            return self._end if len(buf) >= self._end else NEED_MORE
        if self._chunk_pos >= 0:
            return self._chunked_end(buf)
        start = max(self._scanned - 3, 0)
        head_end = buf.find(b"\r\n\r\n", start)
        if head_end < 0:
            self._scanned = len(buf)
            if len(buf) > self._head_limit or buf.find(b"\n\n", start) >= 0:
                return UNSURE  # too long, or bare-LF line ends: gunicorn's parser judges
            return NEED_MORE
        body_start = head_end + 4
        head = self.head = bytes(buf[:head_end]).lower()
        has_length = b"\ncontent-length:" in head
        if b"\ntransfer-encoding:" in head:
            if has_length or not _chunked_last(head):
                return UNSURE
            self._chunk_pos = body_start
            return self._chunked_end(buf)
        if not has_length:
            return body_start  # a request without either header has no body
        value = _field(head, b"\ncontent-length:")
        if value is None or not value.isdigit():
            return UNSURE
        digits = value.lstrip(b"0")
        if len(digits) > 18 or int(digits or b"0") > self._body_limit:
            return TOO_LARGE
        self._end = body_start + int(digits or b"0")
        return self._end if len(buf) >= self._end else NEED_MORE

    def _chunked_end(self, buf: bytes | bytearray) -> int:
        pos = self._chunk_pos
        while True:
            line_end = buf.find(b"\r\n", pos, pos + _CHUNK_LINE_LIMIT)
            if line_end < 0:
                return NEED_MORE if len(buf) - pos < _CHUNK_LINE_LIMIT else UNSURE
            size_text = bytes(buf[pos:line_end]).split(b";", 1)[0].strip(b" \t")
            if not size_text or not _HEX.issuperset(size_text):
                return UNSURE
            digits = size_text.lstrip(b"0")
            if not digits:
                return self._trailer_end(buf, line_end + 2)
            if len(digits) > 15:
                return TOO_LARGE
            size = int(digits, 16)
            if self._chunk_total + size > self._body_limit:
                return TOO_LARGE
            data_end = line_end + 2 + size
            if len(buf) < data_end + 2:
                return NEED_MORE  # this chunk is examined again when more has come
            if buf[data_end : data_end + 2] != b"\r\n":
                return UNSURE
            self._chunk_total += size
            pos = self._chunk_pos = data_end + 2

    def _trailer_end(self, buf: bytes | bytearray, start: int) -> int:
        if len(buf) < start + 2:
            return NEED_MORE
        if buf[start : start + 2] == b"\r\n":
            return start + 2
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            return NEED_MORE if len(buf) - start < self._head_limit else UNSURE
        return end + 4


def _field(head: bytes, name: bytes) -> bytes | None:
    """The value of the one header ``name`` (lower case, with its ``\\n`` and colon).

    None when it occurs more than once: gunicorn decides about duplicates.
    """
    start = head.find(name)
    if head.find(name, start + 1) >= 0:
        return None
    start += len(name)
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip(b" \t")


def _chunked_last(head: bytes) -> bool:
    """Whether the ``Transfer-Encoding`` fields (all of them, in order) end with ``chunked``
    after only codings gunicorn accepts before it; the rest is gunicorn's to judge."""
    codings: list[bytes] = []
    start = head.find(b"\ntransfer-encoding:")
    while start >= 0:
        start += len(b"\ntransfer-encoding:")
        end = head.find(b"\r\n", start)
        field = head[start : end if end >= 0 else len(head)]
        codings.extend(value.strip(b" \t") for value in field.split(b","))
        start = head.find(b"\ntransfer-encoding:", start)
    return (
        bool(codings)
        and codings[-1] == b"chunked"
        and _CODINGS_BEFORE_CHUNKED.issuperset(codings[:-1])
    )


def expects_continue(head: bytes) -> bool:
    """Whether a (lower-case) header block asks for ``100 Continue``: an ``Expect`` field
    whose value is ``100-continue``, not those bytes anywhere in the block."""
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name == b"expect" and value.strip(b" \t") == b"100-continue":
            return True
    return False

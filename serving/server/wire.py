"""The keep-alive worker's pieces around gunicorn's request parser and response writer.

:class:`Conn` is one client connection of :class:`serving.server.worker.KeepAliveWorker`
(its buffer, framing state, deadline and parked request); :class:`RequestSource` feeds a
buffered request to gunicorn's parser in place of the socket; :class:`CoalescingResponse`
writes a response's head and first body bytes in one call; :func:`error_answer` builds
the worker's own error answers; :func:`read_body_first` and :func:`consumed_exactly`
check gunicorn framed a request as the worker did.
"""

from __future__ import annotations

import io
import json
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.http.body import Body

from serving.server.framing import RequestFramer

if TYPE_CHECKING:
    from serving.server.deferred import Parked

RECV_BYTES = 1 << 16
"""The most bytes read from a socket (or a buffered body) at once."""


def error_answer(status: str, message: str, *extra: str) -> bytes:
    """A whole HTTP error answer that closes the connection, shaped like the server's other
    errors (``{"message": ...}``, JSON, ``x-ms-run-function-failed: False``)."""
    body = json.dumps({"message": message}).encode()
    lines = [
        f"HTTP/1.1 {status}",
        "Connection: close",
        "Content-Type: application/json",
        "x-ms-run-function-failed: False",
        *extra,
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_date() -> str:
    """gunicorn's ``Date`` value, formatted once per second rather than once per response
    (``email.utils.formatdate`` was 3 % of a worker's time on a small model)."""
    now = int(time.time())
    if now != _DATE[0]:
        _DATE[1] = util.http_date(now)
        _DATE[0] = now
    return _DATE[1]  # type: ignore[return-value]


_DATE: list[int | str] = [0, ""]


class CoalescingResponse(wsgi.Response):  # type: ignore[misc]
    """Sends the status line and headers together with the first body bytes.

    gunicorn writes headers and body with two ``sendall`` calls; for the typical small
    JSON answer one call (and one TCP segment) is enough. Its default headers are
    gunicorn's, with the ``Date`` of :func:`http_date`.
    """

    _pending: bytes | None = None
    headers_sent: bool

    def default_headers(self) -> list[str]:
        """Status line, ``Server``, ``Date``, ``Connection`` (and chunking), as gunicorn's."""
        if self.upgrade:
            connection = "upgrade"
        elif self.should_close():
            connection = "close"
        else:
            connection = "keep-alive"
        major, minor = self.req.version
        headers = [
            f"HTTP/{major}.{minor} {self.status}\r\n",
            f"Server: {self.version}\r\n",
            f"Date: {http_date()}\r\n",
            f"Connection: {connection}\r\n",
        ]
        if self.chunked:
            headers.append("Transfer-Encoding: chunked\r\n")
        return headers

    def send_headers(self) -> None:
        """Build the header block; it goes out with the first body write (or at close)."""
        if self.headers_sent:
            return
        lines = self.default_headers()
        lines.extend(f"{name}: {value}\r\n" for name, value in self.headers)
        self._pending = ("".join(lines) + "\r\n").encode("latin-1")
        self.headers_sent = True

    def _flush_headers(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            util.write(self.sock, pending)

    def _emit_body(self, data: bytes) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not self.chunked:
            util.write(self.sock, pending + data)
            return
        if pending is not None:
            util.write(self.sock, pending)
        super()._emit_body(data)

    def sendfile(self, respiter: Any) -> Any:
        """Headers first, then gunicorn's sendfile."""
        self.send_headers()
        self._flush_headers()
        return super().sendfile(respiter)

    def close(self) -> None:
        """Send the headers of a response without body bytes, then finish as gunicorn does.

        A response whose body iterable yields nothing (Flask's automatic ``OPTIONS``
        answer, ``HEAD``) has had no write: its headers must be built here, or they are
        built by gunicorn's close() after the flush and never sent (the client waits).
        """
        self.send_headers()
        self._flush_headers()
        super().close()


class RequestSource:
    """What gunicorn's parser reads one request from, in place of the socket.

    It serves the request's buffered bytes, then end of stream; it never reads the socket
    (where the framing was unsure, gunicorn judges the bytes received so far).
    """

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes | bytearray) -> None:
        self._data = data
        self._pos = 0

    @property
    def exhausted(self) -> bool:
        """Every buffered byte was read."""
        return self._pos >= len(self._data)

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes of the request; empty at its end."""
        data, pos = self._data, self._pos
        if pos >= len(data):
            return b""
        if pos == 0 and size >= len(data) and isinstance(data, bytes):
            self._pos = len(data)
            return data
        with memoryview(data) as view:
            chunk = bytes(view[pos : pos + size])
        self._pos += len(chunk)
        return chunk


class Conn:
    __slots__ = (
        "addr",
        "buf",
        "continued",
        "deadline",
        "draining",
        "fd",
        "framer",
        "handshaking",
        "parked",
        "reading",
        "server",
        "sock",
    )

    def __init__(self, sock: socket.socket, addr: Any, server: Any, framer: RequestFramer) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.addr = addr
        self.server = server
        """The listening socket's address (the environ's ``SERVER_NAME`` and port)."""
        self.framer = framer
        self.buf: bytes | bytearray = b""
        """Received bytes not yet served (the start of the next request)."""
        self.deadline = 0.0
        """When the connection is closed: idle, keep-alive; mid-request, the client timeout."""
        self.continued = False
        """``100 Continue`` was sent for the request being received."""
        self.draining = False
        """Refused: what arrives is discarded until the client closes or the deadline."""
        self.parked: Parked | None = None
        """The request whose answer waits on a batch (nothing more is served meanwhile)."""
        self.reading = True
        """Registered for reading (a parked connection stops once it buffers much)."""
        self.handshaking = isinstance(sock, ssl.SSLSocket)
        """A TLS connection whose handshake has not finished (:func:`tls_handshake`)."""

    def take(self, end: int) -> bytes | bytearray:
        """The first ``end`` buffered bytes (all of them for ``end < 0``), removed.

        The buffer itself is handed over where it can be (no copy of a large body).
        """
        buf = self.buf
        if end < 0 or end >= len(buf):
            self.buf = b""
            return buf
        self.buf = bytes(buf[end:])
        if isinstance(buf, bytearray):
            del buf[end:]
            return buf
        return buf[:end]


def head_limit(cfg: Any) -> int:
    """The longest header block gunicorn's limits let through (with some slack)."""
    line = cfg.limit_request_line or 8190
    fields = cfg.limit_request_fields or 100
    field_size = cfg.limit_request_field_size or 8190
    return line + fields * (field_size + 2) + 4


def read_body_first(req: Any) -> None:
    """Have gunicorn read a request's whole body (all of it is buffered) before the app runs.

    For requests the framing could not judge: a body gunicorn cannot frame (a bad chunk,
    bytes missing) then gets gunicorn's 400 (or the worker's), not an error from the app.
    """
    body = bytearray()
    while chunk := req.body.read(RECV_BYTES):
        body += chunk
    req.body = Body(io.BytesIO(bytes(body)))


def consumed_exactly(parser: Any, source: RequestSource, req: Any) -> bool:
    """Whether gunicorn framed the request as the worker did (else: close, never guess).

    The unread rest of the body (all buffered) is read first.
    """
    try:
        while req.body.read(RECV_BYTES):
            pass
    except Exception:
        return False
    return source.exhausted and not parser.unreader.buf.getvalue()


# -- TLS (a worker with --certfile/--keyfile) ----------------------------------------------
def tls_handshake(sock: ssl.SSLSocket, timeout_s: float) -> bool:
    """Advance the server-side handshake without waiting: True once it is done, False
    while it needs more bytes from the client; a failed handshake (plain HTTP sent to the
    TLS port, say) raises :class:`ssl.SSLError` (an OSError)."""
    sock.setblocking(False)
    try:
        sock.do_handshake()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    finally:
        sock.settimeout(timeout_s)
    return True


def tls_recv(sock: ssl.SSLSocket, timeout_s: float) -> bytes | None:
    """The decrypted bytes available now, without waiting: None when none are (a TLS
    record arrived only in part), b"" at the client's close. Bytes OpenSSL has already
    decrypted (``pending()``) are taken too: the poller cannot signal them. The socket
    is left with ``timeout_s`` for writes (responses use ``sendall``)."""
    sock.setblocking(False)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                data = sock.recv(RECV_BYTES)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                break
            if not data:
                if not chunks:
                    return b""
                break  # the close is seen on the next read
            chunks.append(data)
            if not sock.pending():
                break
    finally:
        sock.settimeout(timeout_s)
    return b"".join(chunks) if chunks else None

"""A gunicorn worker with keep-alive that serves one request at a time in the main thread.

gunicorn's ``sync`` worker closes the connection after every response, so clients pay a
TCP handshake per request; its ``gthread`` worker keeps connections but hands every
request to a thread pool and back (futures, a wake-up pipe, a fresh selector per request),
which on a 2-core machine costs more than the handshake it saves. This worker keeps the
sync worker's model (one request at a time, in the main thread, so ``SIGALRM`` scoring
timeouts work and score.py never sees concurrent calls) and adds an event loop over the
listening sockets and the open connections.

Slow clients cannot take the worker: the event loop reads every connection without
blocking into that connection's buffer, and a request goes to gunicorn's parser and the
app only once all its bytes have arrived (:mod:`serving.server.framing` says when). A
request must arrive whole within ``SERVING_CLIENT_TIMEOUT`` seconds of its first byte,
else the connection gets a 408 and is closed; other connections are served meanwhile.

Use it with ``--worker-class serving.server.worker.KeepAliveWorker``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import time
from datetime import datetime
from typing import Any

from gunicorn import http, util
from gunicorn.http import wsgi
from gunicorn.workers.sync import SyncWorker

from serving.config import ServerSettings
from serving.server.framing import NEED_MORE, UNSURE, RequestFramer

_IGNORED_SOCKET_ERRORS = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN)

CLOSE_CONNECTION = "serving.close_connection"
"""WSGI environ key: an app sets it to have the connection closed after the response."""

READ_TIMEOUT_S = 10.0
"""Longest wait for a client to accept (part of) a response."""

_RECV_BYTES = 1 << 16
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_TIMEOUT_BODY = b'{"message": "Request Timeout: the request did not arrive in time."}'
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class _CoalescingResponse(wsgi.Response):  # type: ignore[misc]
    """Sends the status line and headers together with the first body bytes.

    gunicorn writes headers and body with two ``sendall`` calls; for the typical small
    JSON answer one call (and one TCP segment) is enough.
    """

    _pending: bytes | None = None
    headers_sent: bool

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


class _RequestSource:
    """What gunicorn's parser reads one request from, in place of the socket.

    It serves the request's buffered bytes, then end of stream. Where the framing was
    unsure (see :data:`serving.server.framing.UNSURE`) it goes on reading the socket,
    blocking, until the connection's deadline; such a connection is closed afterwards.
    """

    __slots__ = ("_data", "_deadline", "_pos", "_sock")

    def __init__(self, data: bytes, sock: socket.socket | None, deadline: float) -> None:
        self._data = data
        self._pos = 0
        self._sock = sock
        self._deadline = deadline

    @property
    def exhausted(self) -> bool:
        """Every buffered byte was read."""
        return self._pos >= len(self._data)

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes of the request."""
        data = self._data
        if self._pos < len(data):
            if self._pos == 0 and size >= len(data):
                self._pos = len(data)
                return data
            chunk = data[self._pos : self._pos + size]
            self._pos += len(chunk)
            return chunk
        if self._sock is None:
            return b""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("client timeout")
        self._sock.settimeout(min(remaining, READ_TIMEOUT_S))
        try:
            return self._sock.recv(size)
        finally:
            self._sock.settimeout(READ_TIMEOUT_S)


class _Conn:
    __slots__ = ("addr", "buf", "continued", "deadline", "fd", "framer", "listener", "sock")

    def __init__(
        self, sock: socket.socket, addr: Any, listener: socket.socket, framer: RequestFramer
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.addr = addr
        self.listener = listener
        self.framer = framer
        self.buf: bytes | bytearray = b""
        """Received bytes not yet served (the start of the next request)."""
        self.deadline = 0.0
        """When the connection is closed: idle, keep-alive; mid-request, the client timeout."""
        self.continued = False
        """``100 Continue`` was sent for the request being received."""

    def take(self, end: int) -> bytes:
        """The first ``end`` buffered bytes (all of them for ``end < 0``), removed."""
        buf = self.buf
        if end < 0 or end >= len(buf):
            self.buf = b""
            return bytes(buf)
        self.buf = bytes(buf[end:])
        return bytes(buf[:end])


def _head_limit(cfg: Any) -> int:
    """The longest header block gunicorn's limits let through (with some slack)."""
    line = cfg.limit_request_line or 8190
    fields = cfg.limit_request_fields or 100
    field_size = cfg.limit_request_field_size or 8190
    return line + fields * (field_size + 2) + 4


class KeepAliveWorker(SyncWorker):  # type: ignore[misc]
    """Sync worker semantics plus HTTP/1.1 keep-alive (``--keep-alive`` seconds idle)."""

    def run(self) -> None:
        """The worker's main loop: accept, read, serve complete requests, expire the rest."""
        if self.cfg.is_ssl:
            raise RuntimeError(
                "KeepAliveWorker does not terminate TLS: put a TLS proxy in front of the "
                "server or use threaded workers"
            )
        settings = ServerSettings.from_env()
        self._client_timeout = float(max(settings.client_timeout_s, 1))
        self._limits = (_head_limit(self.cfg), settings.max_body_bytes)
        self._next_expiry = 0.0
        self._poller = selectors.DefaultSelector()
        self._conns: dict[int, _Conn] = {}
        for listener in self.sockets:
            listener.setblocking(False)
            self._poller.register(listener, selectors.EVENT_READ, None)
        self._accepting = True
        self._poller.register(self.PIPE[0], selectors.EVENT_READ, "pipe")
        try:
            while self.alive:
                self.notify()
                self._limit_connections()
                for key, _ in self._poller.select(0.5):
                    self._dispatch(key)
                    if not self.alive:
                        break
                self._expire()
                if not self.is_parent_alive():
                    break
        finally:
            for conn in list(self._conns.values()):
                self._close(conn)
            self._poller.close()

    def _dispatch(self, key: selectors.SelectorKey) -> None:
        if key.data is None:
            self._accept(key.fileobj)  # type: ignore[arg-type]
        elif key.data == "pipe":
            with contextlib.suppress(OSError):
                os.read(self.PIPE[0], 64)
        else:
            self._receive(key.data)

    def _accept(self, listener: socket.socket) -> None:
        """Accept every pending connection (up to ``worker_connections``), not just one.

        Accepting one per loop turn made a burst of new connections wait for each other:
        32 clients connecting at once with 3 ms requests left the last one queued for over
        a second (a p99 of 0.9 s where the median was 65 ms).
        """
        while len(self._conns) < self.cfg.worker_connections:
            try:
                client, addr = listener.accept()
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            # with a timeout the descriptor is non-blocking: os.read in _receive never waits
            client.settimeout(READ_TIMEOUT_S)
            util.close_on_exec(client)
            conn = _Conn(client, addr, listener, RequestFramer(*self._limits))
            conn.deadline = time.monotonic() + max(self.cfg.keepalive, 1)
            self._conns[conn.fd] = conn
            self._poller.register(client, selectors.EVENT_READ, conn)

    def _limit_connections(self) -> None:
        accept = len(self._conns) < self.cfg.worker_connections
        if accept != self._accepting:
            for listener in self.sockets:
                if accept:
                    self._poller.register(listener, selectors.EVENT_READ, None)
                else:
                    self._poller.unregister(listener)
            self._accepting = accept

    def _expire(self) -> None:
        """Close idle connections past keep-alive and requests past the client timeout."""
        now = time.monotonic()
        if now < self._next_expiry:
            return
        self._next_expiry = now + 0.25
        for conn in [c for c in self._conns.values() if c.deadline < now]:
            if conn.buf:  # a request that did not arrive in time
                with contextlib.suppress(OSError):
                    os.write(conn.fd, _TIMEOUT_ANSWER)
                self.log.info("Closed a connection from %s: request timeout", conn.addr)
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        self._conns.pop(conn.fd, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._poller.unregister(conn.sock)
        util.close(conn.sock)

    def _receive(self, conn: _Conn) -> None:
        """Read what a readable connection has; serve the requests it completes."""
        try:
            data = os.read(conn.fd, _RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        if not conn.buf:
            conn.buf = data
            conn.deadline = time.monotonic() + self._client_timeout
        elif isinstance(conn.buf, bytearray):
            conn.buf += data
        else:
            conn.buf = bytearray(conn.buf) + data
        self._serve_buffered(conn)

    def _serve_buffered(self, conn: _Conn) -> None:
        """Serve every whole request in the buffer, then wait for more (or close)."""
        while True:
            end = conn.framer.request_end(conn.buf)
            if end == NEED_MORE:
                self._maybe_continue(conn)
                return
            request = conn.take(end)
            conn.framer.reset()
            conn.continued = False
            if not self._serve(conn, request, unsure=end == UNSURE):
                self._close(conn)
                return
            now = time.monotonic()
            if not conn.buf:
                conn.deadline = now + self.cfg.keepalive
                return
            conn.deadline = now + self._client_timeout  # a pipelined request has begun

    def _maybe_continue(self, conn: _Conn) -> None:
        """Answer ``Expect: 100-continue`` once the header block is complete.

        gunicorn sends its own ``100 Continue`` when it parses the request; a second one
        is allowed (RFC 9110, 15.2) and clients skip it.
        """
        if conn.continued or not conn.framer.head:
            return
        conn.continued = True
        if b"\nexpect:" in conn.framer.head and b"100-continue" in conn.framer.head:
            with contextlib.suppress(OSError):
                os.write(conn.fd, _CONTINUE)

    def _serve(self, conn: _Conn, request: bytes, *, unsure: bool) -> bool:
        """Parse and answer one buffered request; whether the connection stays open."""
        source = _RequestSource(request, conn.sock if unsure else None, conn.deadline)
        parser = http.get_parser(self.cfg, source, conn.addr)
        try:
            req = next(parser)
            keep = self._handle(conn, req)
            return keep and not unsure and _consumed_exactly(parser, source, req)
        except (http.errors.NoMoreData, TimeoutError, StopIteration):
            return False
        except OSError as exc:
            if exc.errno not in _IGNORED_SOCKET_ERRORS:
                self.log.exception("Socket error processing request.")
            return False
        except BaseException as exc:
            self.handle_error(None, conn.sock, conn.addr, exc)
            return False

    def _handle(self, conn: _Conn, req: Any) -> bool:
        """One request and its response; whether the connection may stay open."""
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(
                req,
                conn.sock,
                conn.addr,
                conn.listener.getsockname(),
                self.cfg,
                response_class=_CoalescingResponse,
            )
            self.nr += 1
            if self.nr >= self.max_requests:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
            if not self.alive or not self.cfg.keepalive:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            if not self.alive or environ.get(CLOSE_CONNECTION):
                resp.force_close()  # stopping (SIGTERM during the request) or asked by the app
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            raise  # the client went away: _serve closes the connection quietly
        except (Exception, SystemExit):
            if resp is not None and resp.headers_sent:
                self.log.exception("Error handling request")
                return False
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")


def _consumed_exactly(parser: Any, source: _RequestSource, req: Any) -> bool:
    """Whether gunicorn framed the request as the worker did (else: close, never guess).

    The unread rest of the body (all buffered) is read first.
    """
    try:
        while req.body.read(_RECV_BYTES):
            pass
    except Exception:
        return False
    return source.exhausted and not parser.unreader.buf.getvalue()

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
else the connection gets a 408 and is closed; other connections are served meanwhile. A
request that declares a body over ``SERVING_MAX_BODY_BYTES`` gets a 413 as soon as its
header (or chunk-size line) says so, and one the framing cannot judge goes to gunicorn's
parser with the bytes received so far only: the worker never waits on one socket.
Unfinished requests together hold at most about ``SERVING_WORKER_BUFFER_BYTES`` (see
:attr:`serving.config.ServerSettings.buffer_limit_bytes`). Refused connections are closed
after a short linger that discards what the client still sends, so it reads the answer
rather than a reset.

Use it with ``--worker-class serving.server.worker.KeepAliveWorker``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import selectors
import socket
import time
from concurrent import futures
from datetime import datetime
from typing import Any

from gunicorn import http, util
from gunicorn.http import wsgi
from gunicorn.http.body import Body
from gunicorn.workers.sync import SyncWorker

from serving.config import ServerSettings
from serving.server.deferred import DEFER, Deferred, Wakeup
from serving.server.framing import NEED_MORE, TOO_LARGE, UNSURE, RequestFramer, expects_continue

_IGNORED_SOCKET_ERRORS = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN)

CLOSE_CONNECTION = "serving.close_connection"
"""WSGI environ key: an app sets it to have the connection closed after the response."""

READ_TIMEOUT_S = 10.0
"""Longest wait for a client to accept (part of) a response."""

LINGER_S = 2.0
"""How long a refused connection's further bytes are read and discarded before it is closed
(closing with unread bytes would reset it, and the client could lose the answer)."""

_RECV_BYTES = 1 << 16
_SMALL_REQUEST = 1 << 16
"""Unfinished requests up to this size are read even while the worker's buffers are full."""
_BUFFER_LIMIT_FLOOR = 256 * 2**20
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


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


_TIMEOUT_ANSWER = error_answer(
    "408 Request Timeout", "Request Timeout: the request did not arrive in time."
)
_BUSY_ANSWER = error_answer(
    "503 Service Unavailable",
    "Service Unavailable: the server holds too many unfinished requests; retry.",
    "Retry-After: 1",
)
_BAD_ANSWER = error_answer("400 Bad Request", "Bad Request: the request could not be parsed.")


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


class _Conn:
    __slots__ = (
        "addr",
        "buf",
        "continued",
        "deadline",
        "draining",
        "fd",
        "framer",
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
        self._buffered = 0
        """Bytes held in all connections' buffers."""
        self._buffer_limit = settings.buffer_limit_bytes or max(
            _BUFFER_LIMIT_FLOOR, 2 * settings.max_body_bytes
        )
        self._too_large = error_answer(
            "413 Request Entity Too Large",
            f"Request body is larger than the limit of {settings.max_body_bytes} bytes.",
        )
        self._next_tick = 0.0
        """When the loop next runs its periodic work (heartbeat, expiry, parent check)."""
        self._poller = selectors.DefaultSelector()
        self._conns: dict[int, _Conn] = {}
        self._server_addrs = {listener: listener.getsockname() for listener in self.sockets}
        """Each listener's address, asked once (not per request)."""
        for listener in self.sockets:
            listener.setblocking(False)
            self._poller.register(listener, selectors.EVENT_READ, None)
        self._accepting = True
        self._poller.register(self.PIPE[0], selectors.EVENT_READ, "pipe")
        self._wakeup = Wakeup()
        self._poller.register(self._wakeup, selectors.EVENT_READ, "wake")
        try:
            while self.alive:
                self._limit_connections()
                for key, _ in self._poller.select(0.5):
                    self._dispatch(key)
                    if not self.alive:
                        break
                now = time.monotonic()
                if now >= self._next_tick:  # 4 times a second at most, not once per request
                    self._next_tick = now + 0.25
                    self.notify()  # a syscall (utime), as is the parent check (getppid)
                    self._expire(now)
                    if not self.is_parent_alive():
                        break
        finally:
            self._finish_parked()
            for conn in list(self._conns.values()):
                self._close(conn)
            self._poller.close()
            self._wakeup.close()

    def _dispatch(self, key: selectors.SelectorKey) -> None:
        if key.data is None:
            self._accept(key.fileobj)  # type: ignore[arg-type]
        elif key.data == "pipe":
            with contextlib.suppress(OSError):
                os.read(self.PIPE[0], 64)
        elif key.data == "wake":
            for parked in self._wakeup.take():
                self._answer_parked(parked)
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
            conn = _Conn(client, addr, self._server_addrs[listener], RequestFramer(*self._limits))
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

    def _expire(self, now: float) -> None:
        """Close idle connections past keep-alive and requests past the client timeout."""
        for conn in [c for c in self._conns.values() if c.deadline < now]:
            if conn.parked is not None:  # its batch item is late: answered 504
                self._answer_parked(conn.parked)
            elif conn.buf:  # a request that did not arrive in time
                self.log.info("Closed a connection from %s: request timeout", conn.addr)
                self._refuse(conn, _TIMEOUT_ANSWER)
            else:  # idle past keep-alive, or done lingering
                self._close(conn)

    def _refuse(self, conn: _Conn, answer: bytes = b"") -> None:
        """Answer an unfinished request with an error (if any), drop its bytes, and linger.

        The write side is shut at once; what the client still sends is read and discarded
        for :data:`LINGER_S` at most, then (or at the client's close) the connection closes.
        """
        self._buffered -= len(conn.buf)
        conn.buf = b""
        conn.framer.reset()
        conn.draining = True
        conn.deadline = time.monotonic() + LINGER_S
        try:
            if answer:
                os.write(conn.fd, answer)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        if conn.parked is not None:  # the client went away, or the worker stops
            conn.parked.deferred.cancel()
            conn.parked = None
        self._buffered -= len(conn.buf)
        conn.buf = b""
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
        if conn.draining:
            return
        self._buffered += len(data)
        if not conn.buf:
            conn.buf = data
            if conn.parked is None:
                conn.deadline = time.monotonic() + self._client_timeout
        elif isinstance(conn.buf, bytearray):
            conn.buf += data  # in place: a large body is never copied whole
        else:  # the second piece of a request: only the first piece is copied
            buf = bytearray(conn.buf)
            buf += data
            conn.buf = buf
        if conn.parked is None:
            self._serve_buffered(conn)
        elif len(conn.buf) > _SMALL_REQUEST:  # pipelined: read on once it is answered
            self._poller.unregister(conn.sock)
            conn.reading = False

    def _serve_buffered(self, conn: _Conn) -> None:
        """Serve every whole request in the buffer, then wait for more (or close)."""
        while True:
            end = conn.framer.request_end(conn.buf)
            if end == NEED_MORE:
                self._wait_for_more(conn)
                return
            if end == TOO_LARGE:
                self.log.info("Answered 413 to %s: the body is over the limit", conn.addr)
                self._refuse(conn, self._too_large)
                return
            request = conn.take(end)
            self._buffered -= len(request)
            conn.framer.reset()
            conn.continued = False
            keep = self._serve(conn, request, unsure=end == UNSURE)
            if keep is None:  # parked: the rest waits for its answer
                return
            if not self._served(conn, keep, unsure=end == UNSURE):
                return

    def _served(self, conn: _Conn, keep: bool, *, unsure: bool) -> bool:
        """After an answer: close the connection, or set its deadline; whether it holds
        (the start of) another request to serve."""
        if not keep:
            if unsure:  # answered by gunicorn; the client may still be sending
                self._refuse(conn)
            else:
                self._close(conn)
            return False
        now = time.monotonic()
        if not conn.buf:
            conn.deadline = now + self.cfg.keepalive
            return False
        conn.deadline = now + self._client_timeout  # a pipelined request has begun
        return True

    def _wait_for_more(self, conn: _Conn) -> None:
        """Before waiting for the rest of a request: refuse it while the worker's buffers
        are full (unless it is small), else answer ``Expect: 100-continue`` once the
        header block is complete.

        gunicorn sends its own ``100 Continue`` when it parses the request; a second one
        is allowed (RFC 9110, 15.2) and clients skip it.
        """
        if self._buffered > self._buffer_limit and len(conn.buf) > _SMALL_REQUEST:
            self.log.warning(
                "Answered 503 to %s: %d bytes of unfinished requests, over the limit of %d",
                conn.addr,
                self._buffered,
                self._buffer_limit,
            )
            self._refuse(conn, _BUSY_ANSWER)
            return
        if conn.continued or not conn.framer.head:
            return
        conn.continued = True
        if expects_continue(conn.framer.head):
            with contextlib.suppress(OSError):
                os.write(conn.fd, _CONTINUE)

    def _serve(self, conn: _Conn, request: bytes | bytearray, *, unsure: bool) -> bool | None:
        """Parse and answer one buffered request; whether the connection stays open (None:
        parked, its answer waits on a batch)."""
        source = _RequestSource(request)
        parser = http.get_parser(self.cfg, source, conn.addr)
        try:
            req = next(parser)
            if unsure:
                _read_body_first(req)
            keep = self._handle(conn, req)
            if isinstance(keep, Parked):
                self._park(conn, keep, parser, source, unsure=unsure)
                return None
            return keep and not unsure and _consumed_exactly(parser, source, req)
        except (http.errors.NoMoreData, StopIteration):
            if unsure:  # cut short where gunicorn wanted more: nothing was answered yet
                with contextlib.suppress(OSError):
                    os.write(conn.fd, _BAD_ANSWER)
            return False
        except OSError as exc:
            if exc.errno not in _IGNORED_SOCKET_ERRORS:
                self.log.exception("Socket error processing request.")
            return False
        except BaseException as exc:
            self.handle_error(None, conn.sock, conn.addr, exc)
            return False

    def _handle(self, conn: _Conn, req: Any) -> bool | Parked:
        """One request and its response; whether the connection may stay open (a
        :class:`Parked` request: answered later, :mod:`serving.server.deferred`)."""
        environ: dict[str, Any] = {}
        resp = None
        parked = False
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(
                req,
                conn.sock,
                conn.addr,
                conn.server,
                self.cfg,
                response_class=_CoalescingResponse,
            )
            self.nr += 1
            if self.nr >= self.max_requests:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
            if not self.alive or not self.cfg.keepalive:
                resp.force_close()
            environ[DEFER] = True
            respiter = self.wsgi(environ, resp.start_response)
            if isinstance(respiter, Deferred):
                parked = True
                return Parked(conn, respiter, req, resp, environ, request_start)
            return self._respond(req, resp, environ, request_start, respiter)
        except OSError:
            raise  # the client went away: _serve closes the connection quietly
        except (Exception, SystemExit):
            if resp is not None and resp.headers_sent:
                self.log.exception("Error handling request")
                return False
            raise
        finally:
            if not parked:
                self._post_request(req, environ, resp)

    def _respond(
        self, req: Any, resp: Any, environ: dict[str, Any], request_start: datetime, respiter: Any
    ) -> bool:
        """Write the app's answer; whether the connection may stay open."""
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

    def _post_request(self, req: Any, environ: dict[str, Any], resp: Any) -> None:
        try:
            self.cfg.post_request(self, req, environ, resp)
        except Exception:
            self.log.exception("Exception in post_request hook")

    # -- parked requests (serving.server.deferred) ----------------------------------------

    def _park(
        self, conn: _Conn, parked: Parked, parser: Any, source: _RequestSource, *, unsure: bool
    ) -> None:
        """Serve other connections until ``parked``'s batch item completes (or is late)."""
        parked.exact = not unsure and _consumed_exactly(parser, source, parked.req)
        parked.unsure = unsure
        conn.parked = parked
        conn.deadline = parked.deferred.deadline
        self._wakeup.watch(parked.deferred, parked)

    def _answer_parked(self, parked: Parked) -> None:
        """Write a parked request's answer, then serve the connection's next request."""
        conn = parked.conn
        if conn.parked is not parked:
            return  # answered already (late), or the connection was closed
        conn.parked = None
        try:
            keep = self._respond(
                parked.req,
                parked.resp,
                parked.environ,
                parked.request_start,
                parked.deferred.finish(),
            )
            keep = keep and parked.exact
        except OSError as exc:
            if exc.errno not in _IGNORED_SOCKET_ERRORS:
                self.log.exception("Socket error processing request.")
            keep = False
        except BaseException as exc:
            if parked.resp.headers_sent:
                self.log.exception("Error handling request")
            else:
                self.handle_error(parked.req, conn.sock, conn.addr, exc)
            keep = False
        finally:
            self._post_request(parked.req, parked.environ, parked.resp)
        if keep and not conn.reading:
            self._poller.register(conn.sock, selectors.EVENT_READ, conn)
            conn.reading = True
        if self._served(conn, keep, unsure=parked.unsure):
            self._serve_buffered(conn)

    def _finish_parked(self) -> None:
        """On the way out: answer the parked requests (waiting for their batches within
        the graceful timeout), so a stopping worker drops none it accepted."""
        parked = [c.parked for c in self._conns.values() if c.parked is not None]
        if not parked:
            return
        futures.wait([p.deferred.item.future for p in parked], timeout=self.cfg.graceful_timeout)
        for each in parked:
            self._answer_parked(each)


class Parked:
    """A request answered later: its connection, the handler's :class:`Deferred` and
    what the worker needs to write the answer as it writes any other."""

    __slots__ = ("conn", "deferred", "environ", "exact", "req", "request_start", "resp", "unsure")

    def __init__(
        self,
        conn: _Conn,
        deferred: Deferred,
        req: Any,
        resp: Any,
        environ: dict[str, Any],
        request_start: datetime,
    ) -> None:
        self.conn = conn
        self.deferred = deferred
        self.req = req
        self.resp = resp
        self.environ = environ
        self.request_start = request_start
        self.exact = True
        self.unsure = False


def _read_body_first(req: Any) -> None:
    """Have gunicorn read a request's whole body (all of it is buffered) before the app runs.

    For requests the framing could not judge: a body gunicorn cannot frame (a bad chunk,
    bytes missing) then gets gunicorn's 400 (or the worker's), not an error from the app.
    """
    body = bytearray()
    while chunk := req.body.read(_RECV_BYTES):
        body += chunk
    req.body = Body(io.BytesIO(bytes(body)))


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

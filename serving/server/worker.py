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

With dynamic batching on, a batchable request is served in two halves without threads
(:mod:`serving.server.deferred`): the handler queues it on the batcher and the worker
parks its connection, serving others, until the batch is done; then it writes the answer
as it writes any other and resumes the connection.

TLS (gunicorn's ``--certfile``/``--keyfile``): accepted sockets are wrapped server-side
without a handshake; the event loop drives it (:func:`serving.server.wire.tls_handshake`)
and reads decrypted bytes without waiting (:func:`serving.server.wire.tls_recv`). A client
that does not finish its handshake within ``--keep-alive`` seconds is closed like an idle
one; one that fails it (plain HTTP) is closed at once. Without TLS the reads and writes
are the plain ``os.read``/``os.write`` of the descriptor.

Use it with ``--worker-class serving.server.worker.KeepAliveWorker``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import time
from concurrent import futures
from datetime import datetime
from typing import Any

from gunicorn import config as gconfig
from gunicorn import http, util
from gunicorn import sock as gsock
from gunicorn.http import wsgi
from gunicorn.workers.sync import SyncWorker

from serving.config import ServerSettings
from serving.server.deferred import DEFER, Deferred, Parked, Wakeup
from serving.server.framing import NEED_MORE, TOO_LARGE, UNSURE, RequestFramer, expects_continue
from serving.server.lean import LeanReader, gunicorn_access_log
from serving.server.logs import access_handler
from serving.server.wire import (
    RECV_BYTES,
    CoalescingResponse,
    Conn,
    RequestSource,
    consumed_exactly,
    error_answer,
    head_limit,
    read_body_first,
    tls_handshake,
    tls_recv,
)

_IGNORED_SOCKET_ERRORS = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN)

_early_hints = getattr(wsgi, "_make_early_hints_callback", None)
"""gunicorn's ``wsgi.early_hints`` (103) callback maker, which ``wsgi.create`` adds; the lean
reader's environ gets it too (gunicorn before 25 has none)."""

CLOSE_CONNECTION = "serving.close_connection"
"""WSGI environ key: an app sets it to have the connection closed after the response."""

READ_TIMEOUT_S = 10.0
"""Longest wait for a client to accept (part of) a response."""

LINGER_S = 2.0
"""How long a refused connection's further bytes are read and discarded before it is closed
(closing with unread bytes would reset it, and the client could lose the answer)."""

_SMALL_REQUEST = 1 << 16
"""Unfinished requests up to this size are read even while the worker's buffers are full."""
_BUFFER_LIMIT_FLOOR = 256 * 2**20
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


_TIMEOUT_ANSWER = error_answer(
    "408 Request Timeout", "Request Timeout: the request did not arrive in time."
)
_BUSY_ANSWER = error_answer(
    "503 Service Unavailable",
    "Service Unavailable: the server holds too many unfinished requests; retry.",
    "Retry-After: 1",
)
_BAD_ANSWER = error_answer("400 Bad Request", "Bad Request: the request could not be parsed.")


class KeepAliveWorker(SyncWorker):  # type: ignore[misc]
    """Sync worker semantics plus HTTP/1.1 keep-alive (``--keep-alive`` seconds idle)."""

    def run(self) -> None:
        """The worker's main loop: accept, read, serve complete requests, expire the rest."""
        self._ssl = gsock.ssl_context(self.cfg) if self.cfg.is_ssl else None
        """Server-side TLS (``--certfile``/``--keyfile``); None: plain HTTP."""
        settings = ServerSettings.from_env()
        self._client_timeout = float(max(settings.client_timeout_s, 1))
        self._limits = (head_limit(self.cfg), settings.max_body_bytes)
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
        self._gunicorn_access = gunicorn_access_log(self.cfg, self.log)
        self._lean = LeanReader(
            self.cfg, tls=self._ssl is not None, access_log=self._gunicorn_access
        )
        """Reads plain requests on the hot routes without gunicorn's parser."""
        self._pre_request, self._post_request = request_hooks(self.cfg, self.log)
        self._poller = selectors.DefaultSelector()
        self._conns: dict[int, Conn] = {}
        self._server_addrs = {listener: listener.getsockname() for listener in self.sockets}
        """Each listener's address, asked once (not per request)."""
        for listener in self.sockets:
            listener.setblocking(False)
            self._poller.register(listener, selectors.EVENT_READ, None)
        self._accepting = True
        self._poller.register(self.PIPE[0], selectors.EVENT_READ, "pipe")
        self._wakeup = Wakeup()
        self._waiting: dict[futures.Future[Any], Parked] = {}
        """Parked requests by their batch item's future."""
        self._poller.register(self._wakeup, selectors.EVENT_READ, "wake")
        access = access_handler()
        try:
            while self.alive:
                self._limit_connections()
                events = self._poller.select(0.5)
                try:
                    if access is not None:
                        access.hold()  # the turn's access lines: written at its end
                    for key, _ in events:
                        self._dispatch(key)
                        if not self.alive:
                            break
                finally:
                    if access is not None:
                        access.write_held()
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
            for future in self._wakeup.take():
                parked = self._waiting.get(future)
                if parked is not None:  # else answered already (late), or closed
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
            if self._ssl is not None:  # handshake driven by _receive, without waiting
                client = self._ssl.wrap_socket(
                    client, server_side=True, do_handshake_on_connect=False
                )
            conn = Conn(client, addr, self._server_addrs[listener], RequestFramer(*self._limits))
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

    def _refuse(self, conn: Conn, answer: bytes = b"") -> None:
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
                self._send_now(conn, answer)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)

    def _close(self, conn: Conn) -> None:
        if conn.parked is not None:  # the client went away, or the worker stops
            conn.parked.deferred.cancel()
            self._waiting.pop(conn.parked.deferred.item.future, None)
            conn.parked = None
        self._buffered -= len(conn.buf)
        conn.buf = b""
        self._conns.pop(conn.fd, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._poller.unregister(conn.sock)
        util.close(conn.sock)

    def _receive(self, conn: Conn) -> None:
        """Read what a readable connection has; serve the requests it completes."""
        if self._ssl is not None:
            tls_data = self._tls_receive(conn)
            if tls_data is None:
                return
            data = tls_data
        else:
            try:
                data = os.read(conn.fd, RECV_BYTES)
            except BlockingIOError:
                return
            except OSError:
                data = b""
                conn.draining = True  # reset: the client is gone
        if not data:
            if conn.parked is not None and not conn.draining:  # half-closed: answer, close
                self._stop_reading(conn)
                conn.parked.exact = False
                return
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
            self._stop_reading(conn)

    def _tls_receive(self, conn: Conn) -> bytes | None:
        """:meth:`_receive`'s read on a TLS connection: the handshake first, then the
        decrypted bytes (None: nothing yet). A failed handshake (plain HTTP sent to the
        HTTPS port) closes the connection: no HTTP answer is possible (docs/tls.md)."""
        sock: Any = conn.sock
        if conn.handshaking:
            try:
                if not tls_handshake(sock, READ_TIMEOUT_S):
                    return None
            except OSError as exc:
                self.log.debug("TLS handshake with %s failed: %s", conn.addr, exc)
                self._close(conn)
                return None
            conn.handshaking = False
        try:
            return tls_recv(sock, READ_TIMEOUT_S)
        except OSError:
            conn.draining = True  # reset: the client is gone
            return b""

    def _send_now(self, conn: Conn, data: bytes) -> None:
        """Write a short answer of the worker's own (408, 413, 503, 100 Continue...)."""
        if self._ssl is not None:
            conn.sock.sendall(data)
        else:
            os.write(conn.fd, data)

    def _stop_reading(self, conn: Conn) -> None:
        """Stop reading a parked connection until its answer is written."""
        self._poller.unregister(conn.sock)
        conn.reading = False

    def _serve_buffered(self, conn: Conn) -> None:
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

    def _served(self, conn: Conn, keep: bool, *, unsure: bool) -> bool:
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

    def _wait_for_more(self, conn: Conn) -> None:
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
                self._send_now(conn, _CONTINUE)

    def _serve(self, conn: Conn, request: bytes | bytearray, *, unsure: bool) -> bool | None:
        """Parse and answer one buffered request; whether the connection stays open (None:
        parked, its answer waits on a batch). A plain request on a hot route is read by
        :class:`LeanReader`, any other by gunicorn's parser."""
        lean = None
        if self._lean.enabled and not unsure:
            lean = self._lean.read(request, conn.sock, conn.addr, conn.server)
        parser: Any = None
        source = RequestSource(request)
        try:
            if lean is not None:
                req, environ = lean
            else:
                parser = http.get_parser(self.cfg, source, conn.addr)
                req, environ = next(parser), None
                if unsure:
                    read_body_first(req)
            keep = self._handle(conn, req, environ)
            if isinstance(keep, Parked):
                self._park(conn, keep, parser, source, unsure=unsure)
                return None
            return keep and not unsure and _exact(parser, source, req)
        except (http.errors.NoMoreData, StopIteration):
            if unsure:  # cut short where gunicorn wanted more: nothing was answered yet
                with contextlib.suppress(OSError):
                    self._send_now(conn, _BAD_ANSWER)
            return False
        except OSError as exc:
            if exc.errno not in _IGNORED_SOCKET_ERRORS:
                self.log.exception("Socket error processing request.")
            return False
        except BaseException as exc:
            self.handle_error(None, conn.sock, conn.addr, exc)
            return False

    def _handle(self, conn: Conn, req: Any, lean_environ: dict[str, Any] | None) -> bool | Parked:
        """One request and its response; whether the connection may stay open (a
        :class:`Parked` request: answered later, :mod:`serving.server.deferred`).
        ``lean_environ``: the environ :class:`LeanReader` built (None: gunicorn builds it)."""
        environ: dict[str, Any] = {}
        resp = None
        parked = False
        try:
            if self._pre_request is not None:
                self._pre_request(self, req)
            request_start = datetime.now()
            if lean_environ is None:
                resp, environ = wsgi.create(
                    req,
                    conn.sock,
                    conn.addr,
                    conn.server,
                    self.cfg,
                    response_class=CoalescingResponse,
                )
            else:
                resp, environ = CoalescingResponse(req, conn.sock, self.cfg), lean_environ
                if _early_hints is not None:
                    environ["wsgi.early_hints"] = _early_hints(req, conn.sock, resp)
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
                self._after_request(req, environ, resp)

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
            if self._gunicorn_access:
                self.log.access(resp, req, environ, datetime.now() - request_start)
            if hasattr(respiter, "close"):
                respiter.close()
        return not resp.should_close()

    def _after_request(self, req: Any, environ: dict[str, Any], resp: Any) -> None:
        if self._post_request is None:
            return
        try:
            self._post_request(self, req, environ, resp)
        except Exception:
            self.log.exception("Exception in post_request hook")

    # -- parked requests (serving.server.deferred) ----------------------------------------

    def _park(
        self, conn: Conn, parked: Parked, parser: Any, source: RequestSource, *, unsure: bool
    ) -> None:
        """Serve other connections until ``parked``'s batch item completes (or is late)."""
        parked.exact = not unsure and _exact(parser, source, parked.req)
        parked.unsure = unsure
        conn.parked = parked
        conn.deadline = parked.deferred.deadline
        future = parked.deferred.item.future
        self._waiting[future] = parked
        self._wakeup.watch(future)

    def _answer_parked(self, parked: Parked) -> None:
        """Write a parked request's answer, then serve the connection's next request."""
        conn = parked.conn
        del self._waiting[parked.deferred.item.future]
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
            self._after_request(parked.req, parked.environ, parked.resp)
        if keep and not conn.reading:
            self._poller.register(conn.sock, selectors.EVENT_READ, conn)
            conn.reading = True
        if self._served(conn, keep, unsure=parked.unsure):
            self._serve_buffered(conn)

    def _finish_parked(self) -> None:
        """On the way out: answer the parked requests (waiting for their batches within
        the graceful timeout), so a stopping worker drops none it accepted."""
        if not self._waiting:
            return
        futures.wait(list(self._waiting), timeout=self.cfg.graceful_timeout)
        for parked in list(self._waiting.values()):
            self._answer_parked(parked)


def request_hooks(cfg: Any, log: Any) -> tuple[Any, Any]:
    """gunicorn's ``pre_request`` and ``post_request`` hooks, looked up once; None for a
    hook left at gunicorn's default where it does nothing (``pre_request`` logs each
    request at debug level only; ``post_request`` does nothing): about 2 % of a worker's
    time on a small model's requests."""
    pre: Any = cfg.pre_request
    error_log = getattr(log, "error_log", None)
    debug = error_log is None or error_log.isEnabledFor(logging.DEBUG)
    if pre is gconfig.PreRequest.default and not debug:
        pre = None
    post: Any = cfg.post_request
    if post is gconfig.PostRequest.default:
        post = None
    return pre, post


def _exact(parser: Any, source: RequestSource, req: Any) -> bool:
    """Whether the request was framed as the worker framed it: always, when the lean
    reader read it (no parser), else as :func:`consumed_exactly` finds."""
    return parser is None or consumed_exactly(parser, source, req)

"""A gunicorn worker with keep-alive that serves one request at a time in the main thread.

gunicorn's ``sync`` worker closes the connection after every response, so clients pay a
TCP handshake per request; its ``gthread`` worker keeps connections but hands every
request to a thread pool and back (futures, a wake-up pipe, a fresh selector per request),
which on a 2-core machine costs more than the handshake it saves. This worker keeps the
sync worker's model (one request at a time, in the main thread, so ``SIGALRM`` scoring
timeouts work and score.py never sees concurrent calls) and adds an event loop over the
listening sockets and the idle kept-alive connections.

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

_IGNORED_SOCKET_ERRORS = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN)

CLOSE_CONNECTION = "serving.close_connection"
"""WSGI environ key: an app sets it to have the connection closed after the response."""

DRAIN_TIMEOUT_S = 1.0
"""Longest wait for the unread rest of a request body before closing instead."""

READ_TIMEOUT_S = 10.0
"""Longest wait for more bytes of a request (or for a client to accept the response)."""


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
        """Flush headers of an empty body, then finish as gunicorn does."""
        self._flush_headers()
        super().close()


class _Conn:
    __slots__ = ("addr", "deadline", "listener", "parser", "sock")

    def __init__(self, sock: socket.socket, addr: Any, listener: socket.socket, cfg: Any) -> None:
        self.sock = sock
        self.addr = addr
        self.listener = listener
        self.parser = http.get_parser(cfg, sock, addr)
        self.deadline = 0.0


class KeepAliveWorker(SyncWorker):  # type: ignore[misc]
    """Sync worker semantics plus HTTP/1.1 keep-alive (``--keep-alive`` seconds idle)."""

    def run(self) -> None:
        """The worker's main loop: accept, serve ready connections, expire idle ones."""
        if self.cfg.is_ssl:
            raise RuntimeError(
                "KeepAliveWorker does not terminate TLS: put a TLS proxy in front of the "
                "server or use threaded workers"
            )
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
                for key, _ in self._poller.select(1.0):
                    self._dispatch(key)
                    if not self.alive:
                        break
                self._expire_idle()
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
            self._serve(key.data)

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
            client.settimeout(READ_TIMEOUT_S)  # a stalled partial request cannot block forever
            util.close_on_exec(client)
            conn = _Conn(client, addr, listener, self.cfg)
            conn.deadline = time.monotonic() + max(self.cfg.keepalive, 1)
            self._conns[client.fileno()] = conn
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

    def _expire_idle(self) -> None:
        now = time.monotonic()
        if now < self._next_expiry:
            return
        self._next_expiry = now + 0.25
        for conn in [c for c in self._conns.values() if c.deadline and c.deadline < now]:
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        self._conns.pop(conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._poller.unregister(conn.sock)
        util.close(conn.sock)

    def _serve(self, conn: _Conn) -> None:
        """Serve requests on a readable connection; keep it open if both sides agree."""
        keep = False
        try:
            while True:
                req = next(conn.parser)
                keep = self._handle(conn, req)
                # a pipelined request may already sit in the parser's buffer
                if not keep or not conn.parser.unreader.buf.getvalue():
                    break
        except (http.errors.NoMoreData, TimeoutError):
            keep = False
        except StopIteration:
            keep = False
        except OSError as exc:
            keep = False
            if exc.errno not in _IGNORED_SOCKET_ERRORS:
                self.log.exception("Socket error processing request.")
        except BaseException as exc:
            keep = False
            self.handle_error(None, conn.sock, conn.addr, exc)
        if keep:
            conn.deadline = time.monotonic() + self.cfg.keepalive
        else:
            self._close(conn)

    def _handle(self, conn: _Conn, req: Any) -> bool:
        """One request and its response; whether the connection stays open."""
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
            if resp.should_close():
                return False
            # Unread request body bytes would make the socket look readable and block the
            # next read: drain them now, briefly and only a little, or close.
            return bool(conn.parser.finish_body(deadline=time.monotonic() + DRAIN_TIMEOUT_S))
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

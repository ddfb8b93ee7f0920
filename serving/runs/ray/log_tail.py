"""A Ray job's output as it is printed: the head's log tail websocket
(``/api/jobs/{id}/logs/tail``), read on a thread.

Ray's REST call for a job's logs answers the whole output each time; its tail websocket
sends the output from the start and then each new piece as the job prints it (Ray reads
the job's log file about once a second for it). The executor copies small outputs with
the whole-log call (a line reaches the run's log sooner) and opens the tail once a running
job's output passes ``TAIL_FROM_BYTES``; it goes back to whole copies where no tail opens
(a head that refuses websockets, a tail cut by a lost connection), and makes one when the
job has ended (Ray keeps the tail open a while after that) for what the tail had not sent.
Both count the job's bytes from its first, so nothing is copied twice.

``websocket-client`` (a small, pure-Python, well-kept client) is used rather than Ray's own
SDK (aiohttp, async): the platform does not import Ray, and a blocking reader on a daemon
thread fits the supervisor's plain poll loop.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import certifi
import websocket

CONNECT_TIMEOUT_S = 5.0


def tail_url(address: str, submission_id: str) -> str:
    """The tail websocket of job ``submission_id`` on the head at ``address``
    (``http(s)://HEAD:8265``)."""
    parts = urllib.parse.urlsplit(address.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path}/api/jobs/{urllib.parse.quote(submission_id, safe='')}/logs/tail"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, "", ""))


def _direct(url: str) -> socket.socket:
    """A connection to the head itself: as the Jobs API calls, never through a proxy from
    the environment (websocket-client would take ``http_proxy``; the head is on a private
    network)."""
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    sock = socket.create_connection((host, port), CONNECT_TIMEOUT_S)
    try:
        for option in websocket.DEFAULT_SOCKET_OPTION:  # keepalive: a dead peer is noticed
            sock.setsockopt(*option)
        if not secure:
            return sock
        trusted = ssl.create_default_context(cafile=certifi.where())  # as the API's
        return trusted.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


class LogTail:
    """One job's tail, passed piece by piece to ``sink`` from a daemon thread until the
    head closes it, the connection fails, or :meth:`close`. ``sink`` is
    called with ``lock`` held, and never after :meth:`close` returned."""

    def __init__(self, url: str, sink: Callable[[str], None], lock: threading.Lock) -> None:
        self.url = url
        self._sink = sink
        self._lock = lock
        self._closed = False
        self._ws: Any = None  # a websocket.WebSocket (its close calls are untyped)
        self._thread = threading.Thread(target=self._read, name="ray-log-tail", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout_s: float) -> bool:
        """Wait for the reader to end (the head closed the tail); whether it did."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Stop reading; nothing reaches ``sink`` after this returns."""
        with self._lock:
            self._closed = True
            ws = self._ws
        if ws is not None:
            with contextlib.suppress(OSError, AttributeError):  # the reader closed it first
                ws.abort()  # wakes the reader out of recv()

    def _read(self) -> None:
        try:
            ws: Any = websocket.create_connection(
                self.url,
                timeout=CONNECT_TIMEOUT_S,
                enable_multithread=True,
                socket=_direct(self.url),
                redirect_limit=0,  # a redirect would be followed through the environment's proxy
                skip_utf8_validation=True,  # pure Python and slow; the text is decoded leniently
            )
        except (OSError, websocket.WebSocketException):
            return  # the caller copies the whole log instead
        with self._lock:
            if self._closed:
                ws.shutdown()
                return
            self._ws = ws
        try:
            ws.settimeout(None)  # a quiet job prints nothing for as long as it likes
            while True:
                opcode, data = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:  # the head closed it
                    return
                text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
                with self._lock:
                    if self._closed:
                        return
                    self._sink(text)
        except (OSError, websocket.WebSocketException):
            return
        finally:
            ws.shutdown()  # the socket, at once (the head's close was answered by recv)

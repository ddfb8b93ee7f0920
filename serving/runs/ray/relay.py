"""A TCP relay from the Ray cluster's Docker network to the workspace server on loopback.

The server binds 127.0.0.1 by default, which containers on a bridge network cannot
reach. While a run executes on a cluster started by ``serving compute up``, its supervisor
listens on the host's address on that cluster's private network (the bridge's gateway) on
a port the kernel picks, and copies bytes both ways to the server; the run's
``SERVING_RUN_SERVER`` names this address. Only the cluster's nodes are on that network,
the port lives as long as the run, and the API still asks for the run's token.

Why by hand: a relay is some 50 lines over :mod:`socket` and threads; a proxy program
(socat, a reverse proxy) would be one more thing to install on every machine that runs
supervisors.
"""

from __future__ import annotations

import contextlib
import socket
import threading

CHUNK = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 300.0
"""A connection quiet this long is closed (reporting calls are short)."""


class Relay:
    """Listens on ``host`` (port picked by the kernel) and forwards to ``target``."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server((host, 0))
        self.listener.settimeout(0.5)
        self.address = self.listener.getsockname()[:2]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT_S)
        except OSError:
            client.close()
            return
        with client, upstream:
            for sock in (client, upstream):
                sock.settimeout(IDLE_TIMEOUT_S)
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join(IDLE_TIMEOUT_S)

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self._thread.join(2.0)


def _pump(source: socket.socket, dest: socket.socket) -> None:
    """Copy until ``source`` ends, then end ``dest``'s sending side."""
    try:
        while data := source.recv(CHUNK):
            dest.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dest.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)

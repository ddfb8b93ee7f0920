"""How ``serving server start`` runs the app: the gunicorn command line as data, and a
foreground runner that passes SIGTERM on.

gthread workers: a slow upload or download holds one thread, not a whole worker, and the
worker's heartbeat comes from its main thread, so a long transfer is not killed by
``--timeout``. Workers load the app after the fork (no ``--preload``): each opens its own
SQLite connections.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from serving import proc
from serving.deploy.toolkit import port_in_use
from serving.errors import ConflictError, UserInputError
from serving.server.gunicorn import bind_address

APP = "serving.hub.wsgi:app_from_env()"
DEFAULT_PORT = 8600


@dataclass(frozen=True)
class HubServerOptions:
    """Where and how wide the server runs."""

    workspace: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 2
    threads: int = 4
    timeout_s: int = 120
    graceful_timeout_s: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise UserInputError(f"port must be 1-65535, not {self.port}")
        if not 0 < self.workers <= 64:
            raise UserInputError(f"workers must be 1-64, not {self.workers}")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def hub_argv(options: HubServerOptions, *, python: str | None = None) -> list[str]:
    return [
        python or sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind_address(options.host, options.port),
        "--workers",
        str(options.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(options.threads),
        "--timeout",
        str(options.timeout_s),
        "--graceful-timeout",
        str(options.graceful_timeout_s),
        "--no-control-socket",
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
        APP,
    ]


def hub_env(options: HubServerOptions) -> dict[str, str]:
    return {**os.environ, "SERVING_WORKSPACE": str(options.workspace)}


def check_port_free(options: HubServerOptions) -> None:
    """A port already taken is one error line, not gunicorn's five retries (IPv4 hosts;
    gunicorn itself reports the others)."""
    if ":" not in options.host and port_in_use(options.port, options.host):
        raise ConflictError(
            f"port {options.port} on {options.host} is already in use",
            hint="choose another --port",
        )


def run_foreground(options: HubServerOptions) -> int:
    """Run the server until Ctrl-C or SIGTERM; returns gunicorn's exit code (the caller
    checks the port first, with :func:`check_port_free`, before it prints the URL)."""
    return proc.run_foreground(hub_argv(options), hub_env(options))

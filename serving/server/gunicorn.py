"""The gunicorn command line of a scoring server, as data (run it with subprocess/exec).

Pure functions: they read nothing but their arguments, so deploy targets and images can
compute and test the exact command. Workers load the app through the factory call
``serving.server.wsgi:create_app()`` after the fork; ``--preload`` is never used.
"""

from __future__ import annotations

import sys

from serving.config import ServerSettings
from serving.scoring.batching import server_threads

APP = "serving.server.wsgi:create_app()"
HOOKS = "python:serving.server.gunicorn_hooks"
KEEPALIVE_WORKER = "serving.server.worker.KeepAliveWorker"


def bind_address(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def gunicorn_argv(settings: ServerSettings, *, python: str | None = None) -> list[str]:
    """``python -m gunicorn ...`` for these settings.

    One worker per ``settings.workers``; more than one thread (``threads``) selects gthread
    workers (with keep-alive), else :data:`KEEPALIVE_WORKER`, also with dynamic batching
    on: it parks batched requests and serves other connections while their batch fills
    (:mod:`serving.server.deferred`). ``python`` defaults to the current
    interpreter; images pass their own.

    Slow clients: :data:`KEEPALIVE_WORKER` reads requests without blocking and enforces
    ``settings.client_timeout_s`` (SERVING_CLIENT_TIMEOUT) from a request's first byte to
    its last. gthread workers have gunicorn's own limits only: a new connection's first
    bytes are awaited at most 5 s in a thread before it goes back to the poller, idle
    connections close after ``--keep-alive``, an unread body is drained at most 5 s / 64 KiB,
    and the header limits apply; a client that trickles a request holds one thread (not the
    worker) until it finishes. Put a balancer with its own timeouts in front of those.

    TLS (``settings.tls``): ``--certfile``/``--keyfile``; the workers terminate it
    (:data:`KEEPALIVE_WORKER` drives each handshake in its event loop, gthread workers in
    their threads). Plain HTTP sent to a TLS port fails the handshake and the connection is
    closed (docs/tls.md).
    """
    argv = [
        python or sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind_address(settings.host, settings.port),
        "--workers",
        str(settings.workers),
        "--timeout",
        str(settings.worker_timeout_s),
        "--graceful-timeout",
        str(settings.graceful_timeout_s),
        "--config",
        HOOKS,
        "--chdir",
        str(settings.app_root),
        "--no-control-socket",
        "--error-logfile",
        "-",
        "--log-level",
        settings.log_level.lower(),
    ]
    threads = server_threads(settings)
    if settings.tls:
        argv += ["--certfile", str(settings.ssl_cert_file), "--keyfile", str(settings.ssl_key_file)]
    if threads > 1:
        argv += [
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            str(settings.keepalive_s),
        ]
    else:
        argv += [
            "--worker-class",
            KEEPALIVE_WORKER,
            "--keep-alive",
            str(settings.keepalive_s),
        ]
    argv.append(APP)
    return argv


def gunicorn_env(settings: ServerSettings) -> dict[str, str]:
    """Environment variables to add to the server's environment (not a full environment).

    The settings themselves (workers read them with ``ServerSettings.from_env``) plus
    unbuffered output. ``PROMETHEUS_MULTIPROC_DIR`` is included when set; otherwise the
    master creates a temporary one at start (see ``gunicorn_hooks``).
    """
    env = settings.to_env()
    env["PYTHONUNBUFFERED"] = "1"
    return env

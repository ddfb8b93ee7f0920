"""Real gunicorn processes for the server tests (the in-process fixtures come from
tests/inprocess.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import requests

from serving.config import ServerSettings
from serving.scoring import ModelFiles, write_app_dir
from serving.server.gunicorn import gunicorn_argv, gunicorn_env
from tests.helpers import FIXTURES
from tests.inprocess import _isolate_loaded_scripts, client_for, scripts_dir, settings_for

__all__ = ["_isolate_loaded_scripts", "client_for", "scripts_dir", "settings_for"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A gunicorn scoring server started from ``gunicorn_argv``."""

    settings: ServerSettings
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    _log_file: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def start(self) -> ServerProcess:
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            gunicorn_argv(self.settings),
            env={**os.environ, **self.env, **gunicorn_env(self.settings)},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or init() still running (requests wait for it)
            time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout} s:\n{self.log()}")

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        finally:
            self._log_file.close()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; kills after ``timeout`` so no process outlives the tests."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.wait_exit(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_server(
    base: Path,
    script: str | Path,
    *,
    models: Sequence[ModelFiles] = (),
    extra_env: dict[str, str] | None = None,
    wait: bool = True,
    **overrides: Any,
) -> ServerProcess:
    """Lay out an app folder under ``base`` for a fixture script (a name in
    tests/fixtures/scripts, or a path) and start gunicorn on it."""
    layout = write_app_dir(base / "app", FIXTURES / script, None, models)
    env = {**layout.env, **(extra_env or {})}
    settings = replace(
        ServerSettings.from_env(env),
        host="127.0.0.1",
        port=free_port(),
        workers=1,
        access_log=True,
        replica_id="replica-1",
        metrics_dir=base / "metrics",
    )
    server = ServerProcess(replace(settings, **overrides), base / "server.log", env).start()
    return server.wait_ready() if wait else server


@pytest.fixture(scope="module")
def server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers for a test module; all are stopped when the module is done."""
    started: list[ServerProcess] = []

    def make(script: str, **kwargs: Any) -> ServerProcess:
        base = tmp_path_factory.mktemp(script.replace(".py", ""))
        kwargs.setdefault("wait", True)
        wait = kwargs.pop("wait")
        server = start_server(base, script, wait=False, **kwargs)
        started.append(server)
        return server.wait_ready() if wait else server

    yield make
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.stop()

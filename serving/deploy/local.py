"""The local target: a gunicorn process on this machine, in a virtual environment built
from the endpoint's environment (reused across endpoints with the same content hash).

Nothing but Python is needed, which makes it the embedded default. The endpoint's folder
in the workspace holds its app folder (laid out exactly as in an image), the models, the
keys file the server re-reads, and ``server.log``.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import requests

from serving.config import PlatformSettings, ServerSettings
from serving.deploy import process
from serving.deploy.base import Deployed, DeployRequest, Observed, Progress
from serving.environments import ensure_venv
from serving.errors import DeploymentError
from serving.registry import EndpointRecord, Ref
from serving.scoring.layout import ModelFiles, write_app_dir
from serving.server.gunicorn import gunicorn_argv, gunicorn_env
from serving.workspace import Workspace

READY_TIMEOUT_S = 300.0
LOG_NAME = "server.log"
_DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PROMETHEUS_MULTIPROC_DIR")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def keys_file(ws: Workspace, name: str) -> Path:
    return ws.endpoint_dir(name) / "keys"


def write_keys(path: Path, keys: list[str] | tuple[str, ...]) -> None:
    """Atomically replace the keys file the server re-reads (one key per line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}\n" for k in keys))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class LocalTarget:
    """Endpoints as background gunicorn processes on 127.0.0.1."""

    name = "local"

    def __init__(self, settings: PlatformSettings | None = None) -> None:
        self.settings = settings or PlatformSettings.from_env()

    def deploy(self, ws: Workspace, request: DeployRequest, progress: Progress) -> Deployed:
        progress(f"environment {request.env.short_hash}: preparing (python {request.env.python})")
        venv = ensure_venv(
            request.env,
            self.settings.envs_dir or ws.envs_dir,
            python=self.settings.python,
            progress=progress,
            index_url=self.settings.pip_index_url,
        )
        base = ws.endpoint_dir(request.name)
        if base.exists():
            shutil.rmtree(base)
        progress("laying out the app folder and models")
        models = [
            ModelFiles(
                m.name,
                m.version,
                ws.models.download(Ref(m.name, m.version), base / "models" / m.ref),
            )
            for m in request.models
        ]
        layout = write_app_dir(base / "app", request.entry_script, request.source_dir, models)
        port = request.port or free_port()
        if port_in_use(port):
            raise DeploymentError(
                f"port {port} on 127.0.0.1 is already in use",
                hint="choose another --port, or leave it out",
            )
        write_keys(keys_file(ws, request.name), request.keys)
        defaults = ServerSettings()
        settings = ServerSettings(
            app_root=Path(layout.app_root),
            entry_script=layout.entry_script,
            source_directory=layout.source_dir_name,
            model_dir=Path(layout.model_dir),
            host="127.0.0.1",
            port=port,
            service_name=request.name,
            workers=request.workers or defaults.workers,
            threads=request.threads or defaults.threads,
            keys_file=keys_file(ws, request.name),
            replica_id=f"{request.name}-local",
            metrics_dir=base / "metrics",
        )
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(dict(request.env.variables))
        env.update(gunicorn_env(settings))
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        argv = gunicorn_argv(settings, python=str(venv / "bin" / "python"))
        progress(f"starting the server on 127.0.0.1:{port}")
        ref, proc = process.start_detached(
            argv, env=env, cwd=Path(layout.app_root), log_file=base / LOG_NAME
        )
        try:
            self._wait_ready(port, proc, base / LOG_NAME, progress)
        finally:
            process.reap_in_background(proc)
        runtime: dict[str, Any] = {
            "port": port,
            "process": ref.to_dict(),
            "venv": str(venv),
            "app_root": str(layout.app_root),
            "log": str(base / LOG_NAME),
        }
        return Deployed(
            f"http://127.0.0.1:{port}/score", f"http://127.0.0.1:{port}/swagger.json", runtime
        )

    def _wait_ready(self, port: int, proc: Any, log: Path, progress: Progress) -> None:
        url = f"http://127.0.0.1:{port}/health/ready"
        started = time.monotonic()
        last_report = 0.0
        while True:
            code = proc.poll()
            if code is not None:
                raise DeploymentError(
                    f"the server exited with code {code} before it was ready: "
                    "init() or the import of the entry script failed",
                    hint="the log tail is above; see 'serving endpoints logs'",
                    details=process.failure_excerpt(log),
                )
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            waited = time.monotonic() - started
            if waited > READY_TIMEOUT_S:
                process.stop(process.ProcessRef(proc.pid, None), grace_s=5)
                raise DeploymentError(
                    f"the server was not ready after {READY_TIMEOUT_S:.0f} s",
                    details=process.tail(log, 25),
                )
            if waited - last_report >= 1.0:
                progress(f"waiting for init() to finish ({waited:.0f} s)")
                last_report = waited
            time.sleep(0.1)

    def observe(self, ws: Workspace, record: EndpointRecord) -> Observed:
        ref = process.ProcessRef.from_dict(record.runtime.get("process", {}))
        if ref is None or not process.is_running(ref):
            return Observed(
                "Unhealthy", "the server process is not running; see 'serving endpoints logs'"
            )
        try:
            ok = (
                requests.get(
                    f"http://127.0.0.1:{record.runtime['port']}/health/ready", timeout=2
                ).status_code
                == 200
            )
        except requests.RequestException:
            ok = False
        return Observed("Healthy") if ok else Observed("Unhealthy", "not ready")

    def logs(self, ws: Workspace, record: EndpointRecord, tail: int) -> str:
        return process.tail(ws.endpoint_dir(record.name) / LOG_NAME, tail)

    def set_keys(self, ws: Workspace, record: EndpointRecord, keys: list[str]) -> None:
        write_keys(keys_file(ws, record.name), keys)

    def remove(self, ws: Workspace, record: EndpointRecord) -> None:
        ref = process.ProcessRef.from_dict(record.runtime.get("process", {}))
        if ref is not None:
            process.stop(ref)
        base = ws.endpoint_dir(record.name)
        if base.exists():
            shutil.rmtree(base, ignore_errors=True)

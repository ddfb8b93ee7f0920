"""The local target: a gunicorn process on this machine, in a virtual environment built
from the endpoint's environment (reused across endpoints with the same content hash).

Nothing but Python is needed, which makes it the embedded default. The endpoint's folder
in the workspace (0700) holds the keys file the server re-reads (0600) and one version
folder (see :mod:`serving.deploy.folders`) with the app folder, laid out exactly as in an
image, the models and ``server.log`` (rotated, see :mod:`serving.deploy.logpipe`).

An update lays the new version out in a new version folder and first runs it on a spare
port until it is ready: when its init() fails, the running version was never touched.
Then the running version stops and the new one starts on the endpoint's port (the scoring
URI stays); should that start fail or be interrupted, the previous version is started again
(and recorded at once). Its folder stays until the new version is recorded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from serving.config import PlatformSettings, ServerSettings
from serving.deploy import process, tls
from serving.deploy.base import Change, Deployed, DeployRequest, Observed, Progress, Started, ignore
from serving.deploy.folders import endpoint_folder, new_version_folder
from serving.deploy.toolkit import (
    LOOPBACK,
    READY_TIMEOUT_S,
    check_port,
    free_port,
    is_ready,
    port_in_use,
    wait_until,
    waiting_for_init,
    write_keys,
)
from serving.environments import ensure_venv
from serving.errors import DeploymentError
from serving.images.model import serve_nocode
from serving.registry import EndpointRecord, Ref
from serving.scoring.layout import AppLayout, ModelFiles, write_app_dir
from serving.server.gunicorn import gunicorn_argv, gunicorn_env
from serving.workspace import Workspace

LOG_NAME = "server.log"
INTERRUPT_GRACE_S = 5.0
PORT_RELEASE_S = 10.0
_DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PROMETHEUS_MULTIPROC_DIR")


@dataclass(frozen=True)
class Version:
    """One laid-out version of an endpoint: its folder (app, models, log), the venv it
    runs in and what its server's environment adds (recorded to start it again)."""

    folder: Path
    venv: Path
    server_env: dict[str, str]


def keys_file(ws: Workspace, name: str) -> Path:
    return ws.endpoint_dir(name) / "keys"


class LocalTarget:
    """Endpoints as background gunicorn processes on 127.0.0.1."""

    name = "local"

    def __init__(self, settings: PlatformSettings | None = None) -> None:
        self.settings = settings or PlatformSettings.from_env()

    # -- one version: lay out, launch, wait -----------------------------------------------
    def _prepare(
        self, ws: Workspace, request: DeployRequest, folder: Path, progress: Progress
    ) -> tuple[Path, AppLayout]:
        """The environment's venv and the app folder of ``request`` in ``folder``."""
        progress(f"environment {request.env.short_hash}: preparing (python {request.env.python})")
        venv = ensure_venv(
            request.env,
            self.settings.envs_dir or ws.envs_dir,
            python=self.settings.python,
            progress=progress,
            index_url=self.settings.pip_index_url,
        )
        progress("laying out the app folder and models")
        models = [
            ModelFiles(
                m.name,
                m.version,
                ws.models.download(Ref(m.name, m.version), folder / "models" / m.ref),
            )
            for m in request.models
        ]
        return venv, write_app_dir(folder / "app", request.entry_script, request.source_dir, models)

    def _server_env(
        self,
        ws: Workspace,
        request: DeployRequest,
        layout: AppLayout,
        folder: Path,
        port: int,
        installed: tls.TlsFiles | None,
    ) -> dict[str, str]:
        """What the server's environment adds to this one (recorded to start it again)."""
        defaults = ServerSettings()
        settings = ServerSettings(
            app_root=Path(layout.app_root),
            entry_script=layout.entry_script,
            source_directory=layout.source_dir_name,
            model_dir=Path(layout.model_dir),
            host=LOOPBACK,
            port=port,
            service_name=request.name,
            workers=request.workers or defaults.workers,
            threads=request.threads or defaults.threads,
            keys_file=keys_file(ws, request.name),
            auth="key" if request.keys else "none",
            replica_id=f"{request.name}-local",
            metrics_dir=folder / "metrics",
            max_batch_size=request.deployment.batching[0],
            max_batch_delay_ms=request.deployment.batching[1],
            model_data_dir=_model_data(request),
        )
        if installed is not None:
            settings = replace(settings, ssl_cert_file=installed.cert, ssl_key_file=installed.key)
        if request.nocode:
            model = request.models[0]
            settings = serve_nocode(settings, request.nocode, model.name, str(model.version))
        return {**dict(request.env.variables), **gunicorn_env(settings)}

    def _launch(
        self, version: Version, started: Started
    ) -> tuple[dict[str, Any], subprocess.Popen[bytes]]:
        """Start the server and record it (Ctrl-C held back until it is recorded)."""
        server_env, venv, folder = version.server_env, version.venv, version.folder
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(server_env)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        settings = ServerSettings.from_env(server_env)
        argv = gunicorn_argv(settings, python=str(venv / "bin" / "python"))
        with process.no_interrupt():
            ref, proc = process.start_detached(
                argv,
                env=env,
                cwd=settings.app_root,
                log_file=folder / LOG_NAME,
                settings=self.settings,
            )
            runtime: dict[str, Any] = {
                "port": settings.port,
                "process": ref.to_dict(),
                "venv": str(venv),
                "app_root": str(settings.app_root),
                "folder": str(folder),
                "log": str(folder / LOG_NAME),
                "server_env": server_env,
            }
            started(runtime)
        return runtime, proc

    def _serve(self, version: Version, progress: Progress, started: Started) -> dict[str, Any]:
        """Launch and wait until ready; a server that fails (or is interrupted) is stopped."""
        port = check_port(int(version.server_env["SERVING_PORT"]))
        progress(f"starting the server on {LOOPBACK}:{port}")
        runtime, proc = self._launch(version, started)
        ref = process.ProcessRef.from_dict(runtime["process"])
        assert ref is not None
        secure = "SERVING_SSL_CERT_FILE" in version.server_env
        try:
            self._wait_ready(port, proc, version.folder / LOG_NAME, progress, secure)
        except BaseException:  # init() failed, or Ctrl-C: nothing keeps running
            process.stop(ref, grace_s=INTERRUPT_GRACE_S)
            raise
        finally:
            process.reap_in_background(proc)
        return runtime

    @staticmethod
    def _wait_ready(
        port: int, proc: subprocess.Popen[bytes], log: Path, progress: Progress, secure: bool
    ) -> None:
        def ready() -> bool:
            code = proc.poll()
            if code is not None:
                raise DeploymentError(
                    f"the server exited with code {code} before it was ready: "
                    "init() or the import of the entry script failed",
                    hint="the log tail is above; see 'serving endpoints logs'",
                    details=process.failure_excerpt(log),
                )
            return is_ready(port, timeout_s=1, tls=secure)

        def timed_out(_waited: float) -> DeploymentError:
            return DeploymentError(
                f"the server was not ready after {READY_TIMEOUT_S:.0f} s",
                details=process.tail(log, 25),
            )

        wait_until(ready, progress=progress, waiting=waiting_for_init, timed_out=timed_out)

    # -- the target ------------------------------------------------------------------------
    def deploy(
        self, ws: Workspace, request: DeployRequest, progress: Progress, started: Started = ignore
    ) -> Deployed:
        base = endpoint_folder(ws, request.name)
        folder = new_version_folder(base)
        venv, layout = self._prepare(ws, request, folder, progress)
        port = request.port or free_port()
        write_keys(keys_file(ws, request.name), request.keys)
        installed = tls.install(request.deployment.tls, base)
        server_env = self._server_env(ws, request, layout, folder, port, installed)
        runtime = self._serve(Version(folder, venv, server_env), progress, started)
        return Deployed(*tls.endpoint_uris(port, request.deployment.tls), runtime)

    def replace(self, ws: Workspace, change: Change, progress: Progress) -> Deployed:
        """Run the new version on a spare port until ready, then in place of the old one."""
        record, request, started = change.record, change.request, change.started
        port = int(record.runtime.get("port") or request.port or free_port())
        folder = new_version_folder(endpoint_folder(ws, request.name))
        try:
            installed = tls.install(request.deployment.tls, endpoint_folder(ws, request.name))
            venv, layout = self._prepare(ws, request, folder, progress)
            progress("trying the new version on a spare port first")
            trial_env = self._server_env(ws, request, layout, folder, free_port(), installed)
            trial = self._serve(Version(folder, venv, trial_env), progress, started)
            _stop_one(trial)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        try:
            progress(f"stopping the running version of {request.name}")
            with process.no_interrupt():
                self._stop(record.runtime)
            server_env = self._server_env(ws, request, layout, folder, port, installed)
            runtime = self._serve(Version(folder, venv, server_env), progress, started)
        except BaseException as exc:  # init() failed, or Ctrl-C: the previous version serves
            with process.no_interrupt():
                self._restore(record.runtime, progress, started)
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(exc, DeploymentError):
                raise DeploymentError(
                    f"{exc.message}; the previous version was started again",
                    details=exc.details,
                ) from exc
            raise
        return Deployed(*tls.endpoint_uris(port, request.deployment.tls), runtime)

    def restore(self, ws: Workspace, record: EndpointRecord, started: Started) -> None:
        """Start the recorded version again if its server no longer runs (after a killed
        update stopped it); ``started`` records the new process."""
        self._restore(record.runtime, lambda _line: None, started)

    def _restore(self, runtime: dict[str, Any], progress: Progress, started: Started) -> None:
        """Start a recorded version again unless it runs (its folder and venv are kept
        until a new version is recorded)."""
        ref = process.ProcessRef.from_dict(runtime.get("process") or {})
        if ref is not None and process.is_running(ref):
            return
        server_env, folder = runtime.get("server_env"), runtime.get("folder")
        if not isinstance(server_env, dict) or not folder or not Path(folder).is_dir():
            return
        progress("starting the previous version again")
        _released(int(server_env["SERVING_PORT"]))
        self._serve(Version(Path(folder), Path(runtime["venv"]), server_env), progress, started)

    @staticmethod
    def _stop(runtime: dict[str, Any]) -> None:
        _stop_one(runtime)
        _stop_one(runtime.get("candidate") or {})

    def discard_candidate(self, ws: Workspace, record: EndpointRecord) -> None:
        """Stop what a killed update left starting (recorded as ``candidate``); the
        recorded version is started again by :meth:`restore`."""
        _stop_one(record.runtime.get("candidate") or {}, grace_s=INTERRUPT_GRACE_S)

    def observe(self, ws: Workspace, record: EndpointRecord) -> Observed:
        ref = process.ProcessRef.from_dict(record.runtime.get("process", {}))
        if ref is None or not process.is_running(ref):
            return Observed(
                "Unhealthy", "the server process is not running; see 'serving endpoints logs'"
            )
        secure = "SERVING_SSL_CERT_FILE" in (record.runtime.get("server_env") or {})
        if is_ready(int(record.runtime["port"]), tls=secure):
            return Observed("Healthy")
        return Observed("Unhealthy", "not ready")

    def logs(self, ws: Workspace, record: EndpointRecord, tail: int) -> str:
        log = record.runtime.get("log")
        return process.tail(Path(log), tail) if log else ""

    def set_keys(self, ws: Workspace, record: EndpointRecord, keys: list[str]) -> None:
        write_keys(keys_file(ws, record.name), keys)

    def remove(self, ws: Workspace, record: EndpointRecord) -> None:
        self._stop(record.runtime)
        base = ws.endpoint_dir(record.name)
        if base.exists():
            shutil.rmtree(base, ignore_errors=True)


def _model_data(request: DeployRequest) -> Path | None:
    """The datastore folder the server collects model data into (None: off); the server
    process writes there itself, as this user. The spec keeps ``model_data_dir`` only
    with ``collect_model_data``."""
    folder = request.deployment.model_data_dir
    return Path(folder) if folder else None


def _released(port: int, timeout_s: float = PORT_RELEASE_S) -> None:
    """Wait (a little) until the processes of a server just stopped let go of ``port``."""
    deadline = time.monotonic() + timeout_s
    while port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.1)


def _stop_one(runtime: dict[str, Any], grace_s: float = 30.0) -> None:
    """Stop the server process a runtime record names (if any)."""
    ref = process.ProcessRef.from_dict(runtime.get("process") or {})
    if ref is not None and ref.pid > 1:
        process.stop(ref, grace_s=grace_s)

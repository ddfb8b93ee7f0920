"""The docker target: one container per endpoint, from a model image built (or reused)
for it, like Azure Container Instances on this machine.

The container is named ``serving-<endpoint>``, labelled with the endpoint and workspace
(only containers with both labels are ever removed), restarts ``unless-stopped``, carries a
Docker health check on the readiness route and publishes port 5001 on 127.0.0.1. Keys are
in a file of the workspace, mounted read-only and re-read by the server when it is
replaced, so a new key works at once, no restart; ``SERVING_AUTH`` says whether one is
required (a missing or empty keys file then refuses every request).

An update starts the new image as a second container on a spare port first: when its
init() fails, the running container was never touched. Then the running one stops (kept,
renamed, until the new one is ready on the endpoint's port, and started again if it is not).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from serving import httpclient
from serving.config import ServerSettings
from serving.deploy import process
from serving.deploy.base import Deployed, DeployRequest, Observed, Progress, Started, ignore
from serving.deploy.folders import endpoint_folder
from serving.deploy.keys import container_groups, write_mounted_keys
from serving.deploy.local import free_port, port_in_use
from serving.errors import ConflictError, DeploymentError, UserInputError
from serving.images.build import BuiltImage, ImageBuilder
from serving.images.dockerfile import ENV_PYTHON
from serving.images.engine import EngineUser, releasing
from serving.images.model import CONTAINER_PORT, BuildRequest
from serving.registry import EndpointRecord
from serving.server.gunicorn import gunicorn_argv
from serving.workspace import Workspace

if TYPE_CHECKING:
    from docker.models.containers import Container

READY_TIMEOUT_S = 300.0
KEYS_MOUNT = "/run/serving/keys"
KEYS_FILE = "keys"
STOP_TIMEOUT_S = 10
INIT_FAILED_EXIT = 3
ENDPOINT_LABEL = "serving.endpoint"
WORKSPACE_LABEL = "serving.workspace"
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_memory(text: str | int | float) -> int:
    """``1g``, ``512m``, ``1.5GiB`` or a byte count -> bytes (at least 6 MiB, Docker's floor)."""
    match = _MEMORY.match(str(text))
    if match is None:
        raise UserInputError(f"invalid --memory {text!r}: use a size such as 512m or 1g")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 6 * 2**20:
        raise UserInputError(f"--memory {text!r} is too small: Docker needs at least 6m")
    return size


def parse_cpu(value: str | int | float) -> float:
    try:
        cpu = float(value)
    except (TypeError, ValueError):
        raise UserInputError(
            f"invalid --cpu {value!r}: use a number of cores such as 1.5"
        ) from None
    if not 0.01 <= cpu <= 1024:
        raise UserInputError(f"--cpu {value!r} is out of range (0.01 to 1024 cores)")
    return cpu


@dataclass(frozen=True)
class RunSpec:
    """How the endpoint's container runs: pure data, recorded in the endpoint's runtime."""

    name: str
    image: str
    port: int
    workers: int
    threads: int
    nano_cpus: int | None
    mem_limit: int | None

    @classmethod
    def from_request(cls, request: DeployRequest, image: str, port: int) -> RunSpec:
        cpu = request.options.get("cpu")
        memory = request.options.get("memory")
        cores = parse_cpu(cpu) if cpu is not None else None
        return cls(
            name=container_name(request.name),
            image=image,
            port=port,
            workers=request.workers or (max(1, math.ceil(cores)) if cores else 1),
            threads=request.threads or 1,
            nano_cpus=int(cores * 1e9) if cores else None,
            mem_limit=parse_memory(memory) if memory is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        def optional(key: str) -> int | None:
            value = data.get(key)
            return int(value) if value is not None else None

        return cls(
            name=str(data["name"]),
            image=str(data["image"]),
            port=int(data["port"]),
            workers=int(data.get("workers") or 1),
            threads=int(data.get("threads") or 1),
            nano_cpus=optional("nano_cpus"),
            mem_limit=optional("mem_limit"),
        )


def container_name(endpoint: str) -> str:
    return f"serving-{endpoint}"


LOG_CONFIG = {"type": "json-file", "config": {"max-size": "20m", "max-file": "3"}}
"""Container logs are capped (3 x 20 MB): the access log writes a line per request."""


def run_kwargs(
    spec: RunSpec,
    endpoint: str,
    keys: tuple[str, ...] | list[str],
    workspace: str,
    *,
    keys_folder: Path | None = None,
    auth: bool | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``containers.run`` for the endpoint (pure; unit-tested).

    With ``keys_folder``, the keys come from the file ``keys`` in it, mounted read-only
    (the server re-reads it when it is replaced); else from ``keys`` in the environment.
    ``auth`` (default: whether ``keys`` were given) sets ``SERVING_AUTH``, explicitly.
    """
    auth = bool(keys) if auth is None else auth
    settings = ServerSettings(
        host="0.0.0.0",
        port=CONTAINER_PORT,
        workers=spec.workers,
        threads=spec.threads,
        service_name=endpoint,
    )
    kwargs: dict[str, Any] = {
        "name": spec.name,
        "command": gunicorn_argv(settings, python=ENV_PYTHON),
        "environment": {
            "SERVICE_NAME": endpoint,
            "SERVING_KEYS": ",".join(keys),
            "SERVING_AUTH": "key" if auth else "none",
            "SERVING_REPLICA_ID": spec.name,
            "SERVING_WORKERS": str(spec.workers),
            "SERVING_THREADS": str(spec.threads),
        },
        "ports": {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", spec.port)},
        "log_config": LOG_CONFIG,
        "restart_policy": {"Name": "unless-stopped"},
        "labels": {ENDPOINT_LABEL: endpoint, WORKSPACE_LABEL: workspace},
        "detach": True,
    }
    if keys_folder is not None:
        kwargs["environment"]["SERVING_KEYS"] = ""
        kwargs["environment"]["SERVING_KEYS_FILE"] = f"{KEYS_MOUNT}/{KEYS_FILE}"
        kwargs["volumes"] = {str(keys_folder): {"bind": KEYS_MOUNT, "mode": "ro"}}
        if container_groups():
            kwargs["group_add"] = container_groups()
    if spec.nano_cpus:
        kwargs["nano_cpus"] = spec.nano_cpus
    if spec.mem_limit:
        kwargs["mem_limit"] = spec.mem_limit
    return kwargs


def keys_folder(ws: Workspace, endpoint: str) -> Path:
    """The folder mounted into the container, holding the ``keys`` file."""
    return ws.endpoint_dir(endpoint) / "keys.d"


def write_keys(folder: Path, keys: tuple[str, ...] | list[str]) -> None:
    """Atomically replace ``folder/keys``, readable by the container's user only (see
    :func:`serving.deploy.keys.write_mounted_keys`); the endpoint folder around it is 0700."""
    private = folder.parent
    private.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(private, 0o700)
    write_mounted_keys(folder, keys)


def _uris(port: int) -> tuple[str, str]:
    return f"http://127.0.0.1:{port}/score", f"http://127.0.0.1:{port}/swagger.json"


def build_endpoint_image(
    user: EngineUser, ws: Workspace, request: DeployRequest, progress: Progress
) -> BuiltImage:
    """Build (or reuse) the model image of an endpoint, named ``serving/<endpoint>``."""
    return ImageBuilder(ws, user.settings, user.client).build(
        BuildRequest(
            request.models,
            request.entry_script,
            request.source_dir,
            request.env,
            name=f"serving/{request.name}",
            service_name=request.name,
        ),
        progress,
    )


def _runtime(spec: RunSpec, built: BuiltImage) -> dict[str, Any]:
    return {
        "container": spec.name,
        "image": built.record.tag,
        "image_ref": built.record.ref,
        "port": spec.port,
        "run": spec.to_dict(),
    }


def _check_port(port: int) -> int:
    if port_in_use(port):
        raise DeploymentError(
            f"port {port} on 127.0.0.1 is already in use",
            hint="choose another --port, or leave it out",
        )
    return port


class DockerTarget(EngineUser):
    """Endpoints as containers of model images on the local Docker Engine."""

    name = "docker"

    @releasing
    def deploy(
        self, ws: Workspace, request: DeployRequest, progress: Progress, started: Started = ignore
    ) -> Deployed:
        RunSpec.from_request(request, "", 0)  # check --cpu/--memory before building
        built = build_endpoint_image(self, ws, request, progress)
        spec = RunSpec.from_request(
            request, built.record.image_id, _check_port(request.port or free_port())
        )
        self._clear_name(ws, request.name, spec.name)
        endpoint_folder(ws, request.name)
        write_keys(keys_folder(ws, request.name), request.keys)
        progress(f"starting container {spec.name} from {built.record.tag}")
        runtime = _runtime(spec, built)
        self._start(ws, spec, request, runtime, started, progress)
        return Deployed(*_uris(spec.port), runtime)

    @releasing
    def replace(
        self,
        ws: Workspace,
        record: EndpointRecord,
        request: DeployRequest,
        progress: Progress,
        started: Started = ignore,
    ) -> Deployed:
        """The new image on a spare port until ready, then in the old container's place."""
        RunSpec.from_request(request, "", 0)
        built = build_endpoint_image(self, ws, request, progress)
        port = int(record.runtime.get("port") or request.port or free_port())
        final = RunSpec.from_request(request, built.record.image_id, port)
        trial = dataclasses.replace(final, name=f"{final.name}-next", port=free_port())
        self._clear_name(ws, request.name, trial.name)
        progress("trying the new version on a spare port first")
        self._start(ws, trial, request, _runtime(trial, built), started, progress)
        self._discard(ws, request.name, trial.name)
        parked = self._park(ws, record, final.name, progress)
        try:
            self._clear_name(ws, request.name, final.name)
            runtime = _runtime(final, built)
            self._start(ws, final, request, runtime, started, progress)
        except BaseException as exc:
            if parked is not None:
                progress("starting the previous version again")
                parked.rename(final.name)
                parked.start()
            if isinstance(exc, DeploymentError):
                raise DeploymentError(
                    f"{exc.message}; the previous version was started again", details=exc.details
                ) from exc
            raise
        if parked is not None:
            parked.remove(force=True)
        return Deployed(*_uris(port), runtime)

    def _park(
        self, ws: Workspace, record: EndpointRecord, name: str, progress: Progress
    ) -> Container | None:
        """Stop the running container and keep it aside (``-previous``) until the new one
        serves."""
        old = self._ours(ws, record.name, str(record.runtime.get("container") or name))
        if old is None:
            return None
        progress(f"stopping the running version of {record.name}")
        old.stop(timeout=STOP_TIMEOUT_S)
        self._discard(ws, record.name, f"{name}-previous")
        old.rename(f"{name}-previous")
        return old

    @releasing
    def discard_candidate(self, ws: Workspace, record: EndpointRecord) -> None:
        """After a killed update: remove the trial container; put a parked previous
        version back when no container serves under the endpoint's name."""
        name = container_name(record.name)
        self._discard(ws, record.name, f"{name}-next")
        parked = self._ours(ws, record.name, f"{name}-previous")
        if parked is None:
            return
        current = self._ours(ws, record.name, name)
        if current is not None and current.status == "running":
            parked.remove(force=True)
            return
        if current is not None:
            current.remove(force=True)
        parked.rename(name)
        parked.start()

    def _clear_name(self, ws: Workspace, endpoint: str, name: str) -> None:
        """Remove a container left under ``name`` by this endpoint (a failed earlier run)."""
        old = self._container(name)
        if old is None:
            return
        if self._ours(ws, endpoint, name) is None:
            raise ConflictError(
                f"a container named {name} already exists and is not ours",
                hint="remove it or choose another endpoint name",
            )
        old.remove(force=True)

    def _start(
        self,
        ws: Workspace,
        spec: RunSpec,
        request: DeployRequest,
        runtime: dict[str, Any],
        started: Started,
        progress: Progress,
    ) -> None:
        """Run the container, record it at once, wait until it is ready (an interrupted
        wait removes it)."""
        import docker

        kwargs = run_kwargs(
            spec,
            request.name,
            (),
            str(ws.path),
            keys_folder=keys_folder(ws, request.name),
            auth=bool(request.keys),
        )
        with process.no_interrupt():
            try:
                container = self.client.containers.run(spec.image, **kwargs)
            except docker.errors.APIError as exc:
                raise DeploymentError(
                    f"Docker could not start {spec.name}: {exc.explanation}"
                ) from exc
            started({**runtime, "container_id": container.id})
        try:
            self._wait_ready(container, spec.port, progress)
        except KeyboardInterrupt:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            raise

    def _wait_ready(self, container: Container, port: int, progress: Progress) -> None:
        url = f"http://127.0.0.1:{port}/health/ready"
        started = time.monotonic()
        last_report = 0.0
        while True:
            container.reload()
            state = container.attrs.get("State", {})
            if (
                state.get("Restarting")
                or state.get("Status") in ("exited", "dead")
                or int(container.attrs.get("RestartCount", 0)) > 0
            ):
                self._fail(container, state)
            try:
                if httpclient.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            waited = time.monotonic() - started
            if waited > READY_TIMEOUT_S:
                tail = self._tail(container)
                container.remove(force=True)
                raise DeploymentError(
                    f"the container was not ready after {READY_TIMEOUT_S:.0f} s", details=tail
                )
            if waited - last_report >= 1.0:
                progress(f"waiting for init() to finish ({waited:.0f} s)")
                last_report = waited
            time.sleep(0.1)

    def _fail(self, container: Container, state: dict[str, Any]) -> None:
        code = state.get("ExitCode")
        tail = self._tail(container)
        container.remove(force=True)
        why = (
            "init() or the import of the entry script failed"
            if code == INIT_FAILED_EXIT
            else "the server stopped"
        )
        raise DeploymentError(
            f"the container exited with code {code} before it was ready: {why}",
            hint="the log tail is above; the container was removed so it does not restart "
            "in a loop",
            details=tail,
        )

    @staticmethod
    def _tail(container: Container, lines: int = 25) -> str:
        return str(container.logs(tail=lines).decode("utf-8", errors="replace"))

    def _container(self, name: str) -> Container | None:
        import docker

        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _ours(self, ws: Workspace, endpoint: str, name: str) -> Container | None:
        """The container ``name`` if it carries this workspace's and endpoint's labels."""
        container = self._container(name)
        if container is None:
            return None
        labels = container.labels or {}
        if labels.get(WORKSPACE_LABEL) != str(ws.path) or labels.get(ENDPOINT_LABEL) != endpoint:
            return None
        return container

    def _discard(self, ws: Workspace, endpoint: str, name: str) -> None:
        container = self._ours(ws, endpoint, name)
        if container is not None:
            container.remove(force=True)

    @releasing
    def observe(self, ws: Workspace, record: EndpointRecord) -> Observed:
        container = self._container(str(record.runtime.get("container")))
        if container is None:
            return Observed(
                "Failed",
                f"container {record.runtime.get('container')} is gone; "
                "redeploy with 'serving endpoints update' or delete the endpoint",
            )
        state = container.attrs.get("State", {})
        if state.get("Status") != "running":
            code = state.get("ExitCode")
            if code == INIT_FAILED_EXIT:
                return Observed(
                    "Failed",
                    "init() failed in the container (exit code 3); see 'serving endpoints logs'",
                )
            return Observed(
                "Unhealthy",
                f"the container is {state.get('Status')} (exit code {code}); Docker restarts it",
            )
        health = (state.get("Health") or {}).get("Status")
        if health == "unhealthy":
            return Observed("Unhealthy", "the readiness check fails; see 'serving endpoints logs'")
        try:
            url = f"http://127.0.0.1:{record.runtime['port']}/health/ready"
            ready = httpclient.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            ready = False
        return Observed("Healthy") if ready else Observed("Unhealthy", "not ready")

    @releasing
    def logs(self, ws: Workspace, record: EndpointRecord, tail: int) -> str:
        container = self._container(str(record.runtime.get("container")))
        if container is None:
            return ""
        return self._tail(container, tail).rstrip("\n")

    def set_keys(self, ws: Workspace, record: EndpointRecord, keys: list[str]) -> None:
        """Replace the mounted keys file: the server accepts the new keys at once."""
        write_keys(keys_folder(ws, record.name), keys)

    @releasing
    def remove(self, ws: Workspace, record: EndpointRecord) -> None:
        """Stop and remove the endpoint's containers: only those labelled with this
        workspace and endpoint (a container merely named like ours is left alone)."""
        base = container_name(record.name)
        candidate = (record.runtime.get("candidate") or {}).get("container")
        names = [record.runtime.get("container"), candidate, base, f"{base}-next"]
        names.append(f"{base}-previous")
        for name in dict.fromkeys(str(n) for n in names if n):
            container = self._ours(ws, record.name, name)
            if container is None:
                continue
            try:
                container.stop(timeout=STOP_TIMEOUT_S)
            finally:
                container.remove(force=True)
        shutil.rmtree(ws.endpoint_dir(record.name), ignore_errors=True)

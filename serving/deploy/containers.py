"""The container of an endpoint, as the docker, cluster and kubernetes targets run it: its
model image, how it runs (:class:`RunSpec`), its environment (from
:meth:`ServerSettings.to_env`) and the keyword arguments of ``containers.run``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from serving.config import ServerSettings
from serving.deploy.base import DeployRequest, Progress
from serving.deploy.toolkit import (
    CONTAINER_GID,
    KEYS_FILE,
    KEYS_MOUNT,
    LOG_CONFIG,
    LOOPBACK,
    container_groups,
    labels,
)
from serving.images.build import BuiltImage, ImageBuilder
from serving.images.dockerfile import ENV_PYTHON, RUNTIME_VENV
from serving.images.engine import EngineUser
from serving.images.model import CONTAINER_PORT, BuildRequest
from serving.scoring.collection.layout import endpoint_dir
from serving.server.gunicorn import gunicorn_argv
from serving.workspace import Workspace

if TYPE_CHECKING:
    from docker import DockerClient

RUN_ENV = (
    "SERVICE_NAME",
    "SERVING_KEYS",
    "SERVING_KEYS_FILE",
    "SERVING_AUTH",
    "SERVING_REPLICA_ID",
    "SERVING_WORKERS",
    "SERVING_THREADS",
    "SERVING_SSL_CERT_FILE",
    "SERVING_SSL_KEY_FILE",
    "SERVING_MODEL_DATA_DIR",
)
"""The server settings a container's run sets; the rest are in the image's ENV."""
STOP_TIMEOUT_S = ServerSettings().graceful_timeout_s + 5
"""Seconds ``docker stop`` waits after SIGTERM before it kills a scoring container:
gunicorn's graceful timeout in it (SERVING_GRACEFUL_TIMEOUT, default 30 s) plus a margin,
so requests in flight finish and workers write the model data they collected (an idle
server stops at once). The docker and cluster targets both stop with it."""

MODEL_DATA_MOUNT = "/var/serving/datastore"
"""Where a container collecting model data sees the datastore: only its own endpoint's
folder, ``<datastore>/modeldata/<endpoint>``, is mounted (read-write) under it."""


def container_name(endpoint: str) -> str:
    return f"serving-{endpoint}"


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
    max_batch_size: int = 0
    max_batch_delay_ms: float = 0.0
    model_data_dir: str | None = None
    """The datastore folder collected model data goes to (None: collection off)."""

    @classmethod
    def from_request(cls, request: DeployRequest, image: str, port: int) -> RunSpec:
        resources = request.deployment.resources
        cores = resources.cpu
        return cls(
            name=container_name(request.name),
            image=image,
            port=port,
            workers=request.workers or (max(1, math.ceil(cores)) if cores else 1),
            threads=request.threads or 1,
            nano_cpus=int(cores * 1e9) if cores else None,
            mem_limit=resources.memory_bytes,
            max_batch_size=request.deployment.batching[0],
            max_batch_delay_ms=request.deployment.batching[1],
            model_data_dir=request.deployment.model_data_dir,
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
            max_batch_size=int(data.get("max_batch_size") or 0),
            max_batch_delay_ms=float(data.get("max_batch_delay_ms") or 0.0),
            model_data_dir=data.get("model_data_dir") or None,
        )


def container_settings(
    spec: RunSpec,
    endpoint: str,
    *,
    keys: tuple[str, ...] | list[str] = (),
    keys_file: bool = False,
    auth: bool,
    replica_id: str | None = None,
    scoring_timeout_ms: int | None = None,
    tls: bool = False,
) -> ServerSettings:
    """The server settings of the endpoint's container (bound to 0.0.0.0:5001; with
    ``tls``, HTTPS with the pair mounted at :data:`TLS_MOUNT`)."""
    return ServerSettings(
        host="0.0.0.0",
        port=CONTAINER_PORT,
        workers=spec.workers,
        threads=spec.threads,
        service_name=endpoint,
        keys=tuple(keys),
        keys_file=Path(f"{KEYS_MOUNT}/{KEYS_FILE}") if keys_file else None,
        auth="key" if auth else "none",
        replica_id=replica_id,
        scoring_timeout_ms=scoring_timeout_ms or ServerSettings.scoring_timeout_ms,
        max_batch_size=spec.max_batch_size,
        max_batch_delay_ms=spec.max_batch_delay_ms,
        ssl_cert_file=Path(f"{TLS_MOUNT}/cert.pem") if tls else None,
        ssl_key_file=Path(f"{TLS_MOUNT}/key.pem") if tls else None,
        model_data_dir=Path(MODEL_DATA_MOUNT) if spec.model_data_dir else None,
    )


TLS_MOUNT = "/run/serving/tls"
"""Where a container finds the endpoint's certificate and key (a folder, mounted read-only
from the endpoint's folder: never copied into an image)."""
_TLS_PROBE = (
    "import os, ssl, urllib.request; urllib.request.urlopen('https://127.0.0.1:%s/health/ready'"
    " % os.environ.get('SERVING_PORT', '5001'), timeout=2,"
    " context=ssl._create_unverified_context())"
)
TLS_HEALTHCHECK = {
    "test": ["CMD", f"{RUNTIME_VENV}/bin/python", "-c", _TLS_PROBE],
    "interval": 10 * 10**9,
    "timeout": 3 * 10**9,
    "start_period": 5 * 10**9,
    "retries": 3,
}
"""The image's health check over HTTPS (the loopback check of the container's own server)."""


def container_env(
    settings: ServerSettings, *, inline_keys: bool = True, scoring_timeout: bool = False
) -> dict[str, str]:
    """What a run adds to the image's environment: :data:`RUN_ENV` of ``settings.to_env()``
    (without ``SERVING_KEYS`` when the keys come another way; with ``SCORING_TIMEOUT_MS``
    when the target sets one)."""
    names = [n for n in RUN_ENV if inline_keys or n != "SERVING_KEYS"]
    if scoring_timeout:
        names.append("SCORING_TIMEOUT_MS")
    env = settings.to_env()
    return {name: env[name] for name in names if name in env}


def run_kwargs(
    spec: RunSpec,
    endpoint: str,
    keys: tuple[str, ...] | list[str],
    workspace: str,
    *,
    keys_folder: Path | None = None,
    auth: bool | None = None,
    replica_id: str | None = None,
    scoring_timeout_ms: int | None = None,
    network: str | None = None,
    container_labels: dict[str, str] | None = None,
    tls_folder: Path | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``containers.run`` for the endpoint (pure; unit-tested).

    With ``keys_folder``, the keys come from the file ``keys`` in it, mounted read-only
    (the server re-reads it when it is replaced); else from ``keys`` in the environment.
    ``auth`` (default: whether ``keys`` were given) sets ``SERVING_AUTH``, explicitly.
    On a ``network`` (a cluster replica) no port is published; else the server's port is
    published on 127.0.0.1:``spec.port``. ``replica_id`` defaults to the container's name.
    With ``tls_folder`` (``cert.pem``, ``key.pem``), mounted read-only at
    :data:`TLS_MOUNT`, the server speaks HTTPS only, and the health check too.
    With ``spec.model_data_dir`` the endpoint's model data folder is mounted read-write
    under :data:`MODEL_DATA_MOUNT` (the one thing done here: that folder is created,
    shared with the container's group, so every replica start, heals included, finds it).
    """
    settings = container_settings(
        spec,
        endpoint,
        keys=() if keys_folder is not None else keys,
        keys_file=keys_folder is not None,
        auth=bool(keys) if auth is None else auth,
        replica_id=replica_id or spec.name,
        scoring_timeout_ms=scoring_timeout_ms,
        tls=tls_folder is not None,
    )
    kwargs: dict[str, Any] = {
        "name": spec.name,
        "command": gunicorn_argv(settings, python=ENV_PYTHON),
        "environment": container_env(settings, scoring_timeout=scoring_timeout_ms is not None),
        "log_config": LOG_CONFIG,
        "restart_policy": {"Name": "unless-stopped"},
        "labels": container_labels or labels(endpoint, workspace),
        "detach": True,
    }
    if network is None:
        kwargs["ports"] = {f"{CONTAINER_PORT}/tcp": (LOOPBACK, spec.port)}
    else:
        kwargs["network"] = network
    volumes: dict[str, dict[str, str]] = {}
    if keys_folder is not None:
        volumes[str(keys_folder)] = {"bind": KEYS_MOUNT, "mode": "ro"}
    if tls_folder is not None:
        volumes[str(tls_folder)] = {"bind": TLS_MOUNT, "mode": "ro"}
        kwargs["healthcheck"] = TLS_HEALTHCHECK
    if spec.model_data_dir:
        host = share_model_data(Path(spec.model_data_dir), endpoint)
        inside = endpoint_dir(Path(MODEL_DATA_MOUNT), endpoint)
        volumes[str(host)] = {"bind": inside.as_posix(), "mode": "rw"}
    if volumes:
        kwargs["volumes"] = volumes
        if groups := container_groups():
            kwargs["group_add"] = groups
    if spec.nano_cpus:
        kwargs["nano_cpus"] = spec.nano_cpus
    if spec.mem_limit:
        kwargs["mem_limit"] = spec.mem_limit
    return kwargs


def share_model_data(datastore: Path, endpoint: str) -> Path:
    """Create ``<datastore>/modeldata/<endpoint>`` for a container to write into: setgid and
    group-writable (2770) for the group the container joins (this user's, see
    :func:`container_groups`; as root the container user's own), so what the container
    writes stays readable and removable here."""
    folder = endpoint_dir(datastore, endpoint)
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(folder, -1, CONTAINER_GID)
    os.chmod(folder, 0o2770)
    return folder


class Docker:
    """The Docker Engine a target is handed: a client made on first use (or the one given)
    and closed by :meth:`release`, and the builds of the endpoints' model images."""

    def __init__(self, engine: EngineUser | None = None) -> None:
        self.engine = engine or EngineUser()

    @property
    def client(self) -> DockerClient:
        return self.engine.client

    def release(self) -> None:
        self.engine.release()

    def build(self, ws: Workspace, request: DeployRequest, progress: Progress) -> BuiltImage:
        """Build (or reuse) the model image of an endpoint, named ``serving/<endpoint>``
        (the request's run settings checked first, before a long build)."""
        RunSpec.from_request(request, "", 0)
        return ImageBuilder(ws, self.engine.settings, self.engine.client).build(
            BuildRequest(
                request.models,
                request.entry_script,
                request.source_dir,
                request.env,
                name=f"serving/{request.name}",
                service_name=request.name,
                nocode=request.nocode,
            ),
            progress,
        )


class UsesDocker(Protocol):
    """A target handed a :class:`Docker`."""

    docker: Docker


M = TypeVar("M", bound=Callable[..., Any])


def releasing(method: M) -> M:
    """Decorates a public method of a target that :class:`UsesDocker`: the connection is
    closed when it returns (the CLI and SDK keep none open between calls)."""

    @functools.wraps(method)
    def wrapper(self: UsesDocker, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self.docker.release()

    return cast(M, wrapper)

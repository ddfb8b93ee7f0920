"""What every deploy target uses: ports on 127.0.0.1, the keys file a server re-reads, the
readiness probe and the one wait-until-ready loop, labels, log capping and the constants
they share. Targets import this, never each other.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import requests
import urllib3

from serving import httpclient
from serving.errors import DeploymentError

if TYPE_CHECKING:
    from docker.models.containers import Container

    from serving.proc import Progress

LOOPBACK = "127.0.0.1"
READY_PATH = "/health/ready"
READY_TIMEOUT_S = 300.0
"""How long a new server (process, container or replica) may take to be ready."""
INIT_FAILED_EXIT = 3
"""The server's exit code when init() or the import of the entry script failed."""
KEYS_MOUNT = "/run/serving/keys"
"""Where a container finds its keys folder (mounted read-only)."""
KEYS_FILE = "keys"
ENDPOINT_LABEL = "serving.endpoint"
WORKSPACE_LABEL = "serving.workspace"
ROLE_LABEL = "serving.role"
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "20m", "max-file": "3"}}
"""Container logs are capped (3 x 20 MB): the access log writes a line per request."""
CONTAINER_GID = 10001
"""The group of the user the model images run as (``serving``, 10001:10001): the
images' ``USER_ID``, not imported from :mod:`serving.images.dockerfile` so that the local
target does not load :mod:`serving.images`."""


# -- ports and URIs ----------------------------------------------------------------------
def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_port(port: int) -> int:
    """``port`` if it is free on 127.0.0.1, else a DeploymentError."""
    if port_in_use(port):
        raise DeploymentError(
            f"port {port} on {LOOPBACK} is already in use",
            hint="choose another --port, or leave it out",
        )
    return port


def uris(port: int, *, tls: bool = False, host: str | None = None) -> tuple[str, str]:
    """The scoring and swagger URIs of a server on 127.0.0.1:``port`` (``https://`` with
    ``tls``; ``host``: the certificate's name, --ssl-cname, in place of 127.0.0.1)."""
    base = f"{'https' if tls else 'http'}://{host or LOOPBACK}:{port}"
    return f"{base}/score", f"{base}/swagger.json"


# -- readiness ---------------------------------------------------------------------------
def is_ready(port: int, timeout_s: float = 2.0, *, tls: bool = False) -> bool:
    """Whether the server on 127.0.0.1:``port`` answers its readiness route with 200
    (over HTTPS with ``tls``, the certificate unchecked: it names the endpoint's host, and
    this is the loopback check of our own server)."""
    try:
        url = f"{'https' if tls else 'http'}://{LOOPBACK}:{port}{READY_PATH}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            answer = httpclient.get(url, timeout=timeout_s, verify=not tls)
        return bool(answer.status_code == 200)
    except requests.RequestException:
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    progress: Progress,
    waiting: Callable[[float], str],
    timed_out: Callable[[float], DeploymentError],
    timeout_s: float = READY_TIMEOUT_S,
    poll_s: float = 0.1,
) -> None:
    """Poll ``ready`` (which raises when waiting is pointless: the server exited) until it
    is true; say ``waiting(seconds)`` about once a second; past ``timeout_s`` raise
    ``timed_out(seconds)``."""
    started = time.monotonic()
    last_report = 0.0
    while not ready():
        waited = time.monotonic() - started
        if waited > timeout_s:
            raise timed_out(waited)
        if waited - last_report >= 1.0:
            progress(waiting(waited))
            last_report = waited
        time.sleep(poll_s)


def waiting_for_init(waited: float) -> str:
    return f"waiting for init() to finish ({waited:.0f} s)"


def exit_reason(code: object) -> str:
    """Why a server exited before it was ready, from its exit code."""
    if code == INIT_FAILED_EXIT:
        return "init() or the import of the entry script failed"
    return "the server stopped"


# -- keys files --------------------------------------------------------------------------
def container_groups() -> list[str]:
    """Extra groups for a container that reads a mounted keys file: this user's group
    when not root (the file is group-readable), none as root (the file's group is the
    container user's own)."""
    return [] if os.geteuid() == 0 else [str(os.getgid())]


def share_file(path: Path, mode: int) -> None:
    """chmod ``path``; as root also give it to the container user's group."""
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, 0, CONTAINER_GID)


def write_keys(path: Path, keys: list[str] | tuple[str, ...], *, container: bool = False) -> None:
    """Atomically replace the keys file ``path`` (one key per line) a server re-reads.

    For a local server the file is 0600 in a 0700 folder. For a ``container``, the
    folder is mounted (not the file, so the container sees each replacement) and both are
    readable by the owner and one group only (folder 0750, file 0640): the container
    user's group when running as root, else this user's group, which the container joins
    (:func:`container_groups`)."""
    write_private(path, "".join(f"{key}\n" for key in keys).encode(), container=container)


def write_private(path: Path, data: bytes, *, container: bool = False) -> None:
    """Atomically replace ``path`` with ``data``, readable by its owner only: 0600 in a
    0700 folder, or for a ``container`` that mounts the folder 0640 in a 0750 folder to
    one group (see :func:`write_keys`). Written to a temporary file then renamed, so a
    reader (a server, a running balancer) never sees half a file."""
    folder = path.parent
    folder.mkdir(mode=0o750 if container else 0o700, parents=True, exist_ok=True)
    if container:
        share_file(folder, 0o750)
    else:
        os.chmod(folder, 0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if container:
        share_file(tmp, 0o640)
    else:
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_mounted_keys(folder: Path, keys: list[str] | tuple[str, ...]) -> None:
    """``folder/keys`` for containers that mount ``folder`` (see :func:`write_keys`)."""
    write_keys(folder / KEYS_FILE, keys, container=True)


# -- containers --------------------------------------------------------------------------
def labels(endpoint: str, workspace: str, role: str | None = None, **extra: str) -> dict[str, str]:
    """Labels on everything a target creates; only what carries them is ever removed."""
    out = {ENDPOINT_LABEL: endpoint, WORKSPACE_LABEL: workspace}
    if role is not None:
        out[ROLE_LABEL] = role
    out.update({f"serving.{key}": value for key, value in extra.items()})
    return out


def container_log(container: Container, tail: int) -> str:
    """The last ``tail`` lines of a container's log, without the final newline."""
    return str(container.logs(tail=tail).decode("utf-8", errors="replace")).rstrip("\n")


def exited_early(container: Container) -> bool:
    """Whether a starting container stopped or restarted (its server exited)."""
    state = container.attrs.get("State", {})
    return bool(
        state.get("Restarting")
        or state.get("Status") in ("exited", "dead")
        or int(container.attrs.get("RestartCount", 0)) > 0
    )


def exit_error(container: Container, who: str, hint: str) -> DeploymentError:
    """The error of a container that exited before it was ready, with its log tail."""
    code = container.attrs.get("State", {}).get("ExitCode")
    return DeploymentError(
        f"{who} exited with code {code} before it was ready: {exit_reason(code)}",
        hint=hint,
        details=container_log(container, 25),
    )

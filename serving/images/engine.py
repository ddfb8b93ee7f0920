"""The Docker Engine, through the ``docker`` SDK: a lazily made client, streamed builds,
image lookups and short-lived helper containers.

The SDK contacts the daemon when a client is constructed, so nothing here runs at import
and every failure to reach the daemon becomes one :class:`BackendUnavailableError` line.
"""

from __future__ import annotations

import functools
import io
import json
import socket
import tarfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

from serving.config import PlatformSettings
from serving.errors import BackendUnavailableError
from serving.images.errors import ImageBuildError

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.images import Image

Progress = Callable[[str], None]

CACHE_LINE = "Using cache"


DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def _unreachable(where: str, reason: object) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"no Docker Engine reachable at {where}: {reason}",
        hint="start Docker or set DOCKER_HOST, or deploy with --target local",
    )


def _check_socket(url: str, where: str) -> None:
    """Fail early, and without leaking a socket (the SDK's unix adapter does), when a unix
    socket is missing or nothing listens on it."""
    if not url.startswith("unix://"):
        return
    path = url.removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            probe.connect(path)
    except OSError as exc:
        raise _unreachable(where, exc.strerror or exc) from None


def docker_client(settings: PlatformSettings | None = None) -> DockerClient:
    """A client for the configured engine (SERVING_DOCKER_HOST / DOCKER_HOST, else the
    default socket); raises :class:`BackendUnavailableError` when none answers."""
    import docker
    import requests

    settings = settings or PlatformSettings.from_env()
    where = settings.docker_host or "the default socket (/var/run/docker.sock)"
    _check_socket(settings.docker_host or DEFAULT_SOCKET, where)
    client = None
    try:
        if settings.docker_host:
            client = docker.DockerClient(base_url=settings.docker_host)
        else:
            client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        if client is not None:
            client.close()
        raise _unreachable(where, " ".join(str(exc).split())[:200]) from exc
    return client


@contextmanager
def docker_session(settings: PlatformSettings | None = None) -> Iterator[DockerClient]:
    """A client for the duration of a ``with`` block (closed afterwards)."""
    client = docker_client(settings)
    try:
        yield client
    finally:
        client.close()


class EngineUser:
    """Holds a Docker client: one given to it (left open), or one made on first use and
    closed by :meth:`release` (public methods release it when they return)."""

    def __init__(
        self, settings: PlatformSettings | None = None, client: DockerClient | None = None
    ) -> None:
        self.settings = settings or PlatformSettings.from_env()
        self._client = client
        self._owned = client is None

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = docker_client(self.settings)
        return self._client

    def release(self) -> None:
        """Close the client if this object made it."""
        if self._owned and self._client is not None:
            self._client.close()
            self._client = None


M = TypeVar("M", bound=Callable[..., Any])


def releasing(method: M) -> M:
    """Decorates a public method of an :class:`EngineUser`: release the client on return."""

    @functools.wraps(method)
    def wrapper(self: EngineUser, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self.release()

    return cast(M, wrapper)


def find_image(client: DockerClient, ref: str) -> Image | None:
    """The local image called ``ref`` (a tag or an id), or None."""
    import docker

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise


def images_with_label(client: DockerClient, label: str | list[str]) -> list[Image]:
    """Local images carrying ``label`` (``key`` or ``key=value``; a list: all of them),
    newest first, intermediate ones included."""
    found = client.images.list(all=True, filters={"label": label})
    return sorted(found, key=lambda image: str(image.attrs.get("Created", "")), reverse=True)


@dataclass(frozen=True)
class BuildOutput:
    image_id: str
    cached_steps: int
    steps: int


def _noise(line: str) -> bool:
    """Builder chatter that says nothing to a user (layer ids, intermediate containers)."""
    if not line or line.startswith(("Removing intermediate container", "---> Running in")):
        return True
    return line.startswith("--->") and CACHE_LINE not in line


def _lines(chunks: Iterable[Mapping[str, Any]], progress: Progress) -> tuple[str | None, int, int]:
    image_id: str | None = None
    cached = steps = 0
    for chunk in chunks:
        if "error" in chunk:
            detail = chunk.get("errorDetail") or {}
            raise ImageBuildError(
                " ".join(str(detail.get("message") or chunk["error"]).split()),
                hint="the build output above shows the failing step",
            )
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and isinstance(aux.get("ID"), str):
            image_id = aux["ID"]
        text = chunk.get("stream")
        if not isinstance(text, str):
            continue
        for raw in text.splitlines():
            line = raw.strip()
            if _noise(line):
                continue
            if line.startswith("Step "):
                steps += 1
            if CACHE_LINE in line:
                cached += 1
            if line.startswith("Successfully built ") and image_id is None:
                image_id = line.rsplit(" ", 1)[-1]
            progress(line)
    return image_id, cached, steps


def build(
    client: DockerClient,
    context: IO[bytes],
    *,
    dockerfile: str,
    progress: Progress,
    tag: str | None = None,
    buildargs: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> BuildOutput:
    """Build from a tar ``context`` with no network, streaming each output line to
    ``progress``; returns the image id. A failed step raises :class:`ImageBuildError`."""
    import docker

    try:
        chunks = client.api.build(
            fileobj=context,
            custom_context=True,
            dockerfile=dockerfile,
            tag=tag,
            buildargs=dict(buildargs or {}),
            labels=dict(labels or {}),
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            network_mode="none",
        )
        image_id, cached, steps = _lines(chunks, progress)
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"the Docker Engine refused the build: {exc.explanation}") from exc
    if image_id is None:
        raise ImageBuildError("the build finished without reporting an image id")
    if not image_id.startswith("sha256:"):
        image_id = client.images.get(image_id).id or image_id
    return BuildOutput(image_id, cached, steps)


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str


def run_once(
    client: DockerClient,
    image: str,
    argv: Sequence[str],
    *,
    environment: Mapping[str, str] | None = None,
    timeout_s: float = 300,
    files: Mapping[str, bytes] | None = None,
) -> RunResult:
    """Run ``argv`` (as the entrypoint) in a throw-away container without network;
    returns its exit code and output. ``files`` (name in ``/``: contents, readable by
    all) are copied in before it starts. The container is always removed."""
    container = client.containers.create(
        image,
        entrypoint=list(argv),
        command=[],
        environment=dict(environment or {}),
        network_disabled=True,
        labels={"serving.role": "helper"},
    )
    try:
        if files:
            container.put_archive("/", _tar_of(files))
        container.start()
        status = container.wait(timeout=timeout_s)
        output = container.logs(stdout=True, stderr=True).decode("utf-8", errors="replace")
        return RunResult(int(status.get("StatusCode", 1)), output)
    finally:
        container.remove(force=True)


def _tar_of(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar of ``files`` (mode 0644), for ``put_archive``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def last_json_line(output: str) -> dict[str, Any] | None:
    """The last line of ``output`` that parses as a JSON object."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def load_image(client: DockerClient, archive: IO[bytes]) -> tuple[str, list[str]]:
    """``docker load`` an image archive; returns the image id and the short ids of the
    layers Docker did not have yet (the others were reused)."""
    import docker

    image_id: str | None = None
    loaded: list[str] = []
    try:
        for chunk in client.api.load_image(archive, quiet=False):
            if "error" in chunk:
                raise ImageBuildError(f"docker load failed: {chunk['error']}")
            if chunk.get("status") == "Loading layer" and chunk.get("id") not in loaded:
                loaded.append(str(chunk.get("id")))
            text = str(chunk.get("stream", ""))
            if "Loaded image ID:" in text:
                image_id = text.split("Loaded image ID:", 1)[1].strip()
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"docker load failed: {exc.explanation}") from exc
    if image_id is None:
        raise ImageBuildError("docker load did not report an image id")
    return image_id, loaded

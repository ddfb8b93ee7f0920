"""The docker target: one container per endpoint, from a model image built (or reused)
for it, like Azure Container Instances on this machine.

The container is named ``serving-<endpoint>``, labelled with the endpoint and workspace
(only containers with both labels are ever removed), restarts ``unless-stopped``, carries a
Docker health check on the readiness route and publishes port 5001 on 127.0.0.1. Keys are
in a file of the workspace, mounted read-only and re-read by the server when it is
replaced, so a new key works at once, no restart; ``SERVING_AUTH`` says whether one is
required (a missing or empty keys file then refuses every request).

An update starts the new image as a second container on a spare port first: when its
init() fails, the running container was never touched. Then the running one stops, renamed
``-previous`` and kept until the new one is recorded; if the new one is not ready on the
endpoint's port (or the update is interrupted or killed) the previous one is started again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.deploy import process, tls
from serving.deploy.base import Change, Deployed, DeployRequest, Observed, Progress, Started, ignore
from serving.deploy.containers import (
    STOP_TIMEOUT_S,
    Docker,
    RunSpec,
    container_name,
    releasing,
    run_kwargs,
)
from serving.deploy.folders import endpoint_folder, private_dir
from serving.deploy.toolkit import (
    ENDPOINT_LABEL,
    INIT_FAILED_EXIT,
    READY_TIMEOUT_S,
    WORKSPACE_LABEL,
    check_port,
    container_log,
    exit_error,
    exited_early,
    free_port,
    is_ready,
    wait_until,
    waiting_for_init,
    write_mounted_keys,
)
from serving.errors import ConflictError, DeploymentError
from serving.images.build import BuiltImage
from serving.registry import EndpointRecord
from serving.workspace import Workspace

if TYPE_CHECKING:
    from docker.models.containers import Container


@contextlib.contextmanager
def _docker_errors(what: str) -> Iterator[None]:
    """A Docker API error as the project's one-line error."""
    import docker

    try:
        yield
    except docker.errors.APIError as exc:
        raise DeploymentError(f"Docker could not {what}: {exc.explanation or exc}") from exc


def keys_folder(ws: Workspace, endpoint: str) -> Path:
    """The folder mounted into the container, holding the ``keys`` file."""
    return ws.endpoint_dir(endpoint) / "keys.d"


def write_keys(folder: Path, keys: tuple[str, ...] | list[str]) -> None:
    """Atomically replace ``folder/keys``, readable by the container's user only (see
    :func:`serving.deploy.toolkit.write_keys`); the endpoint folder around it is 0700."""
    private_dir(folder.parent)
    write_mounted_keys(folder, keys)


def _runtime(spec: RunSpec, built: BuiltImage) -> dict[str, Any]:
    return {
        "container": spec.name,
        "image": built.record.tag,
        "image_ref": built.record.ref,
        "port": spec.port,
        "run": spec.to_dict(),
    }


def _is_ours(ws: Workspace, endpoint: str, container: Container) -> bool:
    """Whether ``container`` carries this workspace's and endpoint's labels."""
    labels = container.labels or {}
    return labels.get(WORKSPACE_LABEL) == str(ws.path) and labels.get(ENDPOINT_LABEL) == endpoint


class DockerTarget:
    """Endpoints as containers of model images on the local Docker Engine."""

    name = "docker"

    def __init__(self, docker: Docker | None = None) -> None:
        self.docker = docker or Docker()

    @releasing
    def deploy(
        self, ws: Workspace, request: DeployRequest, progress: Progress, started: Started = ignore
    ) -> Deployed:
        built = self.docker.build(ws, request, progress)
        spec = RunSpec.from_request(
            request, built.record.image_id, check_port(request.port or free_port())
        )
        self._clear_name(ws, request.name, spec.name)
        base = endpoint_folder(ws, request.name)
        write_keys(keys_folder(ws, request.name), request.keys)
        installed = tls.install(request.deployment.tls, base, container=True)
        progress(f"starting container {spec.name} from {built.record.tag}")
        runtime = {**_runtime(spec, built), "tls": installed is not None}
        self._start(ws, spec, request, runtime, started, progress, installed)
        return Deployed(*tls.endpoint_uris(spec.port, request.deployment.tls), runtime)

    @releasing
    def replace(self, ws: Workspace, change: Change, progress: Progress) -> Deployed:
        """The new image on a spare port until ready, then in the old container's place
        (the old one parked until :meth:`discard_candidate` removes it, once the new one is
        recorded)."""
        record, request, started = change.record, change.request, change.started
        built = self.docker.build(ws, request, progress)
        installed = tls.install(
            request.deployment.tls, endpoint_folder(ws, request.name), container=True
        )
        port = int(record.runtime.get("port") or request.port or free_port())
        final = RunSpec.from_request(request, built.record.image_id, port)
        trial = dataclasses.replace(final, name=f"{final.name}-next", port=free_port())
        self._clear_name(ws, request.name, trial.name)
        progress("trying the new version on a spare port first")
        self._start(ws, trial, request, _runtime(trial, built), started, progress, installed)
        self._discard(ws, request.name, trial.name)
        try:
            with process.no_interrupt():
                self._park(ws, record, final.name, progress)
            self._clear_name(ws, request.name, final.name)
            runtime = {**_runtime(final, built), "tls": installed is not None}
            self._start(ws, final, request, runtime, started, progress, installed)
        except BaseException as exc:  # the previous version serves again
            with process.no_interrupt():
                progress("starting the previous version again")
                self._reconcile(ws, record)
            if isinstance(exc, DeploymentError):
                raise DeploymentError(
                    f"{exc.message}; the previous version was started again", details=exc.details
                ) from exc
            raise
        return Deployed(*tls.endpoint_uris(port, request.deployment.tls), runtime)

    def _park(
        self, ws: Workspace, record: EndpointRecord, name: str, progress: Progress
    ) -> Container | None:
        """Stop the running container and keep it aside (``-previous``) until the new one
        is recorded."""
        old = self._ours(ws, record.name, str(record.runtime.get("container") or name))
        if old is None:
            return None
        progress(f"stopping the running version of {record.name}")
        with _docker_errors(f"stop {old.name}"):
            old.stop(timeout=STOP_TIMEOUT_S)
            self._discard(ws, record.name, f"{name}-previous")
            old.rename(f"{name}-previous")
        return old

    @releasing
    def discard_candidate(self, ws: Workspace, record: EndpointRecord) -> None:
        """Make the containers match the record: remove the trial container, and keep the
        recorded version (the container that runs the recorded image, else the parked
        one), running under the endpoint's name; the other one goes."""
        self._reconcile(ws, record)

    def _reconcile(self, ws: Workspace, record: EndpointRecord) -> None:
        name = str(record.runtime.get("container") or container_name(record.name))
        image = (record.runtime.get("run") or {}).get("image")
        with _docker_errors(f"start the recorded version of {record.name} again"):
            self._discard(ws, record.name, f"{container_name(record.name)}-next")
            current = self._ours(ws, record.name, name)
            parked = self._ours(ws, record.name, f"{name}-previous")
            if current is not None and current.attrs.get("Image") == image:
                keep, drop = current, parked
            elif parked is not None:
                keep, drop = parked, current
            else:
                return  # nothing of the recorded version is left: observe says so
            if drop is not None:
                drop.remove(force=True)
            if keep.name != name:
                keep.rename(name)
            if keep.status != "running":
                keep.start()

    def _clear_name(self, ws: Workspace, endpoint: str, name: str) -> None:
        """Remove a container left under ``name`` by this endpoint (a failed earlier run)."""
        old = self._container(name)
        if old is None:
            return
        if not _is_ours(ws, endpoint, old):
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
        installed: tls.TlsFiles | None = None,
    ) -> None:
        """Run the container (``installed``: the TLS files it mounts, None without TLS),
        record it at once, wait until it is ready (an interrupted wait removes it)."""
        import docker

        kwargs = run_kwargs(
            spec,
            request.name,
            (),
            str(ws.path),
            keys_folder=keys_folder(ws, request.name),
            auth=bool(request.keys),
            tls_folder=installed.folder if installed else None,
        )
        with process.no_interrupt():
            try:
                container = self.docker.client.containers.run(spec.image, **kwargs)
            except docker.errors.APIError as exc:
                # run is create + start: a container created but not started goes too
                with contextlib.suppress(docker.errors.APIError):
                    self._discard(ws, request.name, spec.name)
                raise DeploymentError(
                    f"Docker could not start {spec.name}: {exc.explanation or exc}"
                ) from exc
            started({**runtime, "container_id": container.id})
        try:
            self._wait_ready(container, spec.port, progress, request.deployment.tls.enabled)
        except KeyboardInterrupt:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            raise

    @staticmethod
    def _wait_ready(container: Container, port: int, progress: Progress, secure: bool) -> None:
        """Until the container's server is ready; a container that exits (or is not ready
        in time) is removed, so it does not restart in a loop."""

        def ready() -> bool:
            container.reload()
            if exited_early(container):
                error = exit_error(
                    container,
                    "the container",
                    "the log tail is above; the container was removed so it does not "
                    "restart in a loop",
                )
                container.remove(force=True)
                raise error
            return is_ready(port, timeout_s=1, tls=secure)

        def timed_out(_waited: float) -> DeploymentError:
            tail = container_log(container, 25)
            container.remove(force=True)
            return DeploymentError(
                f"the container was not ready after {READY_TIMEOUT_S:.0f} s", details=tail
            )

        wait_until(ready, progress=progress, waiting=waiting_for_init, timed_out=timed_out)

    def _container(self, name: str) -> Container | None:
        import docker

        try:
            return self.docker.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _ours(self, ws: Workspace, endpoint: str, name: str) -> Container | None:
        """The container ``name`` if it carries this workspace's and endpoint's labels."""
        container = self._container(name)
        return container if container is not None and _is_ours(ws, endpoint, container) else None

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
        secure = bool(record.runtime.get("tls"))
        if is_ready(int(record.runtime["port"]), tls=secure):
            return Observed("Healthy")
        return Observed("Unhealthy", "not ready")

    @releasing
    def logs(self, ws: Workspace, record: EndpointRecord, tail: int) -> str:
        container = self._container(str(record.runtime.get("container")))
        if container is None:
            return ""
        return container_log(container, tail)

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

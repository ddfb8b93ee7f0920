"""The ``cluster`` target: N replica containers of the model image behind HAProxy, at one
scoring URI, like an AKS deployment on one machine (``--target cluster --replicas N``).

Layout of an endpoint ``NAME``:

* a private bridge network ``serving-NAME``;
* replicas ``serving-NAME-rK`` (the docker target's container, with no published port,
  ``SERVING_REPLICA_ID=NAME-rK-revR`` sent back as ``x-serving-replica``, and the keys
  file mounted read-only: the replicas check keys, the balancer does not);
* the balancer ``serving-NAME-lb`` (HAProxy, see :mod:`serving.deploy.cluster_haproxy`),
  the only thing published, on ``127.0.0.1:<port>``;
* a supervisor process (:mod:`serving.deploy.cluster_supervisor`) that replaces replicas
  that die or stop answering their readiness check;
* ``<workspace>/endpoints/NAME/cluster/``: the state file, keys, HAProxy's configuration and
  runtime API socket, the supervisor's log.

Scaling and updates go through the balancer's runtime API: a new replica joins the pool only
once its readiness check passes, and a replica leaves it drained (no new requests, in-flight
ones finished) before its container stops. An update is rolling: one new replica, ready,
then one old one drained and stopped, and so on.

Why HAProxy and not Docker Swarm. A single-node swarm was tried first on the development
machine (Docker Engine 20.10, fuse-overlayfs, cgroup v1): ``docker swarm init`` works and a
2-replica service of a local image starts (after a failed pull attempt the engine falls back
to the local image), but the routing mesh never answers: the kernel has no IPVS (no
``ip_vs`` module, no ``/proc/net/ip_vs``; dockerd logs "Could not get ipvs family
information from the kernel"), so no ingress load balancing is set up and the published
port refuses connections on 127.0.0.1 and on the host's address alike. The mesh also has
no per-replica concurrency limit, queue, 503 or 504 answers, retries of failed connections
or draining, all of which the AKS behaviour needs. HAProxy has every one of them
(``maxconn`` per server, ``timeout queue``, ``errorfile``, ``retry-on``, ``observe``, health
checks, ``set server ... state drain``), and Debian packages it, so its image is built here
with no registry. The swarm was left again (``docker swarm leave --force``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from serving import httpclient
from serving.deploy import cluster_supervisor as supervisor
from serving.deploy.base import Deployed, DeployRequest, Observed, Progress, Started, ignore
from serving.deploy.cluster_balancer import (
    ENDPOINT_LABEL,
    WORKSPACE_LABEL,
    ensure_balancer_image,
    ensure_network,
)
from serving.deploy.cluster_base import (
    DEFAULT_QUEUE_WAIT_MS,
    DEFAULT_REPLICAS,
    DEFAULT_SCORING_TIMEOUT_MS,
    HEAL_AFTER_S,
    ClusterState,
    Limits,
    Member,
    balancer_name,
    check_replicas,
    endpoint_lock,
    load_state,
    network_name,
    state_dir,
)
from serving.deploy.cluster_pool import Pool, keys_dir
from serving.deploy.cluster_views import replica_logs, replica_rows
from serving.deploy.docker import RunSpec, build_endpoint_image
from serving.deploy.folders import endpoint_folder
from serving.deploy.keys import write_mounted_keys
from serving.deploy.local import free_port, port_in_use
from serving.errors import DeploymentError, UserInputError
from serving.images.build import BuiltImage
from serving.images.engine import EngineUser, releasing
from serving.registry import EndpointRecord
from serving.workspace import Workspace


def _positive(options: dict[str, Any], key: str, default: int, flag: str) -> int:
    value = options.get(key)
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{flag} must be a whole number, not {value!r}") from None
    if number < 1:
        raise UserInputError(f"{flag} must be at least 1, not {number}")
    return number


def cluster_options(request: DeployRequest) -> tuple[int, Limits, float]:
    """Replicas, limits and the heal delay from the request's options."""
    options = request.options
    replicas = check_replicas(options.get("replicas", DEFAULT_REPLICAS))
    concurrency = (request.workers or 1) * (request.threads or 1)
    limits = Limits(
        max_concurrent=_positive(
            options, "max_concurrent_requests", concurrency, "--max-concurrent-requests"
        ),
        max_queue_wait_ms=_positive(
            options, "max_queue_wait_ms", DEFAULT_QUEUE_WAIT_MS, "--max-queue-wait-ms"
        ),
        scoring_timeout_ms=_positive(
            options, "scoring_timeout_ms", DEFAULT_SCORING_TIMEOUT_MS, "scoring_timeout_ms"
        ),
    )
    heal_after = float(options.get("heal_after_s") or HEAL_AFTER_S)
    return replicas, limits, heal_after


def write_keys(folder: Path, keys: tuple[str, ...] | list[str]) -> None:
    """The keys file the replicas re-read, readable by their user only (see
    :func:`serving.deploy.keys.write_mounted_keys`); the workspace database holds the same
    keys."""
    write_mounted_keys(keys_dir(folder), keys)


def _uris(port: int) -> tuple[str, str]:
    return f"http://127.0.0.1:{port}/score", f"http://127.0.0.1:{port}/swagger.json"


def runtime_of(state: ClusterState, folder: Path) -> dict[str, Any]:
    return {
        "port": state.port,
        "replicas": state.replicas,
        "revision": state.revision,
        "image": state.image_tag,
        "balancer": balancer_name(state.endpoint),
        "network": network_name(state.endpoint),
        "limits": state.to_dict()["limits"],
        "state_dir": str(folder),
    }


class ClusterTarget(EngineUser):
    """Replicated endpoints behind an HAProxy balancer on the local Docker Engine."""

    name = "cluster"

    def _build(self, ws: Workspace, request: DeployRequest, progress: Progress) -> BuiltImage:
        return build_endpoint_image(self, ws, request, progress)

    def _deployed(self, state: ClusterState, folder: Path) -> Deployed:
        scoring, swagger = _uris(state.port)
        return Deployed(scoring, swagger, runtime_of(state, folder))

    @releasing
    def deploy(
        self, ws: Workspace, request: DeployRequest, progress: Progress, started: Started = ignore
    ) -> Deployed:
        replicas, limits, heal_after = cluster_options(request)
        RunSpec.from_request(request, "", 0)  # check --cpu/--memory before building
        built = self._build(ws, request, progress)
        balancer_image = ensure_balancer_image(self.client, progress)
        port = request.port or free_port()
        if port_in_use(port):
            raise DeploymentError(
                f"port {port} on 127.0.0.1 is already in use",
                hint="choose another --port, or leave it out",
            )
        folder = state_dir(ws, request.name)
        self._teardown(str(ws.path), request.name, folder)
        endpoint_folder(ws, request.name)
        image = built.record.image_id
        state = ClusterState(
            endpoint=request.name,
            workspace=str(ws.path),
            replicas=replicas,
            revision=1,
            image=image,
            image_tag=built.record.tag,
            port=port,
            run=RunSpec.from_request(request, image, 0).to_dict(),
            limits=limits,
            heal_after_s=heal_after,
            auth="key" if request.keys else "none",
        )
        with endpoint_lock(folder):
            try:
                write_keys(folder, request.keys)
                started(runtime_of(state, folder))  # everything it starts carries our labels
                ensure_network(self.client, request.name, str(ws.path))
                pool = Pool(self.client, folder, state, progress)
                pool.ensure_balancer(lambda: balancer_image)
                pool.add({slot: Member(1, image) for slot in range(1, replicas + 1)})
                self._check_auth(port, request.keys)
                supervisor.start(folder, state)
            except BaseException:
                self._teardown(str(ws.path), request.name, folder)
                raise
        progress(f"{replicas} replica(s) ready behind 127.0.0.1:{port}")
        return self._deployed(state, folder)

    @staticmethod
    def _check_auth(port: int, keys: tuple[str, ...]) -> None:
        """With keys, a request without one must be refused (the replicas read the file)."""
        if not keys:
            return
        answer = httpclient.post(f"http://127.0.0.1:{port}/score", data=b"{}", timeout=30)
        if answer.status_code != 401:
            raise DeploymentError(
                f"the replicas accepted a request without a key ({answer.status_code}): "
                "they could not read the keys file",
            )

    def _teardown(self, workspace: str, endpoint: str, folder: Path) -> None:
        """Remove the supervisor, containers, network and folder of ``endpoint``."""
        import docker

        state = load_state(folder)
        if state is not None:
            supervisor.stop(state)
        filters = {"label": [f"{ENDPOINT_LABEL}={endpoint}", f"{WORKSPACE_LABEL}={workspace}"]}
        for container in self.client.containers.list(all=True, filters=filters):
            container.remove(force=True)
        try:
            network = self.client.networks.get(network_name(endpoint))
        except docker.errors.NotFound:
            network = None
        if (
            network is not None
            and (network.attrs.get("Labels") or {}).get(WORKSPACE_LABEL) == workspace
        ):
            network.remove()
        shutil.rmtree(folder, ignore_errors=True)

    def _pool(self, ws: Workspace, name: str, progress: Progress) -> Pool:
        folder = state_dir(ws, name)
        state = load_state(folder)
        if state is None:
            raise DeploymentError(
                f"the cluster state of {name} is missing ({folder})",
                hint="redeploy it with 'serving deploy ... --overwrite'",
            )
        return Pool(self.client, folder, state, progress)

    @releasing
    def roll(
        self, ws: Workspace, record: EndpointRecord, request: DeployRequest, progress: Progress
    ) -> Deployed:
        """Rolling update: one new replica ready, then one old one drained, and so on."""
        RunSpec.from_request(request, "", 0)
        built = self._build(ws, request, progress)
        with endpoint_lock(state_dir(ws, record.name)):
            pool = self._pool(ws, record.name, progress)
            state = pool.state
            new = Member(state.revision + 1, built.record.image_id)
            try:
                for old in sorted(state.members):
                    pool.add({state.free_slot(): new})
                    pool.remove([old])
            except DeploymentError as exc:
                raise DeploymentError(
                    f"the rolling update to {built.record.tag} stopped: {exc.message}",
                    hint="replicas of the previous revision still serve; see "
                    "'serving endpoints show'",
                    details=exc.details,
                ) from exc
            state.revision, state.image, state.image_tag = (
                new.revision,
                new.image,
                built.record.tag,
            )
            state.run = RunSpec.from_request(request, new.image, 0).to_dict()
            pool.save()
        progress(f"every replica runs revision {new.revision} ({built.record.tag})")
        return self._deployed(state, pool.folder)

    @releasing
    def scale(
        self, ws: Workspace, record: EndpointRecord, replicas: int, progress: Progress
    ) -> Deployed:
        """Add replicas (in the pool once ready) or drain and stop the newest ones."""
        count = check_replicas(replicas)
        with endpoint_lock(state_dir(ws, record.name)):
            pool = self._pool(ws, record.name, progress)
            state = pool.state
            state.replicas = count
            pool.save()
            current = sorted(state.members)
            if count > len(current):
                slots: list[int] = []
                for _ in range(count - len(current)):
                    slots.append(state.free_slot(set(slots)))
                pool.add({slot: Member(state.revision, state.image) for slot in slots})
            elif count < len(current):
                pool.remove(current[count:])
        progress(f"{count} replica(s) ready")
        return self._deployed(state, pool.folder)

    @releasing
    def observe(self, ws: Workspace, record: EndpointRecord) -> Observed:
        folder = state_dir(ws, record.name)
        state = load_state(folder)
        if state is None:
            return Observed("Failed", f"the cluster state is missing ({folder}); redeploy")
        if not supervisor.running(state):
            state = self._restart_supervisor(folder) or state
        pool = Pool(self.client, folder, state, lambda _line: None)
        balancer = pool.container(balancer_name(record.name))
        if balancer is None or balancer.status != "running":
            return Observed("Unhealthy", "the balancer is not running; the supervisor restarts it")
        statuses = pool.statuses()
        ready = sum(1 for slot in state.members if slot in statuses and statuses[slot].serving)
        if ready == 0:
            return Observed("Unhealthy", "no replica is ready; see 'serving endpoints show'")
        if ready < state.replicas:
            return Observed("Healthy", f"{ready} of {state.replicas} replicas ready")
        return Observed("Healthy")

    @staticmethod
    def _restart_supervisor(folder: Path) -> ClusterState | None:
        """Start the supervisor again (after a reboot, say): holding the lock, and only if
        the state read under it still names no running one, so two concurrent
        ``endpoints show`` never start two."""
        with endpoint_lock(folder, wait_s=5) as got:
            if not got:
                return None
            state = load_state(folder)
            if state is not None and not supervisor.running(state):
                supervisor.start(folder, state)
            return state

    @releasing
    def replicas(self, ws: Workspace, record: EndpointRecord) -> list[dict[str, Any]]:
        return replica_rows(self._pool(ws, record.name, lambda _line: None))

    @releasing
    def replica_logs(self, ws: Workspace, record: EndpointRecord, tail: int, replica: str) -> str:
        return replica_logs(self._pool(ws, record.name, lambda _line: None), tail, replica)

    @releasing
    def logs(self, ws: Workspace, record: EndpointRecord, tail: int) -> str:
        return replica_logs(self._pool(ws, record.name, lambda _line: None), tail, None)

    @releasing
    def set_keys(self, ws: Workspace, record: EndpointRecord, keys: list[str]) -> None:
        write_keys(state_dir(ws, record.name), keys)

    @releasing
    def remove(self, ws: Workspace, record: EndpointRecord) -> None:
        folder = state_dir(ws, record.name)
        state = load_state(folder)
        if state is not None:
            supervisor.stop(state)
        with endpoint_lock(folder):
            self._teardown(str(ws.path), record.name, folder)

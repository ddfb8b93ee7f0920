"""The ``cluster`` target: N replica containers of the model image behind HAProxy, at one
scoring URI, like an AKS deployment on one machine (``--target cluster --replicas N``).

Layout of an endpoint ``NAME``:

* a private bridge network ``serving-NAME``;
* replicas ``serving-NAME-rK`` (the docker target's container, with no published port,
  ``SERVING_REPLICA_ID=NAME-rK-revR`` sent back as ``x-serving-replica``, and the keys
  file mounted read-only: the replicas check keys, the balancer does not);
* the balancer ``serving-NAME-lb`` (HAProxy, see :mod:`serving.deploy.cluster.haproxy`),
  the only thing published, on ``127.0.0.1:<port>``;
* a supervisor process (:mod:`serving.deploy.cluster.supervisor`) that replaces replicas
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

import contextlib
import shutil
import warnings
from pathlib import Path
from typing import Any

import urllib3

from serving import httpclient
from serving.config import PlatformSettings
from serving.deploy import tls
from serving.deploy.base import Deployed, DeployRequest, Observed, Progress, Started, ignore
from serving.deploy.cluster import supervisor
from serving.deploy.cluster.balancer import ensure_balancer_image, ensure_network
from serving.deploy.cluster.haproxy import TLS_BUNDLE
from serving.deploy.cluster.pool import Pool, balancer_dir, keys_dir
from serving.deploy.cluster.state import (
    DEFAULT_QUEUE_WAIT_MS,
    DEFAULT_REPLICAS,
    DEFAULT_SCORING_TIMEOUT_MS,
    HEAL_AFTER_S,
    Autoscaling,
    ClusterState,
    Limits,
    Member,
    balancer_name,
    endpoint_lock,
    load_state,
    network_name,
    state_dir,
)
from serving.deploy.cluster.views import autoscale_view, replica_logs, replica_rows
from serving.deploy.containers import STOP_TIMEOUT_S, Docker, RunSpec, releasing
from serving.deploy.folders import endpoint_folder
from serving.deploy.spec import DeploymentSpec, check_cooldown, check_replicas
from serving.deploy.toolkit import (
    ENDPOINT_LABEL,
    ROLE_LABEL,
    WORKSPACE_LABEL,
    check_port,
    free_port,
    uris,
    write_mounted_keys,
    write_private,
)
from serving.errors import DeploymentError
from serving.registry import EndpointRecord
from serving.workspace import Workspace


def _request_threads(request: DeployRequest) -> int:
    """Requests one server process serves at once: its threads, or with batching on the
    batcher's (twice the batch size), so the balancer lets batches fill."""
    size = request.deployment.batching[0]
    return max(request.threads or 1, 2 * size)


def autoscaling_of(request: DeployRequest, cooldown_s: float) -> Autoscaling | None:
    """The autoscaling policy the supervisor applies (None without ``--autoscale``)."""
    policy = request.deployment.autoscale
    if not policy.enabled:
        return None
    return Autoscaling(
        min_replicas=policy.lowest,
        max_replicas=policy.highest,
        target_utilization=policy.target,
        refresh_s=policy.refresh,
        cooldown_s=check_cooldown(cooldown_s),
    )


def cluster_options(request: DeployRequest) -> tuple[int, Limits, float]:
    """Replicas (with ``--autoscale``: the minimum), limits and the heal delay of the
    request (its defaults filled in)."""
    deployment = request.deployment
    policy = deployment.replicas
    autoscale = deployment.autoscale
    return (
        autoscale.lowest if autoscale.enabled else policy.count(DEFAULT_REPLICAS),
        Limits(
            max_concurrent=policy.max_concurrent_requests
            or (request.workers or 1) * _request_threads(request),
            max_queue_wait_ms=policy.max_queue_wait_ms or DEFAULT_QUEUE_WAIT_MS,
            scoring_timeout_ms=deployment.scoring_timeout_ms or DEFAULT_SCORING_TIMEOUT_MS,
        ),
        policy.heal_after_s or HEAL_AFTER_S,
    )


def write_keys(folder: Path, keys: tuple[str, ...] | list[str]) -> None:
    """The keys file the replicas re-read, readable by their user only (see
    :func:`serving.deploy.toolkit.write_keys`); the workspace database holds the same
    keys."""
    write_mounted_keys(keys_dir(folder), keys)


def _install_tls(ws: Workspace, request: DeployRequest, folder: Path) -> None:
    """With TLS, the pair in the endpoint folder (0600) and the balancer's bundle."""
    installed = tls.install(request.deployment.tls, ws.endpoint_dir(request.name))
    if installed is not None:
        write_private(balancer_dir(folder) / TLS_BUNDLE, tls.bundle(installed))


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


class ClusterTarget:
    """Replicated endpoints behind an HAProxy balancer on the local Docker Engine."""

    name = "cluster"

    def __init__(self, docker: Docker | None = None) -> None:
        self.docker = docker or Docker()

    def _deployed(self, state: ClusterState, folder: Path, cname: str | None = None) -> Deployed:
        return Deployed(*uris(state.port, tls=state.tls, host=cname), runtime_of(state, folder))

    @releasing
    def deploy(
        self, ws: Workspace, request: DeployRequest, progress: Progress, started: Started = ignore
    ) -> Deployed:
        replicas, limits, heal_after = cluster_options(request)
        built = self.docker.build(ws, request, progress)
        balancer_image = ensure_balancer_image(self.docker.client, progress)
        port = check_port(request.port or free_port())
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
            tls=request.deployment.tls.enabled,
            autoscale=autoscaling_of(request, PlatformSettings.from_env().autoscale_cooldown_s),
        )
        with endpoint_lock(folder):
            try:
                write_keys(folder, request.keys)
                _install_tls(ws, request, folder)
                started(runtime_of(state, folder))  # everything it starts carries our labels
                ensure_network(self.docker.client, request.name, str(ws.path))
                pool = Pool(self.docker.client, folder, state, progress)
                pool.ensure_balancer(lambda: balancer_image)
                pool.add({slot: Member(1, image) for slot in range(1, replicas + 1)})
                self._check_auth(port, request.keys, state.tls)
                supervisor.start(folder, state)
            except BaseException:
                self._teardown(str(ws.path), request.name, folder)
                raise
        progress(f"{replicas} replica(s) ready behind 127.0.0.1:{port}")
        return self._deployed(state, folder, request.deployment.tls.cname)

    @staticmethod
    def _check_auth(port: int, keys: tuple[str, ...], secure: bool) -> None:
        """With keys, a request without one must be refused (the replicas read the file)."""
        if not keys:
            return
        url = f"{'https' if secure else 'http'}://127.0.0.1:{port}/score"
        with warnings.catch_warnings():  # our own balancer on the loopback
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            answer = httpclient.post(url, data=b"{}", timeout=30, verify=not secure)
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
        for container in self.docker.client.containers.list(all=True, filters=filters):
            if container.labels.get(ROLE_LABEL) == "replica":
                # SIGTERM first: a replica flushes what it holds (collected model data)
                with contextlib.suppress(docker.errors.APIError):  # paused, or already gone
                    container.stop(timeout=STOP_TIMEOUT_S)
            container.remove(force=True)
        try:
            network = self.docker.client.networks.get(network_name(endpoint))
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
        return Pool(self.docker.client, folder, state, progress)

    @releasing
    def roll(
        self, ws: Workspace, record: EndpointRecord, request: DeployRequest, progress: Progress
    ) -> Deployed:
        """Rolling update: one new replica ready, then one old one drained, and so on."""
        built = self.docker.build(ws, request, progress)
        with endpoint_lock(state_dir(ws, record.name), progress=progress):
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
        return self._deployed(state, pool.folder, request.deployment.tls.cname)

    @releasing
    def scale(
        self, ws: Workspace, record: EndpointRecord, replicas: int, progress: Progress
    ) -> Deployed:
        """Add replicas (in the pool once ready) or drain and stop the newest ones."""
        count = check_replicas(replicas)
        with endpoint_lock(state_dir(ws, record.name), progress=progress):
            pool = self._pool(ws, record.name, progress)
            state = pool.state
            pool.resize(count)
        progress(f"{count} replica(s) ready")
        cname = DeploymentSpec.from_record(record.spec).tls.cname
        return self._deployed(state, pool.folder, cname)

    @releasing
    def observe(self, ws: Workspace, record: EndpointRecord) -> Observed:
        folder = state_dir(ws, record.name)
        state = load_state(folder)
        if state is None:
            return Observed("Failed", f"the cluster state is missing ({folder}); redeploy")
        if not supervisor.running(state):
            state = self._restart_supervisor(folder) or state
        pool = Pool(self.docker.client, folder, state, lambda _line: None)
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

    def autoscaling(self, ws: Workspace, record: EndpointRecord) -> dict[str, Any] | None:
        """The state file's autoscaling view (written by the supervisor; no Docker call)."""
        state = load_state(state_dir(ws, record.name))
        return None if state is None else autoscale_view(state)

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

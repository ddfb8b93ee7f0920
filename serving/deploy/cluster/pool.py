"""Replica containers and the balancer's pool: start a replica, put it in the pool once its
readiness check passes, drain one before it stops, replace one that died or hangs.

Every change of the pool is saved (the state file and the balancer's configuration) before
the next step, so the supervisor, or a balancer restart, always sees what is really there.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.deploy.base import Progress
from serving.deploy.cluster.balancer import start_balancer
from serving.deploy.cluster.haproxy import RuntimeApi, ServerStatus, write_files
from serving.deploy.cluster.state import (
    KEYS_FOLDER,
    ClusterState,
    Member,
    balancer_name,
    network_name,
    replica_name,
    save_state,
)
from serving.deploy.containers import STOP_TIMEOUT_S, RunSpec, run_kwargs
from serving.deploy.toolkit import (
    ENDPOINT_LABEL,
    READY_TIMEOUT_S,
    ROLE_LABEL,
    WORKSPACE_LABEL,
    exit_error,
    exited_early,
    labels,
    wait_until,
)
from serving.errors import DeploymentError

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

DRAIN_MARGIN_S = 5.0
BALANCER_FOLDER = "balancer"


def replica_id(endpoint: str, slot: int, revision: int) -> str:
    """What a replica sends back in ``x-serving-replica``: slot and revision."""
    return f"{endpoint}-r{slot}-rev{revision}"


def replica_kwargs(
    state: ClusterState, slot: int, member: Member, keys_dir: Path
) -> dict[str, Any]:
    """Keyword arguments of ``containers.run`` for one replica (pure; unit-tested): the
    docker target's container, without a published port, on the endpoint's network, with
    the keys file mounted read-only (re-read by the server when it is replaced)."""
    spec = RunSpec.from_dict(
        {**state.run, "name": replica_name(state.endpoint, slot), "image": member.image, "port": 0}
    )
    return run_kwargs(
        spec,
        state.endpoint,
        (),
        state.workspace,
        keys_folder=keys_dir,
        auth=state.auth == "key",
        replica_id=replica_id(state.endpoint, slot, member.revision),
        scoring_timeout_ms=state.limits.scoring_timeout_ms,
        network=network_name(state.endpoint),
        container_labels=labels(
            state.endpoint,
            state.workspace,
            "replica",
            slot=str(slot),
            revision=str(member.revision),
        ),
    )


def keys_dir(folder: Path) -> Path:
    return folder / KEYS_FOLDER


def balancer_dir(folder: Path) -> Path:
    return folder / BALANCER_FOLDER


class Pool:
    """The replicas of one endpoint and the balancer in front of them."""

    def __init__(
        self, client: DockerClient, folder: Path, state: ClusterState, progress: Progress
    ) -> None:
        self.client = client
        self.folder = folder
        self.state = state
        self.progress = progress
        self.api = RuntimeApi(balancer_dir(folder))

    def save(self) -> None:
        """Record the pool: state file, then the configuration a restarted balancer reads."""
        save_state(self.folder, self.state)
        write_files(
            balancer_dir(self.folder),
            self.state.endpoint,
            self.state.limits,
            self.state.members,
            tls=self.state.tls,
        )

    # -- containers ----------------------------------------------------------------------
    def container(self, name: str) -> Container | None:
        import docker

        try:
            found = self.client.containers.get(name)
        except docker.errors.NotFound:
            return None
        if found.labels.get(WORKSPACE_LABEL) != self.state.workspace:
            raise DeploymentError(
                f"a container named {name} exists and does not belong to this endpoint",
                hint="remove it or choose another endpoint name",
            )
        return found

    def replica(self, slot: int) -> Container | None:
        return self.container(replica_name(self.state.endpoint, slot))

    def owned(self, role: str) -> list[Container]:
        """Containers of this endpoint with ``role`` (replica or balancer)."""
        filters = {
            "label": [
                f"{ENDPOINT_LABEL}={self.state.endpoint}",
                f"{WORKSPACE_LABEL}={self.state.workspace}",
                f"{ROLE_LABEL}={role}",
            ]
        }
        return list(self.client.containers.list(all=True, filters=filters))

    def ensure_balancer(self, image: Callable[[], str]) -> None:
        """Start the balancer when it is missing or stopped (same port, same pool).

        ``image`` gives the balancer image's tag; it is only called when one must start
        (finding or building the image takes a machine-wide lock, too costly per check)."""
        container = self.container(balancer_name(self.state.endpoint))
        if container is not None and container.status == "running":
            return
        if container is not None:
            container.remove(force=True)
        self.save()
        self.progress(f"starting the balancer on 127.0.0.1:{self.state.port}")
        start_balancer(
            self.client,
            self.state.endpoint,
            self.state.workspace,
            balancer_dir(self.folder),
            self.state.port,
            image(),
        )

    def _start(self, slot: int, member: Member) -> None:
        import docker

        old = self.replica(slot)
        if old is not None:
            old.remove(force=True)
        kwargs = replica_kwargs(self.state, slot, member, keys_dir(self.folder))
        # no restarts until it is ready: a failing init() keeps its exit code (3) to report
        restart_policy = kwargs.pop("restart_policy")
        kwargs["restart_policy"] = {"Name": "no"}
        kwargs["labels"] = {**kwargs["labels"], "serving.restart": restart_policy["Name"]}
        try:
            self.client.containers.run(member.image, **kwargs)
        except docker.errors.APIError as exc:
            raise DeploymentError(
                f"Docker could not start replica r{slot}: {exc.explanation}"
            ) from exc

    def _arm_restarts(self, slot: int) -> None:
        """A ready replica gets its restart policy (Docker restarts a crashed server)."""
        container = self.replica(slot)
        if container is not None:
            policy = container.labels.get("serving.restart", "unless-stopped")
            container.update(restart_policy={"Name": policy})

    def _discard(self, slot: int) -> None:
        """Out of the pool and gone, at once (a replica that failed or is replaced)."""
        with contextlib.suppress(DeploymentError):
            self.api.set_state(slot, "maint")
        container = self.replica(slot)
        if container is not None:
            container.remove(force=True)

    # -- readiness -----------------------------------------------------------------------
    def _check_running(self, slot: int) -> None:
        container = self.replica(slot)
        if container is None:
            raise DeploymentError(f"replica r{slot} disappeared while starting")
        if exited_early(container):
            raise exit_error(container, f"replica r{slot}", "the log tail is above")

    def wait_ready(self, slots: Collection[int]) -> None:
        """Let the balancer check ``slots`` without sending them traffic (drain) until their
        readiness check passes; fails when a replica exits or the wait is too long."""
        for slot in slots:
            self.api.set_state(slot, "drain")
        pending = set(slots)

        def ready() -> bool:
            statuses = self.api.servers()
            for slot in sorted(pending):
                status = statuses.get(slot)
                if status is not None and status.ready_to_enable:
                    pending.discard(slot)
                else:
                    self._check_running(slot)
            return not pending

        def timed_out(_waited: float) -> DeploymentError:
            return DeploymentError(
                f"replicas {', '.join(f'r{s}' for s in sorted(pending))} were not ready "
                f"after {READY_TIMEOUT_S:.0f} s",
                hint="see 'serving endpoints logs NAME --replica K'",
            )

        wait_until(
            ready,
            progress=self.progress,
            waiting=lambda waited: (
                f"waiting for {len(pending)} replica(s) to be ready ({waited:.0f} s)"
            ),
            timed_out=timed_out,
            poll_s=0.2,
        )

    def _wait_idle(self, slots: Collection[int]) -> None:
        deadline = time.monotonic() + self.state.limits.scoring_timeout_ms / 1000 + DRAIN_MARGIN_S
        while time.monotonic() < deadline:
            statuses = self.api.servers()
            if all(statuses.get(s) is None or statuses[s].idle for s in slots):
                return
            time.sleep(0.05)

    # -- pool changes --------------------------------------------------------------------
    def add(self, members: dict[int, Member]) -> None:
        """Start replicas, then put each in the pool once ready (all or none)."""
        started: list[int] = []
        try:
            for slot, member in sorted(members.items()):
                self.progress(f"starting replica r{slot} (revision {member.revision})")
                started.append(slot)
                self._start(slot, member)
            self.wait_ready(started)
        except BaseException:
            for slot in started:
                self._discard(slot)
            raise
        for slot, member in sorted(members.items()):
            self._arm_restarts(slot)
            self.api.set_state(slot, "ready")
            self.state.members[slot] = member
        self.save()

    def remove(self, slots: Iterable[int]) -> None:
        """Drain replicas (no new requests; in-flight ones finish), then stop them."""
        chosen = sorted(slots)
        for slot in chosen:
            self.api.set_state(slot, "drain")
        self._wait_idle(chosen)
        for slot in chosen:
            self.api.set_state(slot, "maint")
            self.state.members.pop(slot, None)
        self.save()
        import docker

        for slot in chosen:
            container = self.replica(slot)
            if container is not None:
                self.progress(f"stopping replica r{slot}")
                with contextlib.suppress(docker.errors.APIError):  # paused, or already gone
                    container.stop(timeout=STOP_TIMEOUT_S)
                container.remove(force=True)

    def resize(self, count: int) -> None:
        """Record ``count`` replicas, then add new ones (in the pool once ready) or drain
        and stop the newest ones: ``endpoints scale`` and the autoscaler alike."""
        self.state.replicas = count
        self.save()
        current = sorted(self.state.members)
        if count > len(current):
            slots: list[int] = []
            for _ in range(count - len(current)):
                slots.append(self.state.free_slot(set(slots)))
            self.add({slot: Member(self.state.revision, self.state.image) for slot in slots})
        elif count < len(current):
            self.remove(current[count:])

    def snapshot(self) -> tuple[dict[int, ServerStatus], int]:
        """The balancer's view of every slot and its queue (:meth:`RuntimeApi.snapshot`)."""
        return self.api.snapshot()

    def replace(self, slot: int) -> None:
        """A new container in ``slot`` (same image and revision), in the pool once ready."""
        member = self.state.members[slot]
        self._discard(slot)
        self._start(slot, member)
        try:
            self.wait_ready([slot])
        except BaseException:
            self._discard(slot)
            raise
        self._arm_restarts(slot)
        self.api.set_state(slot, "ready")

    def statuses(self) -> dict[int, ServerStatus]:
        """The balancer's view of every slot (empty when it does not answer)."""
        try:
            return self.api.servers()
        except DeploymentError:
            return {}

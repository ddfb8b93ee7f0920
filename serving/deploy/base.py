"""What every deployment target implements (:class:`Target`, and :class:`Replaceable` or
:class:`ReplicatedTarget` for updates without downtime), and what it is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from serving.deploy.spec import DeploymentSpec
from serving.environments import EnvSpec
from serving.registry import EndpointRecord, ModelRecord
from serving.workspace import Workspace

Progress = Callable[[str], None]
"""Receives one line of progress at a time (the CLI shows the latest)."""

Started = Callable[[dict[str, Any]], None]
"""Receives what a target started (process, container), before it waits for readiness, so
that it is recorded at once: an interrupted deploy leaves nothing 'delete' cannot find."""


def ignore(_runtime: dict[str, Any]) -> None:
    """A :data:`Started` that records nothing."""
    return None


@dataclass(frozen=True)
class DeployRequest:
    """Everything a target needs to run one endpoint."""

    name: str
    models: tuple[ModelRecord, ...]
    entry_script: Path | None
    """None: a no-code deployment (``nocode`` names the framework whose scorer serves)."""
    source_dir: Path | None
    env: EnvSpec
    keys: tuple[str, ...] = ()
    port: int | None = None
    workers: int | None = None
    threads: int | None = None
    deployment: DeploymentSpec = field(default_factory=DeploymentSpec)
    nocode: str = ""
    """The framework of a no-code deployment (``onnx``, ``sklearn``, ``tensorflow``); empty
    when the entry script serves."""

    def to_spec(self) -> dict[str, Any]:
        """What is recorded so ``update`` can redeploy with changes."""
        return {
            "models": [m.ref for m in self.models],
            "entry_script": str(self.entry_script) if self.entry_script else None,
            "nocode": self.nocode,
            "source_dir": str(self.source_dir) if self.source_dir else None,
            "env": self.env.to_dict(),
            "port": self.port,
            "workers": self.workers,
            "threads": self.threads,
            "deployment": self.deployment.to_dict(),
        }


@dataclass(frozen=True)
class Deployed:
    scoring_uri: str
    swagger_uri: str
    runtime: dict[str, Any]


@dataclass(frozen=True)
class Observed:
    """A target's view of a running endpoint."""

    state: str
    error: str | None = None


class Target(Protocol):
    """A place endpoints run. Implementations register themselves in ``targets``."""

    name: str

    def deploy(
        self, ws: Workspace, request: DeployRequest, progress: Progress, started: Started = ignore
    ) -> Deployed:
        """Start the endpoint and return once it is ready (or raise DeploymentError).
        ``started`` gets the runtime as soon as something runs."""
        ...

    def observe(self, ws: Workspace, record: EndpointRecord) -> Observed:
        """The endpoint's real state now (Healthy, Unhealthy, Failed)."""
        ...

    def logs(self, ws: Workspace, record: EndpointRecord, tail: int) -> str: ...

    def set_keys(self, ws: Workspace, record: EndpointRecord, keys: list[str]) -> None:
        """Make the running endpoint accept exactly ``keys`` (empty: no auth)."""
        ...

    def remove(self, ws: Workspace, record: EndpointRecord) -> None:
        """Stop the endpoint and remove what it left on the machine."""
        ...


@dataclass(frozen=True)
class Change:
    """An update of a single-server endpoint: the running version (``record``), what to
    serve instead (``request``) and where each new server's runtime is recorded."""

    record: EndpointRecord
    request: DeployRequest
    started: Started = ignore


@runtime_checkable
class Replaceable(Protocol):
    """A single-server target whose update starts the new version before the old one stops
    (or, where the port must stay, leaves the old one serving when the new one fails)."""

    def replace(self, ws: Workspace, change: Change, progress: Progress) -> Deployed:
        """Serve ``change.request`` in place of ``change.record``'s version; on
        DeploymentError the old version serves."""
        ...

    def discard_candidate(self, ws: Workspace, record: EndpointRecord) -> None:
        """Stop a new version a killed update left behind (``runtime['candidate']``)."""
        ...


@runtime_checkable
class ReplicatedTarget(Protocol):
    """A target whose endpoints have replicas: scaled and updated without downtime."""

    def roll(
        self, ws: Workspace, record: EndpointRecord, request: DeployRequest, progress: Progress
    ) -> Deployed:
        """Replace every replica with one of ``request``, new ones ready before old ones go."""
        ...

    def scale(
        self, ws: Workspace, record: EndpointRecord, replicas: int, progress: Progress
    ) -> Deployed:
        """Change the number of replicas; removed ones are drained first."""
        ...

    def replicas(self, ws: Workspace, record: EndpointRecord) -> list[dict[str, Any]]:
        """One row per replica: its id, container, revision, state and health."""
        ...

    def replica_logs(self, ws: Workspace, record: EndpointRecord, tail: int, replica: str) -> str:
        """The log of one replica (``r2`` or ``2``), of the balancer or of the supervisor."""
        ...


@runtime_checkable
class Autoscaled(Protocol):
    """A target whose endpoints can follow the load (``--autoscale``)."""

    def autoscaling(self, ws: Workspace, record: EndpointRecord) -> dict[str, Any] | None:
        """The policy, the current and desired size and the last decisions (newest last);
        None when the endpoint does not autoscale."""
        ...

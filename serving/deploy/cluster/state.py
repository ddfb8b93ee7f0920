"""The recorded state of a ``cluster`` endpoint (what the supervisor makes the containers
match), the names of its containers and network, and the lock that keeps the CLI and the
supervisor from acting on an endpoint at the same time. Free of Docker imports."""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from serving.deploy.toolkit import KEYS_FILE
from serving.errors import ConflictError
from serving.proc import Progress, file_lock
from serving.workspace import Workspace

SLOTS = 20
"""Server slots in the balancer; replica ``k`` always lives in slot ``k``."""
DEFAULT_REPLICAS = 2
DEFAULT_QUEUE_WAIT_MS = 500
"""AKS ``max_request_wait_time``: longer in the queue answers 503."""
DEFAULT_SCORING_TIMEOUT_MS = 60000
"""AKS ``scoring_timeout_ms``."""
HEAL_AFTER_S = 20.0
"""A running replica failing its readiness check this long (and idle) is replaced."""
STATE_FOLDER = "cluster"
KEYS_FOLDER = "keys"
"""The folder (in the state folder) the replicas mount, holding the keys file."""
DECISIONS_KEPT = 20
"""The autoscaler's last decisions kept in the state file (``endpoints show``)."""


def replica_name(endpoint: str, slot: int) -> str:
    """Container (and DNS) name of replica ``slot``."""
    return f"serving-{endpoint}-r{slot}"


def balancer_name(endpoint: str) -> str:
    return f"serving-{endpoint}-lb"


def network_name(endpoint: str) -> str:
    return f"serving-{endpoint}"


@dataclass(frozen=True)
class Limits:
    """Back-pressure like AKS: per-replica concurrency, queue wait and scoring timeout."""

    max_concurrent: int = 1
    """``max_concurrent_requests_per_replica``: more wait in the balancer's queue."""
    max_queue_wait_ms: int = DEFAULT_QUEUE_WAIT_MS
    """Longest wait in the queue; past it the client gets a 503 JSON answer."""
    scoring_timeout_ms: int = DEFAULT_SCORING_TIMEOUT_MS
    """run() limit in the replicas (504 there); the balancer waits a little longer (504)."""


@dataclass(frozen=True)
class Member:
    """A replica that belongs in the balancer's pool."""

    revision: int
    image: str


@dataclass(frozen=True)
class Decision:
    """One change (or failed try) of the autoscaler, as ``endpoints show`` prints it."""

    time: str
    """When it was decided: ISO 8601, UTC, seconds (the reason ends with how long the
    change took)."""
    from_replicas: int
    to_replicas: int
    reason: str
    """What was measured: utilization (percent), in-flight and queued requests, window."""
    utilization: float
    ok: bool = True
    """False: the change was tried and failed (the reason says why); the size stayed."""


@dataclass
class Autoscaling:
    """The autoscaling policy as the supervisor applies it (from the spec's
    :class:`~serving.deploy.spec.AutoscalePolicy`, defaults filled in) and its last
    decisions, newest last."""

    min_replicas: int
    max_replicas: int
    target_utilization: int
    refresh_s: float
    cooldown_s: float
    """Load must stay low this long before replicas are removed (docs/autoscale.md):
    ``SERVING_AUTOSCALE_COOLDOWN_S`` when the endpoint was deployed, whose default is
    :attr:`serving.config.PlatformSettings.autoscale_cooldown_s`."""
    decisions: list[Decision] = field(default_factory=list)

    def record(self, decision: Decision) -> None:
        self.decisions = [*self.decisions, decision][-DECISIONS_KEPT:]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Autoscaling:
        values = dict(data)
        values["decisions"] = [Decision(**d) for d in values.get("decisions", [])]
        return cls(**values)


@dataclass
class ClusterState:
    """What the endpoint should look like; the supervisor makes the containers match it."""

    endpoint: str
    workspace: str
    replicas: int
    revision: int
    image: str
    image_tag: str
    port: int
    run: dict[str, Any]
    limits: Limits
    members: dict[int, Member] = field(default_factory=dict)
    heal_after_s: float = HEAL_AFTER_S
    supervisor: dict[str, Any] | None = None
    auth: str = "key"
    """SERVING_AUTH of the replicas: ``key`` or ``none``. A state file written before the
    field says what its keys file says (see :meth:`from_dict`)."""
    tls: bool = False
    """The balancer terminates TLS with ``tls.pem`` in its folder (``--ssl-cert``)."""
    autoscale: Autoscaling | None = None
    """With ``--autoscale``: the supervisor sets ``replicas`` within its bounds."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["members"] = {str(k): asdict(v) for k, v in sorted(self.members.items())}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, keyed: bool = True) -> ClusterState:
        """``keyed``: whether the endpoint has keys, for a state written before ``auth``
        (then ``key`` if so, else ``none``, as its replicas ran)."""
        values = dict(data)
        values.setdefault("auth", "key" if keyed else "none")
        values["limits"] = Limits(**values.get("limits", {}))
        values["members"] = {int(k): Member(**v) for k, v in values.get("members", {}).items()}
        scaling = values.get("autoscale")
        values["autoscale"] = None if scaling is None else Autoscaling.from_dict(scaling)
        return cls(**values)

    def free_slot(self, taken: frozenset[int] | set[int] = frozenset()) -> int:
        """The lowest slot neither in the pool nor in ``taken``."""
        for slot in range(1, SLOTS + 1):
            if slot not in self.members and slot not in taken:
                return slot
        raise ConflictError(f"all {SLOTS} balancer slots of {self.endpoint} are in use")


def state_dir(ws: Workspace, endpoint: str) -> Path:
    return ws.endpoint_dir(endpoint) / STATE_FOLDER


def state_file(folder: Path) -> Path:
    return folder / "state.json"


def save_state(folder: Path, state: ClusterState) -> None:
    """Write atomically: the supervisor may read it at any time."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = state_file(folder).with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2, sort_keys=True))
    os.replace(tmp, state_file(folder))


def load_state(folder: Path) -> ClusterState | None:
    try:
        data = json.loads(state_file(folder).read_text())
    except FileNotFoundError:
        return None
    return ClusterState.from_dict(data, keyed="auth" in data or has_keys(folder))


def has_keys(folder: Path) -> bool:
    """Whether the keys file the replicas mount holds a key; one that cannot be read
    counts as keyed (fail closed), an empty one as deliberately keyless."""
    try:
        text = (folder / KEYS_FOLDER / KEYS_FILE).read_text()
    except OSError:
        return True
    return any(line.strip() for line in text.splitlines())


def endpoint_lock(
    folder: Path, *, wait_s: float | None = None, progress: Progress | None = None
) -> AbstractContextManager[bool]:
    """Hold the cluster state's lock (the CLI's and the supervisor's, one pass at a time);
    yields False when ``wait_s`` passed without getting it. ``progress`` hears when a
    command must wait (an autoscaling step may start replicas, up to their ready timeout)."""
    waiting = "waiting for the endpoint's supervisor (replicas starting or draining)"
    return file_lock(folder / "lock", progress, waiting, wait_s=wait_s)

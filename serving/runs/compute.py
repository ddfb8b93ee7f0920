"""Compute targets of a workspace: ``local`` (always there) and named Docker computes,
their records (the ``computes`` table), the executor that runs a plan on each, and the
queue that keeps at most ``max_nodes`` runs at once on a compute.

A Docker compute is this machine's Docker Engine with limits: each run is a container
from its environment's image with ``cpu`` cores and ``memory`` bytes at most, no network
unless ``network`` is set, and at most ``max_nodes`` containers at once; the other runs
wait as Queued, in submission order (:func:`wait_for_slot`).

There is no GPU here: Azure's GPU sizes (NC, ND, NV series) and ``use_gpu=True`` get a
one-line warning naming that (:func:`gpu_warning`), and the run uses CPUs only.

Imports only the standard library and the platform's lowest layers (errors, proc, the
database) at import time; the executors are imported when asked for.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.errors import ConflictError, NotFoundError, UserInputError
from serving.proc import file_lock
from serving.registry.db import Database
from serving.runs import records as rec

if TYPE_CHECKING:
    from serving.config import PlatformSettings
    from serving.runs.execution import Executor

Progress = Callable[[str], None]

LOCAL = "local"
DOCKER = "docker"
RAY = "ray"
KINDS = (DOCKER,)
"""Kinds a compute can be created with (``local`` exists already and is the only one)."""
COMPUTES_DIR = "computes"
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{1,31}$")
"""Azure's rule (a letter, then letters, digits and '-'), with '_' and up to 32 characters."""
MAX_NODES = 64
DEFAULT_SDK_MAX_NODES = 4
"""Azure's default ``max_nodes`` when a provisioning configuration leaves it out."""
MIN_MEMORY_BYTES = 6 * 2**20
"""Docker's floor for a memory limit."""
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
GPU_SIZE = re.compile(r"^(standard_)?n[cdv]\d", re.IGNORECASE)
"""Azure's GPU VM series: NC, ND and NV (``STANDARD_NC6``, ``Standard_ND40rs_v2``)."""
BUSY = frozenset({rec.PREPARING, rec.RUNNING, rec.FINALIZING, rec.CANCEL_REQUESTED})
"""Statuses that hold a node."""
WAITING = frozenset({rec.NOT_STARTED, rec.QUEUED})
RECONCILE_EVERY_S = 2.0
"""How often a waiting run checks that the runs ahead of it still have a live supervisor."""


def gpu_warning(vm_size: str | None = None, use_gpu: bool = False) -> str | None:
    """The line to show when a GPU is asked for (none is available here), else None."""
    if vm_size and GPU_SIZE.match(vm_size.strip()):
        return (
            f"vm_size {vm_size} is an Azure GPU size, but no GPU is available here: "
            "runs on this compute use CPUs only"
        )
    if use_gpu:
        return "use_gpu=True: no GPU is available here, the run uses CPUs only"
    return None


def parse_memory(value: str | int | float) -> int:
    """``1g``, ``512m``, ``1.5GiB`` or a byte count -> bytes (at least Docker's 6 MiB)."""
    match = _MEMORY.match(str(value))
    if match is None or isinstance(value, bool):
        raise UserInputError(f"invalid memory {value!r}: use a size such as 512m or 4g")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < MIN_MEMORY_BYTES:
        raise UserInputError(f"memory {value!r} is too small: Docker needs at least 6m")
    return size


def parse_cpu(value: str | int | float) -> float:
    """A number of cores, 0.01 to 1024."""
    try:
        cpu = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"invalid cpu {value!r}: use a number of cores such as 1.5") from None
    if isinstance(value, bool) or not 0.01 <= cpu <= 1024:
        raise UserInputError(f"cpu {value!r} is out of range (0.01 to 1024 cores)")
    return cpu


def check_max_nodes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UserInputError(f"max_nodes must be a whole number, not {value!r}")
    try:
        nodes = int(value)
    except ValueError:
        raise UserInputError(f"max_nodes must be a whole number, not {value!r}") from None
    if not 1 <= nodes <= MAX_NODES:
        raise UserInputError(f"max_nodes must be between 1 and {MAX_NODES}, not {nodes}")
    return nodes


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise UserInputError(
            f"compute name {name!r} is not valid: 2 to 32 characters, a letter first, then "
            "letters, digits, '-' or '_'"
        )
    if name == LOCAL:
        raise UserInputError("'local' is reserved: it is this machine, and always exists")
    return name


@dataclass(frozen=True)
class ComputeSpec:
    """What a compute allows a run: checked once, when it is built."""

    max_nodes: int | None = 1
    """Runs at once (None: no limit, the local compute)."""
    cpu: float | None = None
    """Cores per run (None: no limit)."""
    memory_bytes: int | None = None
    """Memory per run (None: no limit)."""
    network: bool = False
    """Whether a run's container may reach the network."""
    vm_size: str | None = None
    """The Azure size it was provisioned as (informational)."""
    min_nodes: int = 0
    idle_seconds_before_scaledown: int | None = None
    description: str | None = None
    azure_type: str | None = None
    """The Azure v1 class it was created as (``AmlCompute``), for the SDK's ``type``."""
    notes: tuple[str, ...] = ()
    """What differs from what was asked (no GPU here)."""
    address: str | None = None
    """A Ray compute's head (its dashboard URL, ``http://HEAD:8265``)."""
    docker_network: str | None = None
    """The private network of a Ray cluster started here (``compute up``)."""
    docker_gateway: str | None = None
    """This machine's address on that network (where the nodes reach it), recorded at
    ``compute up`` so a run need not ask the Docker Engine."""
    server_url: str | None = None
    """The workspace server's URL as a Ray cluster's nodes reach it (attached clusters)."""
    gpus: float | None = None
    """GPUs per run (Ray compute)."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComputeSpec:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        known["notes"] = tuple(known.get("notes") or ())
        return cls(**known)


@dataclass(frozen=True)
class ComputeRecord:
    """One compute target."""

    name: str
    kind: str
    spec: ComputeSpec = field(default_factory=ComputeSpec)
    created_at: str = ""

    @property
    def is_local(self) -> bool:
        return self.kind == LOCAL

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "kind", "spec", "created_at"}`` (what :class:`Plan.compute` holds)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "spec": self.spec.to_dict(),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComputeRecord:
        """Read back :meth:`to_dict` (``{}``: the local compute)."""
        if not data or data.get("kind", LOCAL) == LOCAL:
            return LOCAL_COMPUTE
        return cls(
            str(data["name"]),
            str(data["kind"]),
            ComputeSpec.from_dict(data.get("spec") or {}),
            str(data.get("created_at") or ""),
        )


LOCAL_COMPUTE = ComputeRecord(LOCAL, LOCAL, ComputeSpec(max_nodes=None))


def docker_spec(
    *,
    max_nodes: object = 1,
    cpu: str | float | None = None,
    memory: str | int | None = None,
    network: bool = False,
    vm_size: str | None = None,
    use_gpu: bool = False,
    min_nodes: int = 0,
    idle_seconds_before_scaledown: int | None = None,
    description: str | None = None,
    azure_type: str | None = None,
    notes: tuple[str, ...] = (),
) -> ComputeSpec:
    """A checked spec for a Docker compute (UserInputError naming the bad value)."""
    nodes = check_max_nodes(max_nodes)
    if isinstance(min_nodes, bool) or not isinstance(min_nodes, int) or min_nodes < 0:
        raise UserInputError(f"min_nodes must be a whole number >= 0, not {min_nodes!r}")
    if min_nodes > nodes:
        raise UserInputError(f"min_nodes ({min_nodes}) is more than max_nodes ({nodes})")
    warning = gpu_warning(vm_size, use_gpu)
    return ComputeSpec(
        max_nodes=nodes,
        cpu=parse_cpu(cpu) if cpu is not None else None,
        memory_bytes=parse_memory(memory) if memory is not None else None,
        network=bool(network),
        vm_size=vm_size or None,
        min_nodes=min_nodes,
        idle_seconds_before_scaledown=idle_seconds_before_scaledown,
        description=description,
        azure_type=azure_type,
        notes=(*notes, warning) if warning else tuple(notes),
    )


SPEC_OPTIONS = frozenset(
    {"vm_size", "use_gpu", "min_nodes", "idle_seconds_before_scaledown", "description"}
    | {"azure_type", "notes"}
)
"""What :meth:`ComputeStore.create` takes beyond its named arguments."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ComputeStore:
    """The compute targets of one workspace (``root`` is the workspace folder)."""

    def __init__(self, root: Path, db: Database) -> None:
        self.root = Path(root)
        self.db = db

    def create(
        self,
        name: str,
        kind: str = DOCKER,
        max_nodes: object = 1,
        cpu: str | float | None = None,
        memory: str | int | None = None,
        network: bool = False,
        **options: Any,
    ) -> ComputeRecord:
        """Record a new compute; ``options`` are :func:`docker_spec`'s others (vm_size,
        use_gpu, min_nodes, idle_seconds_before_scaledown, description, azure_type, notes)."""
        check_name(name)
        if kind not in KINDS:
            raise UserInputError(
                f"compute type {kind!r} is not supported: use {', '.join(KINDS)}",
                hint="'local' needs no compute: it is always there",
            )
        unknown = sorted(set(options) - SPEC_OPTIONS)
        if unknown:
            raise UserInputError(f"compute option(s) not supported: {', '.join(unknown)}")
        spec = docker_spec(max_nodes=max_nodes, cpu=cpu, memory=memory, network=network, **options)
        return self.add(name, spec, kind)

    def add(self, name: str, spec: ComputeSpec, kind: str = DOCKER) -> ComputeRecord:
        """Record a compute whose spec was built already (:func:`docker_spec`)."""
        check_name(name)
        record = ComputeRecord(name, kind, spec, _now())
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM computes WHERE name = ?", (name,)).fetchone():
                raise ConflictError(
                    f"compute {name} already exists",
                    hint=f"delete it first ('serving compute delete {name}') or pick another name",
                )
            conn.execute(
                "INSERT INTO computes (name, kind, spec, created_at) VALUES (?, ?, ?, ?)",
                (name, kind, json.dumps(spec.to_dict()), record.created_at),
            )
        return record

    def find(self, name: str) -> ComputeRecord | None:
        if name == LOCAL:
            return LOCAL_COMPUTE
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM computes WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return ComputeRecord(
            row["name"],
            row["kind"],
            ComputeSpec.from_dict(json.loads(row["spec"])),
            row["created_at"],
        )

    def get(self, name: str) -> ComputeRecord:
        found = self.find(name)
        if found is None:
            names = ", ".join(record.name for record in self.list())
            raise NotFoundError(
                f"compute {name} not found (there are: {names})",
                hint=f"create it with 'serving compute create {name} --type docker'",
            )
        return found

    def active_runs(self, name: str) -> list[str]:
        """Ids of the runs on ``name`` that have not ended (dead supervisors reconciled)."""
        from serving.runs.store import RunStore

        runs = RunStore(self.root, self.db)
        with self.db.read() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM runs WHERE target = ? AND status NOT IN (?, ?, ?)",
                    (name, *sorted(rec.TERMINAL)),
                )
            ]
        return [run_id for run_id in ids if not runs.find(run_id).terminal]

    def delete(self, name: str) -> ComputeRecord:
        """Remove a compute; refused while runs on it have not ended."""
        if name == LOCAL:
            raise UserInputError("the local compute cannot be deleted")
        record = self.get(name)
        active = self.active_runs(name)
        if active:
            raise ConflictError(
                f"compute {name} has {len(active)} run(s) not ended: {', '.join(active[:5])}",
                hint="wait for them or cancel them ('serving runs cancel RUN')",
            )
        with self.db.write() as conn:
            conn.execute("DELETE FROM computes WHERE name = ?", (name,))
        return record

    def list(self) -> list[ComputeRecord]:
        """``local`` first, then the others by name."""
        with self.db.read() as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM computes ORDER BY name")]
        return [LOCAL_COMPUTE, *(self.get(name) for name in names)]


def executor_for(
    compute: ComputeRecord | None, settings: PlatformSettings | None = None
) -> Executor:
    """The executor of ``compute`` (None or ``local``: a process on this machine)."""
    if compute is None or compute.is_local:
        from serving.runs.local_exec import LocalExecutor

        return LocalExecutor(settings)
    if compute.kind == DOCKER:
        from serving.runs.docker_exec import DockerExecutor

        return DockerExecutor(settings)
    if compute.kind == RAY:
        from serving.runs.ray.executor import RayExecutor

        return RayExecutor()
    raise UserInputError(f"compute {compute.name} has kind {compute.kind!r}, unknown here")


def lock_path(root: Path, name: str) -> Path:
    return Path(root) / COMPUTES_DIR / f"{name}.lock"


@dataclass(frozen=True)
class SlotState:
    """What a waiting run sees on its compute."""

    busy: list[str]
    ahead: list[str]
    """Runs submitted earlier that still wait (they start first)."""

    def free(self, max_nodes: int) -> bool:
        return len(self.busy) < max_nodes and not self.ahead

    def describe(self, compute: ComputeRecord) -> str:
        text = f"waiting for a node on compute {compute.name}: {len(self.busy)} of "
        text += f"{compute.spec.max_nodes} busy"
        return text + (f", {len(self.ahead)} run(s) queued ahead" if self.ahead else "")


def slot_state(db: Database, run_id: str, target: str) -> SlotState:
    """The script runs on ``target`` holding a node, and those waiting ahead of ``run_id``
    (created earlier; ties by insertion order)."""
    with db.read() as conn:
        own = conn.execute("SELECT created_at, rowid FROM runs WHERE id = ?", (run_id,)).fetchone()
        if own is None:
            raise NotFoundError(f"run {run_id} not found")
        statuses = sorted(BUSY | WAITING)
        rows = conn.execute(
            f"SELECT id, status, created_at, rowid FROM runs WHERE target = ? AND kind = ?"
            f" AND id != ? AND status IN ({', '.join('?' * len(statuses))})",
            (target, rec.SCRIPT, run_id, *statuses),
        ).fetchall()
    mine = (own["created_at"], own["rowid"])
    busy = [r["id"] for r in rows if r["status"] in BUSY]
    ahead = [
        r["id"] for r in rows if r["status"] in WAITING and (r["created_at"], r["rowid"]) < mine
    ]
    return SlotState(busy, ahead)


def _reconcile(root: Path, db: Database, run_ids: list[str]) -> None:
    """Runs whose supervisor died are recorded Failed, so they stop holding the queue."""
    from serving.runs.store import RunStore

    runs = RunStore(root, db)
    for run_id in run_ids:
        runs.find(run_id)


def wait_for_slot(
    db: Database,
    run_id: str,
    compute: ComputeRecord,
    progress: Progress,
    cancelled: Callable[[], bool],
    claim: Callable[[], None],
    *,
    poll_s: float = 0.2,
    root: Path | None = None,
) -> bool:
    """Wait until ``run_id`` may start on ``compute``, then call ``claim`` (which sets the
    run Preparing) under the compute's lock, so two supervisors never take the last node.

    A run may start when fewer than ``max_nodes`` runs on the compute are Preparing,
    Running or Finalizing and no run submitted earlier still waits. The caller records the
    run Queued before calling. Returns False, without claiming, once ``cancelled()`` is
    true. ``root`` is the workspace folder (default: the database's folder).
    """
    limit = compute.spec.max_nodes
    if compute.is_local or limit is None:
        claim()
        return True
    lock = lock_path(root or Path(db.path).parent, compute.name)
    shown = ""
    checked = time.monotonic()
    while not cancelled():
        with file_lock(lock):
            state = slot_state(db, run_id, compute.name)
            if state.free(limit):
                claim()
                return True
        line = state.describe(compute)
        if line != shown:
            progress(line)
            shown = line
        if time.monotonic() - checked >= RECONCILE_EVERY_S:
            _reconcile(root or Path(db.path).parent, db, [*state.busy, *state.ahead])
            checked = time.monotonic()
        time.sleep(poll_s)
    return False

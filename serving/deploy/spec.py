"""Typed deployment specs: what a deploy asks of its target beyond the models, script and
environment, one frozen dataclass per concern, checked once where it is built.

The CLI (``serving deploy --cpu ... --replicas ...``) and the SDK's deployment
configurations (:mod:`serving.sdk.configs`) build a :class:`DeploymentSpec`; every value is
checked by the constructors, so a target reads plain typed fields and never parses. The
registry records it with :meth:`DeploymentSpec.to_dict`; :meth:`DeploymentSpec.from_dict`
reads it back, and also reads the untyped ``options`` mapping older records carry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from serving.errors import UserInputError

MAX_REPLICAS = 16
"""Leaves balancer slots free for the surge of a rolling update and for replacements."""
MIN_MEMORY_BYTES = 6 * 2**20
"""Docker's floor for a memory limit."""
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_memory(text: str | int | float) -> int:
    """``1g``, ``512m``, ``1.5GiB`` or a byte count -> bytes (at least 6 MiB, Docker's floor)."""
    match = _MEMORY.match(str(text))
    if match is None:
        raise UserInputError(f"invalid --memory {text!r}: use a size such as 512m or 1g")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < MIN_MEMORY_BYTES:
        raise UserInputError(f"--memory {text!r} is too small: Docker needs at least 6m")
    return size


def parse_cpu(value: str | int | float) -> float:
    """A number of cores, 0.01 to 1024."""
    try:
        cpu = float(value)
    except (TypeError, ValueError):
        raise UserInputError(
            f"invalid --cpu {value!r}: use a number of cores such as 1.5"
        ) from None
    if not 0.01 <= cpu <= 1024:
        raise UserInputError(f"--cpu {value!r} is out of range (0.01 to 1024 cores)")
    return cpu


def check_replicas(value: object) -> int:
    """A replica count, 1 to :data:`MAX_REPLICAS`."""
    try:
        count: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise UserInputError(f"--replicas must be a number, not {value!r}") from None
    if not 1 <= count <= MAX_REPLICAS:
        raise UserInputError(f"--replicas must be between 1 and {MAX_REPLICAS}, not {count}")
    return count


def check_cooldown(seconds: float) -> float:
    """An autoscaling cool-down (``SERVING_AUTOSCALE_COOLDOWN_S``): finite, 0 or more."""
    if not 0 <= seconds < float("inf"):  # NaN fails too
        raise UserInputError(f"SERVING_AUTOSCALE_COOLDOWN_S must be 0 or more, not {seconds}")
    return seconds


def _positive(value: object, flag: str) -> int | None:
    """None, or a whole number of at least 1."""
    if value is None:
        return None
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise UserInputError(f"{flag} must be a whole number, not {value!r}") from None
    if number < 1:
        raise UserInputError(f"{flag} must be at least 1, not {number}")
    return number


@dataclass(frozen=True)
class Resources:
    """Limits of one container (docker; each replica or pod for cluster and kubernetes);
    None: no limit (kubernetes: the AKS default requests)."""

    cpu: float | None = None
    """Cores (``--cpu``, ``cpu_cores``)."""
    memory_bytes: int | None = None
    """Bytes (``--memory 1g``, ``memory_gb``)."""

    def __post_init__(self) -> None:
        if self.cpu is not None:
            object.__setattr__(self, "cpu", parse_cpu(self.cpu))
        if self.memory_bytes is not None:
            object.__setattr__(self, "memory_bytes", parse_memory(self.memory_bytes))

    @classmethod
    def parse(cls, cpu: str | float | None = None, memory: str | float | None = None) -> Resources:
        """From the CLI's spellings (``--memory 512m``)."""
        return cls(
            cpu=None if cpu is None else parse_cpu(cpu),
            memory_bytes=None if memory is None else parse_memory(memory),
        )

    @classmethod
    def of_gb(cls, cpu_cores: float | None, memory_gb: float | None) -> Resources:
        """From Azure's spellings (``cpu_cores``, ``memory_gb``), memory rounded to MiB."""
        memory = None if memory_gb is None else round(memory_gb * 1024) * 2**20
        return cls(cpu=cpu_cores, memory_bytes=memory)


@dataclass(frozen=True)
class ReplicaPolicy:
    """Replicas and back-pressure (cluster; kubernetes uses ``replicas`` as its minimum)."""

    replicas: int | None = None
    """None: the target's default (cluster 2, kubernetes 1)."""
    max_concurrent_requests: int | None = None
    """Per replica; None: workers x threads. More wait in the balancer's queue."""
    max_queue_wait_ms: int | None = None
    """Longest wait in the queue, then 503 (None: 500)."""
    heal_after_s: float | None = None
    """A replica failing its readiness check this long is replaced (None: 20 s)."""

    def __post_init__(self) -> None:
        if self.replicas is not None:
            object.__setattr__(self, "replicas", check_replicas(self.replicas))
        for name, flag in (
            ("max_concurrent_requests", "--max-concurrent-requests"),
            ("max_queue_wait_ms", "--max-queue-wait-ms"),
        ):
            object.__setattr__(self, name, _positive(getattr(self, name), flag))
        if self.heal_after_s is not None:
            object.__setattr__(self, "heal_after_s", float(self.heal_after_s) or None)

    def count(self, default: int) -> int:
        return self.replicas if self.replicas is not None else default


@dataclass(frozen=True)
class KubernetesOptions:
    """Where and how the kubernetes target applies an endpoint."""

    namespace: str = "default"
    context: str | None = None
    """kubeconfig context (None: the current one)."""
    service_type: str = "ClusterIP"
    image_registry: str | None = None
    """Registry the cluster pulls the image from (``--image-registry``)."""
    max_replicas: int | None = None
    """Autoscaler maximum (None: 10, or the replica count when higher)."""
    target_cpu_percent: int = 70

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", str(self.namespace or "default"))
        object.__setattr__(self, "service_type", str(self.service_type or "ClusterIP"))
        registry = str(self.image_registry or "").rstrip("/")
        object.__setattr__(self, "image_registry", registry or None)
        highest = _positive(self.max_replicas or None, "autoscale_max_replicas")
        object.__setattr__(self, "max_replicas", highest)
        percent = _positive(self.target_cpu_percent or 70, "autoscale_target_utilization")
        object.__setattr__(self, "target_cpu_percent", percent)


@dataclass(frozen=True)
class TlsOptions:
    """HTTPS on the endpoint (``--ssl-cert``/``--ssl-key``, ``enable_ssl``): the paths the
    certificate and key were given from, never their contents (the target copies them into
    the endpoint's folder, 0600: :mod:`serving.deploy.tls`)."""

    cert_file: str | None = None
    """PEM certificate (chain) as given."""
    key_file: str | None = None
    """PEM private key as given."""
    cname: str | None = None
    """Host name in the scoring URI and the Kubernetes Ingress (None: 127.0.0.1 / any)."""

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise UserInputError("--ssl-cert and --ssl-key go together: give both or neither")
        if self.cname and not self.cert_file:
            raise UserInputError("--ssl-cname needs --ssl-cert and --ssl-key")
        for name in ("cert_file", "key_file", "cname"):
            object.__setattr__(self, name, str(getattr(self, name) or "") or None)

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


@dataclass(frozen=True)
class AutoscalePolicy:
    """Replicas that follow the load on the cluster target (Azure's ``autoscale_*``): the
    endpoint's supervisor compares in-flight requests per replica with their concurrency
    limit and adds or removes replicas to bring it to ``target_utilization`` percent, within
    ``min_replicas`` .. ``max_replicas``. On Kubernetes the HorizontalPodAutoscaler gets the
    same bounds and target."""

    enabled: bool = False
    min_replicas: int | None = None
    """None: 1."""
    max_replicas: int | None = None
    """None: 10 (at most :data:`MAX_REPLICAS`)."""
    target_utilization: int | None = None
    """Percent of the replicas' concurrency in use that the autoscaler aims at (None: 70)."""
    refresh_seconds: float | None = None
    """How often the autoscaler decides (None: 1 s, as Azure's ``autoscale_refresh_seconds``)."""

    def __post_init__(self) -> None:
        given = [
            flag
            for flag, value in (
                ("--min-replicas", self.min_replicas),
                ("--max-replicas", self.max_replicas),
                ("--target-utilization", self.target_utilization),
                ("--refresh-seconds", self.refresh_seconds),
            )
            if value is not None
        ]
        if given and not self.enabled:
            raise UserInputError(f"{given[0]} needs --autoscale")
        for name in ("min_replicas", "max_replicas"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_replicas(value))
        if self.lowest > self.highest:
            raise UserInputError(
                f"--min-replicas {self.lowest} is above --max-replicas {self.highest}"
            )
        percent = self.target_utilization
        if percent is not None and not (isinstance(percent, int) and 1 <= percent <= 100):
            raise UserInputError(f"--target-utilization must be 1 to 100, not {percent!r}")
        refresh = self.refresh_seconds
        if refresh is not None and not (
            isinstance(refresh, int | float) and 0.1 <= refresh <= 3600
        ):
            raise UserInputError(f"--refresh-seconds must be 0.1 to 3600, not {refresh!r}")

    @property
    def lowest(self) -> int:
        return self.min_replicas or 1

    @property
    def highest(self) -> int:
        return self.max_replicas or max(min(10, MAX_REPLICAS), self.lowest)

    @property
    def target(self) -> int:
        return self.target_utilization or 70

    @property
    def refresh(self) -> float:
        return float(self.refresh_seconds or 1.0)


_LEGACY: dict[str, tuple[str, ...]] = {
    "resources": ("cpu", "memory"),
    "replicas": ("replicas", "max_concurrent_requests", "max_queue_wait_ms", "heal_after_s"),
    "kubernetes": (
        "namespace",
        "context",
        "service_type",
        "image_registry",
        "max_replicas",
        "target_cpu_percent",
    ),
}
"""The flat option names (:meth:`DeploymentSpec.from_options`), per concern."""


@dataclass(frozen=True)
class DeploymentSpec:
    """Everything about how an endpoint runs that is not its models, script or environment."""

    resources: Resources = field(default_factory=Resources)
    replicas: ReplicaPolicy = field(default_factory=ReplicaPolicy)
    kubernetes: KubernetesOptions = field(default_factory=KubernetesOptions)
    tls: TlsOptions = field(default_factory=TlsOptions)
    autoscale: AutoscalePolicy = field(default_factory=AutoscalePolicy)
    collect_model_data: bool = False
    """``ModelDataCollector`` in the score.py records to the workspace's default datastore
    (``--collect-model-data``, Azure's ``collect_model_data``); off: it records nothing."""
    model_data_dir: str | None = None
    """With ``collect_model_data``: the default datastore's folder, resolved by the CLI or
    SDK when the endpoint is deployed and recorded, so restarts and updates keep writing
    there (``<folder>/modeldata/<endpoint>/...``, docs/data-collection.md)."""
    scoring_timeout_ms: int | None = None
    """A run() longer than this answers 504 (cluster, kubernetes; None: 60000)."""
    max_batch_size: int | None = None
    """Dynamic batching of the model calls of a no-code or ``run_v2`` deployment: at most
    this many requests per call (None or 1: off)."""
    max_batch_delay_ms: float | None = None
    """How long a batch waits for more requests after its first (None: 0)."""

    def __post_init__(self) -> None:
        if self.autoscale.enabled and self.replicas.replicas is not None:
            raise UserInputError(
                "--replicas and --autoscale do not go together: the autoscaler sets the "
                "count between --min-replicas and --max-replicas"
            )
        if not self.collect_model_data or not self.model_data_dir:
            object.__setattr__(self, "model_data_dir", None)
        timeout = _positive(self.scoring_timeout_ms, "scoring_timeout_ms")
        object.__setattr__(self, "scoring_timeout_ms", timeout)
        object.__setattr__(
            self, "max_batch_size", _positive(self.max_batch_size, "--max-batch-size")
        )
        delay = self.max_batch_delay_ms
        if delay is not None and not (isinstance(delay, int | float) and 0 <= delay <= 10_000):
            raise UserInputError(f"--max-batch-delay-ms must be 0 to 10000, not {delay!r}")

    @property
    def batching(self) -> tuple[int, float]:
        """(max batch size, delay in ms) for the server settings; (0, 0.0) when off."""
        size = self.max_batch_size or 0
        return (size, float(self.max_batch_delay_ms or 0.0)) if size > 1 else (0, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """What the registry records (see :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DeploymentSpec:
        """Read :meth:`to_dict`'s output back."""
        data = data or {}
        return cls(
            resources=Resources(**dict(data.get("resources") or {})),
            replicas=ReplicaPolicy(**dict(data.get("replicas") or {})),
            kubernetes=KubernetesOptions(**dict(data.get("kubernetes") or {})),
            tls=TlsOptions(**dict(data.get("tls") or {})),
            autoscale=AutoscalePolicy(**dict(data.get("autoscale") or {})),
            collect_model_data=bool(data.get("collect_model_data", False)),
            model_data_dir=data.get("model_data_dir"),
            scoring_timeout_ms=data.get("scoring_timeout_ms"),
            max_batch_size=data.get("max_batch_size"),
            max_batch_delay_ms=data.get("max_batch_delay_ms"),
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> DeploymentSpec:
        """From flat option names, as the CLI's flags spell them and records written before
        the typed spec hold them (``cpu``, ``memory`` as ``512m``, ``replicas``, ...)."""
        parts = {
            concern: {key: options[key] for key in keys if options.get(key) is not None}
            for concern, keys in _LEGACY.items()
        }
        # ``512m``: Resources parses it
        parts["resources"]["memory_bytes"] = parts["resources"].pop("memory", None)
        return cls.from_dict({**parts, "scoring_timeout_ms": options.get("scoring_timeout_ms")})

    @classmethod
    def from_record(cls, spec: Mapping[str, Any]) -> DeploymentSpec:
        """From a recorded endpoint spec: ``deployment`` (typed), or the untyped
        ``options`` of records written before it."""
        if "deployment" in spec:
            return cls.from_dict(spec["deployment"])
        return cls.from_options(spec.get("options") or {})

    def flags_given(self) -> list[str]:
        """The target-specific CLI flags this spec sets (see :data:`FLAG_TARGETS`)."""
        given = {
            "--replicas": self.replicas.replicas,
            "--max-concurrent-requests": self.replicas.max_concurrent_requests,
            "--max-queue-wait-ms": self.replicas.max_queue_wait_ms,
            "--image-registry": self.kubernetes.image_registry,
            "--autoscale": self.autoscale.enabled or None,
        }
        return [flag for flag, value in given.items() if value is not None]

    def check_target(self, target: str) -> None:
        """Refuse flags that do not apply to ``target`` (``--replicas`` with docker, say)."""
        for flag in self.flags_given():
            allowed = FLAG_TARGETS[flag]
            if target not in allowed:
                raise UserInputError(f"{flag} applies to --target {' or '.join(allowed)}")


FLAG_TARGETS: dict[str, tuple[str, ...]] = {
    "--replicas": ("cluster", "kubernetes"),
    "--max-concurrent-requests": ("cluster",),
    "--max-queue-wait-ms": ("cluster",),
    "--image-registry": ("kubernetes",),
    "--autoscale": ("cluster", "kubernetes"),
}
"""The targets each target-specific flag applies to."""

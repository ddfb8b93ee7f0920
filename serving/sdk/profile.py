"""``Model.profile``: measure a model in a real deployment on this machine.

The models are deployed with the inference config on the local target (a gunicorn process
tree), driven by a short locust load (:mod:`serving.loadtest`) with the request bodies of
``input_dataset``, while the process tree's CPU and memory are sampled. The recommendation
is the peak use plus 20 % headroom (at least 0.1 core and 0.5 GB, v1's smallest sizes);
the deployment is removed afterwards.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.deploy import service
from serving.errors import UserInputError
from serving.sdk.configs import LocalDeployment
from serving.workspace import Workspace

if TYPE_CHECKING:
    from serving.loadtest import LoadTestSummary
    from serving.sdk.model import Model
    from serving.sdk.webservice import InferenceConfig

HEADROOM = 1.2
MIN_CPU = 0.1
MIN_MEMORY_GB = 0.5


def _round_up(value: float, step: float) -> float:
    return round(math.ceil(value / step - 1e-9) * step, 2)


class _Sampler(threading.Thread):
    """Peak CPU (cores) and memory (bytes) of a process and its children, sampled twice a
    second until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_cpu = 0.0
        self.peak_rss = 0
        self._stop_event = threading.Event()

    def _tree(self) -> list[Any]:
        import psutil

        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def run(self) -> None:
        import psutil

        seen: dict[int, Any] = {}
        while not self._stop_event.wait(0.5):
            cpu, rss = 0.0, 0
            for proc in self._tree():
                try:
                    known = seen.setdefault(proc.pid, proc)
                    cpu += known.cpu_percent(None) / 100
                    rss += known.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_cpu, self.peak_rss = max(self.peak_cpu, cpu), max(self.peak_rss, rss)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _bodies(input_dataset: Any) -> list[str] | None:
    """Request bodies: a Dataset's rows (first column) or files, a list of JSON strings or
    objects, or None (the swagger example)."""
    if input_dataset is None:
        return None
    if hasattr(input_dataset, "request_bodies"):
        items: Sequence[Any] = input_dataset.request_bodies()
    elif isinstance(input_dataset, list | tuple):
        items = input_dataset
    else:
        raise UserInputError(
            f"input_dataset must be a Dataset or a list of JSON strings, not {input_dataset!r}"
        )
    bodies = [item if isinstance(item, str) else json.dumps(item) for item in items]
    if not bodies:
        raise UserInputError("input_dataset holds no request body")
    return [json.dumps(json.loads(b)) for b in bodies]  # each checked to be JSON, one line


@dataclass
class ModelProfile:
    """v1's ``ModelProfile``: what profiling measured and recommends."""

    name: str
    description: str | None
    model_ids: list[str]
    summary: LoadTestSummary
    peak_cpu: float
    peak_memory_gb: float
    requested_cpu: float | None = None
    requested_memory_gb: float | None = None
    state: str = "Succeeded"
    created_time: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime()))  # fmt: skip

    @property
    def recommended_cpu(self) -> float:
        return max(MIN_CPU, _round_up(self.peak_cpu * HEADROOM, 0.1))

    @property
    def recommended_memory(self) -> float:
        return max(MIN_MEMORY_GB, _round_up(self.peak_memory_gb * HEADROOM, 0.1))

    @property
    def recommended_cpu_latency(self) -> float:
        return self.summary.p90_ms

    def wait_for_completion(self, show_output: bool = False) -> None:
        """Profiling finished before ``Model.profile`` returned; this prints its result."""
        if show_output:
            print(f"{self.name}: {self.state}")
            print(
                f"recommended cpu {self.recommended_cpu}, memory {self.recommended_memory} GB; "
                f"{self.summary.requests} requests, p50 {self.summary.p50_ms:g} ms, "
                f"p90 {self.summary.p90_ms:g} ms"
            )

    def get_details(self) -> dict[str, Any]:
        s = self.summary
        return {
            "name": self.name, "description": self.description, "state": self.state,
            "createdTime": self.created_time, "modelIds": self.model_ids,
            "requestedCpu": self.requested_cpu, "requestedMemoryInGB": self.requested_memory_gb,
            "maxUtilizedCpu": round(self.peak_cpu, 3),
            "maxUtilizedMemoryInGB": round(self.peak_memory_gb, 3),
            "totalQueries": s.requests, "successQueries": s.requests - s.failures,
            "successRate": round(1 - s.error_rate, 4) if s.requests else 0.0,
            "averageLatencyInMs": s.avg_ms, "latencyPercentile50InMs": s.p50_ms,
            "latencyPercentile90InMs": s.p90_ms, "latencyPercentile95InMs": s.p95_ms,
            "latencyPercentile99InMs": s.p99_ms, "measuredQueriesPerSecond": s.rps,
            "recommendedCpu": self.recommended_cpu,
            "recommendedMemoryInGB": self.recommended_memory,
            "reportDirectory": str(s.report_dir) if s.report_dir else None,
        }  # fmt: skip

    def serialize(self) -> dict[str, Any]:
        return self.get_details()


def _service_name(profile_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", profile_name.lower()).strip("-")[:22] or "model"
    return f"profile-{slug}"


def profile(
    workspace: Workspace,
    profile_name: str,
    models: Sequence[Model],
    inference_config: InferenceConfig,
    input_dataset: Any = None,
    *,
    cpu: float | None = None,
    memory_in_gb: float | None = None,
    description: str | None = None,
    duration_s: int = 10,
    users: int = 2,
) -> ModelProfile:
    """Deploy, load, sample and remove; see the module docstring."""
    from serving.loadtest import run_loadtest
    from serving.sdk.webservice import deploy_models

    if cpu is not None or memory_in_gb is not None:
        warnings.warn(
            "Model.profile: cpu/memory_in_gb are recorded as requested; the local deployment "
            "that is measured is not limited to them",
            UserWarning,
            stacklevel=3,
        )
    bodies = _bodies(input_dataset)
    name = _service_name(profile_name)
    deploy_models(workspace, name, models, inference_config, LocalDeployment(), overwrite=True)
    try:
        pid = int(workspace.endpoints.get(name).runtime["process"]["pid"])
        with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
            payload = None
            if bodies is not None:
                payload = Path(tmp) / "payload.jsonl"
                payload.write_text("\n".join(bodies) + "\n", encoding="utf-8")
            sampler = _Sampler(pid)
            sampler.start()
            try:
                summary = run_loadtest(
                    name, workspace=workspace, users=users, spawn_rate=users,
                    duration=duration_s, payload=payload, max_error_rate=None,
                    report_dir=workspace.path / "profiles" / f"{name}-{int(time.time())}",
                )  # fmt: skip
            finally:
                sampler.stop()
    finally:
        service.delete(workspace, name)
    return ModelProfile(
        name=profile_name, description=description, model_ids=[m.id for m in models],
        summary=summary, peak_cpu=sampler.peak_cpu, peak_memory_gb=sampler.peak_rss / 2**30,
        requested_cpu=cpu, requested_memory_gb=memory_in_gb,
    )  # fmt: skip


__all__ = ["ModelProfile", "profile"]

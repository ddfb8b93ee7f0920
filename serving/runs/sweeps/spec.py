"""What a sweep is, as its driver reads it from the parent run's definition: the base script
job, the sampling, the policy, the primary metric and the limits. Built once by the SDK
(or the CLI) and checked here, so the driver never parses loose dictionaries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.runs.errors import UserErrorException
from serving.runs.submit import ScriptJob
from serving.runs.sweeps import space as sp
from serving.runs.sweeps.policies import MAXIMIZE, MINIMIZE, Policy, policy_from_dict

KIND = "hyperdrive"
"""The parent run's kind (v1's ``HyperDriveRun`` type name is ``hyperdrive``)."""
RANDOM = "RANDOM"
GRID = "GRID"
BAYESIAN = "BayesianOptimization"
SAMPLINGS = (RANDOM, GRID, BAYESIAN)
DEFINITION_KEY = "hyperdrive"
DEFAULT_MAX_DURATION_MINUTES = 10080


def job_to_dict(job: ScriptJob) -> dict[str, Any]:
    return {
        "source_directory": str(job.source_directory),
        "script": job.script,
        "arguments": list(job.arguments),
        "environment": job.environment,
        "interpreter": job.interpreter,
        "compute": job.compute,
        "data_references": dict(job.data_references),
        "environment_variables": dict(job.environment_variables),
        "max_run_duration_seconds": job.max_run_duration_seconds,
        "max_retries": job.max_retries,
        "extra": dict(job.extra),
    }


def job_from_dict(data: Mapping[str, Any]) -> ScriptJob:
    values = dict(data)
    values["source_directory"] = Path(values["source_directory"])
    return ScriptJob(**values)


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: the child job, how parameters are drawn and children judged."""

    job: ScriptJob
    sampling: str
    space: dict[str, list[Any]]
    primary_metric_name: str
    primary_metric_goal: str
    max_total_runs: int
    max_concurrent_runs: int
    max_duration_minutes: float = DEFAULT_MAX_DURATION_MINUTES
    policy: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    resume_from: list[str] = field(default_factory=list)
    resume_child_runs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise UserErrorException(f"unknown sampling {self.sampling!r}")
        allowed = {GRID: sp.GRID_KINDS, BAYESIAN: sp.BAYESIAN_KINDS}.get(self.sampling)
        sp.check_space(self.space, allowed, _sampling_label(self.sampling))
        if self.primary_metric_goal not in (MAXIMIZE, MINIMIZE):
            raise UserErrorException("primary_metric_goal must be MAXIMIZE or MINIMIZE")
        if not self.primary_metric_name:
            raise UserErrorException("primary_metric_name must be a metric name")
        _positive("max_total_runs", self.max_total_runs, 1000)
        _positive("max_concurrent_runs", self.max_concurrent_runs, 1000)
        if self.max_duration_minutes <= 0:
            raise UserErrorException("max_duration_minutes must be more than 0")
        if self.sampling == BAYESIAN and self.policy.get("name") not in (
            None,
            "NoTerminationPolicy",
        ):
            raise UserErrorException(
                "Bayesian sampling does not support early termination policies: "
                "use policy=None or NoTerminationPolicy"
            )
        if len(self.resume_from) > 5:
            raise UserErrorException("resume_from takes at most 5 earlier sweeps")
        self.early_termination()  # its arguments are checked on construction

    def early_termination(self) -> Policy:
        return policy_from_dict(self.policy)

    @property
    def total_runs(self) -> int:
        """max_total_runs, or the size of the grid when that is smaller."""
        if self.sampling == GRID:
            return min(self.max_total_runs, sp.grid_size(self.space))
        return self.max_total_runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": job_to_dict(self.job),
            "sampling": self.sampling,
            "space": self.space,
            "primary_metric_name": self.primary_metric_name,
            "primary_metric_goal": self.primary_metric_goal,
            "max_total_runs": self.max_total_runs,
            "max_concurrent_runs": self.max_concurrent_runs,
            "max_duration_minutes": self.max_duration_minutes,
            "policy": self.policy,
            "seed": self.seed,
            "resume_from": list(self.resume_from),
            "resume_child_runs": list(self.resume_child_runs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        values = dict(data)
        values["job"] = job_from_dict(values["job"])
        return cls(**values)


def _positive(name: str, value: Any, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise UserErrorException(f"{name} must be an int from 1 to {most}, not {value!r}")


def _sampling_label(sampling: str) -> str:
    return {
        RANDOM: "RandomParameterSampling",
        GRID: "GridParameterSampling",
        BAYESIAN: "BayesianParameterSampling",
    }[sampling]

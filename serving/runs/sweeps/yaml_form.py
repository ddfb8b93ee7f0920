"""A sweep written in YAML, for ``serving sweeps submit sweep.yml``::

experiment: sweep-digits        # default: the source folder's name
script: train.py
source_directory: .             # relative to this file (default: its folder)
arguments: [--epochs, 12]
environment: env.yml            # a conda/pip file or a registered NAME[:VERSION];
                                # omitted: the submitting interpreter (user-managed)
compute: local
sampling: random                # random | grid | bayesian (Optuna's TPE)
seed: 42
parameters:                     # one expression each, v1's names and arguments
  --hidden: {choice: [8, 16, 32, 64]}
  --learning-rate: {loguniform: [-7, -2]}
policy: {bandit: {slack_factor: 0.15, delay_evaluation: 3}}   # or median, truncation,
                                # asha, none; keys are the v1 constructor's arguments
primary_metric: {name: accuracy, goal: maximize}
max_total_runs: 12
max_concurrent_runs: 2
max_duration_minutes: 60
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from serving.runs.errors import UserErrorException
from serving.runs.sweeps import space as sp
from serving.runs.sweeps.policies import policy_from_dict
from serving.runs.sweeps.spec import BAYESIAN, GRID, RANDOM

SAMPLINGS = {"random": RANDOM, "grid": GRID, "bayesian": BAYESIAN}
POLICIES = {
    "bandit": "BanditPolicy",
    "median": "MedianStoppingPolicy",
    "truncation": "TruncationSelectionPolicy",
    "asha": "AshaPolicy",
    "none": "NoTerminationPolicy",
}
KEYS = frozenset(
    {
        "experiment", "script", "source_directory", "arguments", "environment", "compute",
        "sampling", "seed", "parameters", "policy", "primary_metric", "max_total_runs",
        "max_concurrent_runs", "max_duration_minutes",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SweepFile:
    """A sweep file, checked: what the CLI turns into a job and a SweepSpec."""

    source_directory: Path
    script: str
    arguments: list[str]
    environment: str | None
    compute: str
    experiment: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    """SweepSpec's fields other than the job."""


def _expression(name: str, value: Any) -> list[Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise UserErrorException(
            f"parameter {name}: write one expression, e.g. {{choice: [1, 2]}} or "
            "{uniform: [0.01, 0.1]}"
        )
    kind, args = next(iter(value.items()))
    if kind not in sp.ARITY and kind != "choice":
        raise UserErrorException(f"parameter {name}: unknown expression {kind}")
    args = args if isinstance(args, list) else [args]
    built: list[Any] = getattr(sp, kind)(*args) if kind != "choice" else sp.choice(args)
    return built


def _policy(value: Any) -> dict[str, Any]:
    if value is None or value == "none":
        return policy_from_dict(None).to_dict()
    if isinstance(value, str):
        value = {value: {}}
    if not isinstance(value, dict) or len(value) != 1:
        raise UserErrorException("policy: write one of {bandit: {...}}, median, truncation, asha")
    key, args = next(iter(value.items()))
    if key not in POLICIES:
        raise UserErrorException(f"policy {key!r} is not one of {', '.join(POLICIES)}")
    try:
        return policy_from_dict({"name": POLICIES[key], "properties": args or {}}).to_dict()
    except TypeError as exc:
        raise UserErrorException(f"policy {key}: {exc}") from None


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    metric = data.get("primary_metric") or {}
    if not isinstance(metric, dict) or "name" not in metric:
        raise UserErrorException("primary_metric: write {name: accuracy, goal: maximize}")
    sampling = str(data.get("sampling", "random")).lower()
    if sampling not in SAMPLINGS:
        raise UserErrorException(f"sampling must be one of {', '.join(SAMPLINGS)}")
    parameters = data.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise UserErrorException("parameters: write {name: {expression: [arguments]}, ...}")
    total = data.get("max_total_runs")
    return {
        "sampling": SAMPLINGS[sampling],
        "space": {str(k): _expression(str(k), v) for k, v in parameters.items()},
        "primary_metric_name": str(metric["name"]),
        "primary_metric_goal": str(metric.get("goal", "maximize")).upper(),
        "max_total_runs": total,
        "max_concurrent_runs": data.get("max_concurrent_runs") or total,
        "max_duration_minutes": data.get("max_duration_minutes", 10080),
        "policy": _policy(data.get("policy")),
        "seed": data.get("seed"),
    }


def load_sweep(path: Path) -> SweepFile:
    """Read and check a sweep file (paths relative to its folder)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserErrorException(f"cannot read the sweep file {path}: {exc}") from None
    if not isinstance(data, dict) or "script" not in data:
        raise UserErrorException(f"{path} is not a sweep file: it needs at least a script")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise UserErrorException(f"{path}: unknown keys {', '.join(unknown)}")
    base = path.resolve().parent
    environment = data.get("environment")
    if isinstance(environment, str) and (base / environment).is_file():
        environment = str(base / environment)
    return SweepFile(
        source_directory=(base / str(data.get("source_directory", "."))).resolve(),
        script=str(data["script"]),
        arguments=[str(a) for a in data.get("arguments") or []],
        environment=environment,
        compute=str(data.get("compute", "local")),
        experiment=data.get("experiment"),
        settings=_settings(data),
    )

"""HyperDrive as in Azure ML v1 (``azureml.train.hyperdrive``): ``HyperDriveConfig`` over a
``ScriptRunConfig`` or an estimator, the samplings and parameter expressions, the
early-termination policies, and ``HyperDriveRun``.

``experiment.submit(HyperDriveConfig(...))`` records a parent run and starts its detached
driver (:mod:`serving.runs.sweeps.driver`); the children are script runs
``<parent id>_<index>`` whose arguments are the base arguments plus ``--name value`` for each
sampled parameter. Where this differs from v1: ``BayesianParameterSampling`` is Optuna's TPE
(not the Azure service's algorithm); every sampling takes a ``seed`` (v1 has none) so a sweep
can be repeated; ``AshaPolicy`` is an extra policy; ``pipeline=`` is not accepted.

In a workspace server the sweep executes on the server's machine: the config and the
source folder are sent through the submit route and the parent run is a
:class:`serving.sdk.hyperdrive_remote.RemoteHyperDriveRun` (the same methods).
"""

from __future__ import annotations

import copy
import enum
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from serving.runs.errors import UserErrorException
from serving.runs.records import RunRecord
from serving.runs.sweeps import results as res
from serving.runs.sweeps.launch import submit_sweep
from serving.runs.sweeps.policies import (
    AshaPolicy,
    BanditPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    Policy,
    TruncationSelectionPolicy,
)
from serving.runs.sweeps.space import (
    BAYESIAN_KINDS,
    GRID_KINDS,
    check_space,
    choice,
    flag,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from serving.runs.sweeps.spec import (
    BAYESIAN,
    DEFAULT_MAX_DURATION_MINUTES,
    GRID,
    RANDOM,
    SweepSpec,
)
from serving.sdk.run import Run
from serving.sdk.sweep_run import SweepResults

if TYPE_CHECKING:
    from serving.runs.submit import ScriptJob
    from serving.sdk.experiment import Experiment


class PrimaryMetricGoal(str, enum.Enum):
    """Whether the primary metric is best at its largest or its smallest."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


# -- samplings -----------------------------------------------------------------------------
class HyperParameterSampling:
    """A parameter space and how it is drawn (``seed``: not in v1; repeatable sweeps)."""

    sampling_name = RANDOM
    allowed: frozenset[str] | None = None

    def __init__(
        self,
        parameter_space: Mapping[str, Any],
        properties: Mapping[str, Any] | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        check_space(parameter_space, self.allowed, type(self).__name__)
        self._parameter_space = {str(k): list(v) for k, v in parameter_space.items()}
        self._properties = dict(properties or {})
        self.seed = seed

    @property
    def parameter_space(self) -> dict[str, Any]:
        return dict(self._parameter_space)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.sampling_name,
            "parameter_space": self.parameter_space,
            "properties": self._properties,
        }


class RandomParameterSampling(HyperParameterSampling):
    """v1: ``RandomParameterSampling(parameter_space, properties=None)``; Optuna's
    RandomSampler, seeded by ``seed``."""

    sampling_name = RANDOM


class GridParameterSampling(HyperParameterSampling):
    """v1: ``GridParameterSampling(parameter_space)``: every combination of ``choice``
    options, once each (Optuna's GridSampler)."""

    sampling_name = GRID
    allowed = GRID_KINDS

    def __init__(self, parameter_space: Mapping[str, Any], *, seed: int | None = None) -> None:
        super().__init__(parameter_space, seed=seed)


class BayesianParameterSampling(HyperParameterSampling):
    """v1: ``BayesianParameterSampling(parameter_space)`` (choice, uniform, quniform). Drawn
    by Optuna's TPE sampler, not the Azure service's Bayesian optimization."""

    sampling_name = BAYESIAN
    allowed = BAYESIAN_KINDS


# -- the config ----------------------------------------------------------------------------
class HyperDriveConfig:
    """What a sweep runs, how it samples, judges and stops children (v1's signature)."""

    _server_submits = True
    """A workspace server runs it too (:class:`serving.sdk.experiment.Experiment`)."""

    def __init__(
        self,
        hyperparameter_sampling: HyperParameterSampling,
        primary_metric_name: str,
        primary_metric_goal: PrimaryMetricGoal | str,
        max_total_runs: int,
        max_concurrent_runs: int | None = None,
        max_duration_minutes: float = DEFAULT_MAX_DURATION_MINUTES,
        policy: Policy | None = None,
        estimator: Any = None,
        run_config: Any = None,
        resume_from: Any = None,
        resume_child_runs: Any = None,
        pipeline: Any = None,
        debug_flag: Any = None,
        custom_run_id: str | None = None,
    ) -> None:
        if pipeline is not None:
            raise UserErrorException("HyperDriveConfig over a pipeline is not supported here")
        if (estimator is None) == (run_config is None):
            raise UserErrorException(
                "HyperDriveConfig needs exactly one of estimator or run_config"
            )
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise UserErrorException("hyperparameter_sampling must be a ParameterSampling")
        self.hyperparameter_sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = PrimaryMetricGoal(_goal_text(primary_metric_goal))
        self.max_total_runs = max_total_runs
        self.max_concurrent_runs = max_concurrent_runs or max_total_runs
        self.max_duration_minutes = max_duration_minutes
        self.policy: Policy = policy if policy is not None else NoTerminationPolicy()
        self.estimator = estimator
        self.run_config = run_config
        self.resume_from = [_run_id(r) for r in _listed(resume_from)]
        self.resume_child_runs = [_run_id(r) for r in _listed(resume_child_runs)]
        self.custom_run_id = custom_run_id
        self._spec = self._build_spec()  # checks everything now, as v1's constructor does
        self._warn_bayesian()

    def _warn_bayesian(self) -> None:
        if self.hyperparameter_sampling.sampling_name != BAYESIAN:
            return
        count = len(self.hyperparameter_sampling.parameter_space)
        if self.max_total_runs < 20 * count:
            warnings.warn(
                f"Bayesian sampling works best with at least {20 * count} runs "
                f"(20 per parameter); max_total_runs is {self.max_total_runs}",
                UserWarning,
                stacklevel=3,
            )
        if self.max_concurrent_runs > 20:
            warnings.warn(
                "Bayesian sampling learns from finished runs: more than 20 concurrent runs "
                "make it less effective",
                UserWarning,
                stacklevel=3,
            )

    def _job(self) -> ScriptJob:
        if self.run_config is not None:
            to_job = getattr(self.run_config, "to_job", None)
            if to_job is None:
                raise UserErrorException("run_config must be a ScriptRunConfig")
            job: ScriptJob = to_job()
            return job
        return estimator_job(self.estimator, self.hyperparameter_sampling.parameter_space)

    def _build_spec(self) -> SweepSpec:
        sampling = self.hyperparameter_sampling
        return SweepSpec(
            job=self._job(),
            sampling=sampling.sampling_name,
            space=sampling.parameter_space,
            primary_metric_name=self.primary_metric_name,
            primary_metric_goal=self.primary_metric_goal.value,
            max_total_runs=self.max_total_runs,
            max_concurrent_runs=self.max_concurrent_runs,
            max_duration_minutes=self.max_duration_minutes,
            policy=self.policy.to_dict(),
            seed=sampling.seed,
            resume_from=self.resume_from,
            resume_child_runs=self.resume_child_runs,
        )

    def _submit(self, experiment: Experiment, show_output: bool = False, **kwargs: Any) -> Any:
        """The sweep's parent run: a HyperDriveRun, or in a workspace server a
        RemoteHyperDriveRun (the sweep executes on the server's machine)."""
        run: Any
        if experiment._remote is not None:
            from serving.hub.remote.run_kinds import submit_sweep as send_sweep
            from serving.sdk.hyperdrive_remote import RemoteHyperDriveRun

            found = send_sweep(
                experiment._remote, experiment.name, self._spec, run_id=self.custom_run_id
            )
            run = RemoteHyperDriveRun(experiment, found.id, hyperdrive_config=self)
        else:
            record = submit_sweep(
                experiment._store, experiment.name, self._spec, run_id=self.custom_run_id
            )
            run = HyperDriveRun(experiment, record.id, hyperdrive_config=self)
        if show_output:
            run.wait_for_completion(show_output=True)
        return run


def _goal_text(goal: PrimaryMetricGoal | str) -> str:
    text = goal.value if isinstance(goal, PrimaryMetricGoal) else str(goal).upper()
    if text not in ("MAXIMIZE", "MINIMIZE"):
        raise UserErrorException(
            "primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or MINIMIZE"
        )
    return text


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _run_id(value: Any) -> str:
    found = getattr(value, "id", value)
    if not isinstance(found, str):
        raise UserErrorException(f"expected a run or a run id, not {type(value).__name__}")
    return found


def estimator_job(estimator: Any, space: Mapping[str, Any]) -> ScriptJob:
    """The estimator's job without the ``script_params`` that the sweep samples (v1 removes
    them from the base arguments with a warning; a ScriptRunConfig keeps its own)."""
    sampled = {flag(name) for name in space}
    params = dict(getattr(estimator, "script_params", {}) or {})
    duplicates = [k for k in params if flag(str(k)) in sampled]
    if duplicates:
        warnings.warn(
            "script_params " + ", ".join(map(str, duplicates)) + " are sampled by the sweep: "
            "removed from the estimator's arguments",
            UserWarning,
            stacklevel=4,
        )
    trimmed = copy.copy(estimator)
    trimmed.script_params = {k: v for k, v in params.items() if k not in duplicates}
    job: ScriptJob = trimmed.to_script_run_config().to_job()
    return job


# -- the run -------------------------------------------------------------------------------
class HyperDriveRun(SweepResults, Run):
    """The parent run of a sweep: its children, their parameters and metrics, the best."""

    def __init__(
        self, experiment: Experiment, run_id: str, hyperdrive_config: Any = None, **kw: Any
    ):
        super().__init__(experiment, run_id, **kw)
        self.hyperdrive_config = hyperdrive_config

    def _record_of(self, run_id: str) -> RunRecord:
        return self._store.get(run_id)

    def _children_of(self, parent: RunRecord) -> list[res.ChildResult]:
        return res.children(self._store, parent)

    def _best_id_from_table(self) -> str | None:
        return res.best_from_table(self._store, self._run_id)

    def _child(self, run_id: str) -> Run:
        return Run(self._experiment, run_id)


__all__ = [
    "AshaPolicy",
    "BanditPolicy",
    "BayesianParameterSampling",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveRun",
    "HyperParameterSampling",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TruncationSelectionPolicy",
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
]

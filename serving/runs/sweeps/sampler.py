"""Drawing a sweep's parameters with Optuna (ask and tell, an in-memory study):

- ``RANDOM``: ``RandomSampler(seed)``: with a seed, the same sequence of parameters every
  time, whatever order the children end in;
- ``GRID``: ``GridSampler`` over every combination of the ``choice`` options (each visited
  once; the order is shuffled by the seed);
- ``BayesianOptimization``: ``TPESampler(seed)``: Optuna's Tree-structured Parzen Estimator,
  not the Azure service's own Bayesian algorithm; it learns from the children that ended.

A warm start (``resume_from``) adds the earlier sweeps' children to the study as finished
trials; ``resume_child_runs`` draws those children's parameters again first.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from serving.runs.sweeps import space as sp
from serving.runs.sweeps.policies import MAXIMIZE
from serving.runs.sweeps.spec import BAYESIAN, GRID, SweepSpec


@dataclass(frozen=True)
class Draw:
    """One trial's parameters: the Optuna trial number, the base draw and the values."""

    number: int
    base: dict[str, Any]
    values: dict[str, sp.Value]


def _sampler(spec: SweepSpec) -> Any:
    import optuna

    if spec.sampling == GRID:

        class Grid(optuna.samplers.GridSampler):
            def after_trial(self, *args: Any, **kwargs: Any) -> None:
                """No ``study.stop()`` at the grid's end (the driver counts the runs)."""

        return Grid(sp.grid(spec.space), seed=spec.seed)
    if spec.sampling == BAYESIAN:
        return optuna.samplers.TPESampler(seed=spec.seed)
    return optuna.samplers.RandomSampler(seed=spec.seed)


class Sampler:
    """The sweep's Optuna study."""

    def __init__(self, spec: SweepSpec) -> None:
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        self.spec = spec
        self.distributions = sp.distributions(spec.space)
        self.study = optuna.create_study(
            direction="maximize" if spec.primary_metric_goal == MAXIMIZE else "minimize",
            sampler=_sampler(spec),
        )
        self._open: dict[int, Any] = {}

    def ask(self) -> Draw:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's notes on enqueued/fixed params
            trial = self.study.ask(self.distributions)
        self._open[trial.number] = trial
        base = {name: trial.params[name] for name in self.spec.space}
        return Draw(trial.number, base, sp.values(self.spec.space, base))

    def tell(self, number: int, value: float | None) -> None:
        """The trial ended with its best primary metric (None: it logged none)."""
        import optuna

        trial = self._open.pop(number, None)
        if trial is None:
            return
        if value is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, float(value))

    def warm_start(self, trials: Sequence[tuple[Mapping[str, Any], float | None]]) -> int:
        """Earlier children (base draw, best value) as finished trials; returns how many fit
        this space (others are skipped)."""
        import optuna

        added = 0
        for base, value in trials:
            try:
                trial = optuna.trial.create_trial(
                    params={name: base[name] for name in self.spec.space},
                    distributions=self.distributions,
                    value=value,
                    state=optuna.trial.TrialState.COMPLETE
                    if value is not None
                    else optuna.trial.TrialState.FAIL,
                )
                self.study.add_trial(trial)
                added += 1
            except (KeyError, ValueError):
                continue
        return added

    def enqueue(self, base: Mapping[str, Any]) -> None:
        """Draw these base values next (a resumed child's parameters)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.study.enqueue_trial({name: base[name] for name in self.spec.space})

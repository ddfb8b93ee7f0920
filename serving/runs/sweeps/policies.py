"""Early-termination policies as pure functions over the children's metric histories.

A history is the list of values a child logged for the primary metric, in order; the N-th
value is *interval* N (every ``run.log`` of the metric is one interval, as in v1). Whenever
a child reaches an interval N where ``policy.due(N)``, the sweep's driver asks the policy
about every running child that has reached N (see :func:`evaluate`), comparing it with
every child (running or ended) that has reached N, each cut to its first N values:

- ``BanditPolicy``: due at every multiple of ``evaluation_interval`` that is at least
  ``delay_evaluation``. The child's best value over intervals 1..N is compared with the best
  of those bests: maximize stops it when ``best_child < best / (1 + slack_factor)`` or
  ``best_child < best - slack_amount``; minimize when ``best_child > best * (1 + slack_factor)``
  or ``best_child > best + slack_amount``.
- ``MedianStoppingPolicy``: due as Bandit; stops the child when its best over 1..N is
  strictly worse than the median of the running averages (mean of the first N values) of
  all children that reached N, itself included.
- ``TruncationSelectionPolicy``: due as Bandit; ranks the children at N by their best over
  1..N and stops the child if it is among the worst ``floor(count * truncation_percentage /
  100)`` and strictly worse than the worst child kept (ties are kept). A young child is
  compared only with the others' values at the same interval.
- ``AshaPolicy`` (not in v1; asynchronous successive halving): rungs at intervals
  ``grace_period * reduction_factor ** k``; a child reaching a rung continues only if its best
  so far is at least as good as the ``1 - 1 / reduction_factor`` quantile of the bests of
  the children that reached that rung (itself included), so about one in
  ``reduction_factor`` is promoted past each rung.
- ``NoTerminationPolicy``: never stops anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from serving.runs.errors import UserErrorException

MAXIMIZE = "MAXIMIZE"
MINIMIZE = "MINIMIZE"
Histories = Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class Stop:
    """Why a policy stops a child: the policy's name and the comparison it made."""

    policy: str
    detail: str

    def message(self) -> str:
        return f"canceled by the early termination policy {self.policy}: {self.detail}"


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserErrorException(f"{name} must be an int of at least {minimum}, not {value!r}")
    return value


def best_of(values: Sequence[float], goal: str) -> float:
    return max(values) if goal == MAXIMIZE else min(values)


def worse(a: float, b: float, goal: str) -> bool:
    """``a`` is strictly worse than ``b``."""
    return a < b if goal == MAXIMIZE else a > b


def bests_at(histories: Histories, interval: int, goal: str) -> dict[str, float]:
    """Each child that reached ``interval``: its best over intervals 1..interval."""
    return {
        run: best_of(values[:interval], goal)
        for run, values in histories.items()
        if len(values) >= interval
    }


class _Periodic:
    """Due at every multiple of ``evaluation_interval`` at least ``delay_evaluation`` (a
    mixin: each policy declares its fields in v1's positional order)."""

    evaluation_interval: int
    delay_evaluation: int
    name: ClassVar[str] = ""

    def _check_intervals(self) -> None:
        _int("evaluation_interval", self.evaluation_interval, 1)
        _int("delay_evaluation", self.delay_evaluation, 0)

    def due(self, interval: int) -> bool:
        return interval % self.evaluation_interval == 0 and interval >= self.delay_evaluation

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "properties": asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class BanditPolicy(_Periodic):
    """v1: ``BanditPolicy(evaluation_interval=1, slack_factor=None, slack_amount=None,
    delay_evaluation=0)``; exactly one of slack_factor and slack_amount."""

    evaluation_interval: int = 1
    slack_factor: float | None = None
    slack_amount: float | None = None
    delay_evaluation: int = 0
    name: ClassVar[str] = "BanditPolicy"

    def __post_init__(self) -> None:
        self._check_intervals()
        if (self.slack_factor is None) == (self.slack_amount is None):
            raise UserErrorException(
                "BanditPolicy needs exactly one of slack_factor or slack_amount"
            )
        slack = self.slack_factor if self.slack_factor is not None else self.slack_amount
        if isinstance(slack, bool) or not isinstance(slack, (int, float)) or slack < 0:
            raise UserErrorException("BanditPolicy's slack must be a number of at least 0")

    def threshold(self, best: float, goal: str) -> float:
        sign = 1.0 if goal == MAXIMIZE else -1.0
        if self.slack_factor is not None:
            factor = 1.0 + self.slack_factor
            return best / factor if goal == MAXIMIZE else best * factor
        return best - sign * float(self.slack_amount or 0.0)

    def check(self, run: str, interval: int, histories: Histories, goal: str) -> Stop | None:
        bests = bests_at(histories, interval, goal)
        if run not in bests:
            return None
        best = best_of(list(bests.values()), goal)
        limit = self.threshold(best, goal)
        if not worse(bests[run], limit, goal):
            return None
        return Stop(
            self.name,
            f"best {bests[run]:.6g} at interval {interval} is outside the slack of the best "
            f"{best:.6g} (limit {limit:.6g})",
        )


@dataclass(frozen=True)
class MedianStoppingPolicy(_Periodic):
    """v1: ``MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=0)``."""

    evaluation_interval: int = 1
    delay_evaluation: int = 0
    name: ClassVar[str] = "MedianStoppingPolicy"

    def __post_init__(self) -> None:
        self._check_intervals()

    def check(self, run: str, interval: int, histories: Histories, goal: str) -> Stop | None:
        reached = {r: list(v[:interval]) for r, v in histories.items() if len(v) >= interval}
        if run not in reached:
            return None
        median = statistics.median(statistics.fmean(v) for v in reached.values())
        mine = best_of(reached[run], goal)
        if not worse(mine, median, goal):
            return None
        return Stop(
            self.name,
            f"best {mine:.6g} at interval {interval} is worse than the median {median:.6g} "
            "of the running averages",
        )


@dataclass(frozen=True)
class TruncationSelectionPolicy(_Periodic):
    """v1: ``TruncationSelectionPolicy(truncation_percentage, evaluation_interval=1,
    delay_evaluation=0)``."""

    truncation_percentage: int
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    name: ClassVar[str] = "TruncationSelectionPolicy"

    def __post_init__(self) -> None:
        self._check_intervals()
        pct = self.truncation_percentage
        if isinstance(pct, bool) or not isinstance(pct, int) or not 1 <= pct <= 99:
            raise UserErrorException("truncation_percentage must be an int from 1 to 99")

    def check(self, run: str, interval: int, histories: Histories, goal: str) -> Stop | None:
        bests = bests_at(histories, interval, goal)
        if run not in bests:
            return None
        ranked = sorted(bests.values(), reverse=goal == MINIMIZE)  # worst first
        cut = len(ranked) * self.truncation_percentage // 100
        if cut == 0 or not worse(bests[run], ranked[cut], goal):
            return None
        return Stop(
            self.name,
            f"best {bests[run]:.6g} at interval {interval} is in the lowest "
            f"{self.truncation_percentage}% of {len(ranked)} runs",
        )


@dataclass(frozen=True)
class AshaPolicy:
    """Asynchronous successive halving (not in v1): ``grace_period`` intervals before the
    first rung, then rungs every ``reduction_factor`` times further."""

    grace_period: int = 1
    reduction_factor: int = 3
    name: ClassVar[str] = "AshaPolicy"

    def __post_init__(self) -> None:
        _int("grace_period", self.grace_period, 1)
        _int("reduction_factor", self.reduction_factor, 2)

    def due(self, interval: int) -> bool:
        rung = self.grace_period
        while rung < interval:
            rung *= self.reduction_factor
        return rung == interval

    def check(self, run: str, interval: int, histories: Histories, goal: str) -> Stop | None:
        bests = bests_at(histories, interval, goal)
        if run not in bests or len(bests) < 2:
            return None
        keep = 1.0 / self.reduction_factor
        cutoff = _quantile(list(bests.values()), 1.0 - keep if goal == MAXIMIZE else keep)
        if not worse(bests[run], cutoff, goal):
            return None
        return Stop(
            self.name,
            f"best {bests[run]:.6g} at rung {interval} is below the top 1/"
            f"{self.reduction_factor} of {len(bests)} runs (cutoff {cutoff:.6g})",
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "properties": asdict(self)}


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class NoTerminationPolicy:
    """v1: no child is stopped early."""

    name: ClassVar[str] = "NoTerminationPolicy"

    def due(self, interval: int) -> bool:
        return False

    def check(self, run: str, interval: int, histories: Histories, goal: str) -> Stop | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "properties": {}}


Policy = (
    BanditPolicy
    | MedianStoppingPolicy
    | TruncationSelectionPolicy
    | AshaPolicy
    | NoTerminationPolicy
)
_BY_NAME: dict[str, type[Any]] = {
    cls.name: cls
    for cls in (
        BanditPolicy,
        MedianStoppingPolicy,
        TruncationSelectionPolicy,
        AshaPolicy,
        NoTerminationPolicy,
    )
}


def policy_from_dict(data: Mapping[str, Any] | None) -> Policy:
    if not data:
        return NoTerminationPolicy()
    cls = _BY_NAME.get(str(data.get("name")))
    if cls is None:
        raise UserErrorException(f"unknown early termination policy {data.get('name')!r}")
    policy: Policy = cls(**dict(data.get("properties") or {}))
    return policy


def evaluate(
    policy: Policy,
    histories: Histories,
    grown: Mapping[str, tuple[int, int]],
    active: Iterable[str],
    goal: str,
) -> dict[str, Stop]:
    """The active children to stop now. ``grown`` holds, for each child whose history grew
    since the last call, its (old, new) length: every due interval a new value reached has
    new members, so every active child that reached that interval is judged again there (a
    child that runs ahead is judged when the others catch up with it)."""
    touched = sorted(
        {n for old, new in grown.values() for n in range(old + 1, new + 1) if policy.due(n)}
    )
    candidates = list(active)
    out: dict[str, Stop] = {}
    for interval in touched:
        for run in candidates:
            if run not in out and len(histories.get(run, ())) >= interval:
                stop = policy.check(run, interval, histories, goal)
                if stop is not None:
                    out[run] = stop
    return out

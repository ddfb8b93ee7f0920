"""Early-termination policies as pure functions, against outcomes computed by hand from
v1's rules (AZUREML_TRAINING.md §1.12): which child each policy stops at which interval,
and that it stops no other."""

from __future__ import annotations

import pytest

from serving.runs.errors import UserErrorException
from serving.runs.sweeps.policies import (
    MAXIMIZE,
    MINIMIZE,
    AshaPolicy,
    BanditPolicy,
    Histories,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    Policy,
    TruncationSelectionPolicy,
    evaluate,
    policy_from_dict,
)


def stopped(policy: Policy, histories: Histories, goal: str = MAXIMIZE) -> dict[str, int]:
    """Replay in lockstep (every child logs interval N before any logs N+1; a stopped child
    logs no more); {child: the interval it was stopped at}."""
    out: dict[str, int] = {}
    longest = max(len(v) for v in histories.values())
    for interval in range(1, longest + 1):
        view = {r: v[: out.get(r, interval)] for r, v in histories.items()}
        grown = {r: (interval - 1, interval) for r, v in view.items() if len(v) == interval}
        active = [r for r in histories if r not in out]
        for run, stop in evaluate(policy, view, grown, active, goal).items():
            assert stop.policy == policy.name
            out[run] = interval
    return out


# -- Bandit -------------------------------------------------------------------------------
def test_bandit_slack_factor_is_v1s_example() -> None:
    # best 0.8 at the interval: anything below 0.8 / 1.2 = 0.667 stops, 0.7 stays
    runs = {"best": [0.8], "near": [0.7], "kept": [0.667], "edge": [0.666], "far": [0.6]}
    assert stopped(BanditPolicy(slack_factor=0.2), runs) == {"edge": 1, "far": 1}
    assert stopped(BanditPolicy(1, 0.2), runs) == {"edge": 1, "far": 1}  # v1's positions


def test_bandit_slack_amount_and_its_boundary() -> None:
    runs = {"best": [0.75], "at_limit": [0.5], "below": [0.49]}  # exact in binary
    assert stopped(BanditPolicy(slack_amount=0.25), runs) == {"below": 1}


def test_bandit_uses_each_runs_best_so_far_not_its_last_value() -> None:
    runs = {"steady": [0.5, 0.6, 0.7, 0.8], "dip": [0.5, 0.7, 0.1, 0.1]}
    assert stopped(BanditPolicy(slack_factor=0.2), runs) == {}


def test_bandit_minimize_mirrors_the_rule() -> None:
    runs = {"best": [1.0], "inside": [1.15], "outside": [1.3]}
    assert stopped(BanditPolicy(slack_factor=0.2), runs, MINIMIZE) == {"outside": 1}
    assert stopped(BanditPolicy(slack_amount=0.25), runs, MINIMIZE) == {"outside": 1}


def test_bandit_waits_for_the_delay_and_evaluates_every_interval_multiple() -> None:
    # plateau falls out of the slack at interval 3 (best 0.7 / 1.2 = 0.583 > 0.5)
    runs = {"good": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0], "plateau": [0.5] * 6}
    assert stopped(BanditPolicy(slack_factor=0.2), runs) == {"plateau": 3}
    assert stopped(BanditPolicy(evaluation_interval=2, slack_factor=0.2), runs) == {"plateau": 4}
    delayed = BanditPolicy(evaluation_interval=1, slack_factor=0.2, delay_evaluation=5)
    assert stopped(delayed, runs) == {"plateau": 5}
    assert [delayed.due(n) for n in range(1, 7)] == [False] * 4 + [True, True]
    every2 = BanditPolicy(evaluation_interval=2, slack_factor=0.1, delay_evaluation=3)
    assert [n for n in range(1, 9) if every2.due(n)] == [4, 6, 8]


def test_a_run_alone_at_its_interval_is_never_stopped() -> None:
    assert stopped(BanditPolicy(slack_amount=0.0), {"only": [0.1, 0.05]}) == {}


def test_catching_up_checks_every_due_interval_in_between() -> None:
    policy = BanditPolicy(slack_factor=0.1)
    histories = {"good": [0.9, 0.9, 0.9], "bad": [0.9, 0.1, 0.1]}
    # bad's best stays 0.9, so no interval stops it even when checked all at once
    assert evaluate(policy, histories, {"bad": (0, 3)}, ["bad"], MAXIMIZE) == {}
    histories = {"good": [0.9, 0.9, 0.9], "bad": [0.3, 0.3, 0.3]}
    stop = evaluate(policy, histories, {"bad": (0, 3)}, ["bad"], MAXIMIZE)["bad"]
    assert "interval 1" in stop.detail and stop.policy == "BanditPolicy"


def test_a_child_running_ahead_is_judged_when_the_others_reach_its_interval() -> None:
    policy = BanditPolicy(slack_factor=0.2)
    ahead = {"plateau": [0.5, 0.5, 0.5], "good": [0.5]}
    assert evaluate(policy, ahead, {"plateau": (0, 3), "good": (0, 1)}, ahead, MAXIMIZE) == {}
    caught_up = {"plateau": [0.5, 0.5, 0.5], "good": [0.5, 0.6, 0.7]}
    stops = evaluate(policy, caught_up, {"good": (1, 3)}, caught_up, MAXIMIZE)
    assert list(stops) == ["plateau"] and "interval 3" in stops["plateau"].detail
    # an ended child is compared with but never stopped
    assert evaluate(policy, caught_up, {"good": (1, 3)}, ["good"], MAXIMIZE) == {}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"slack_factor": 0.1, "slack_amount": 0.1},
        {"slack_factor": 0.1, "evaluation_interval": 1.5},
        {"slack_factor": 0.1, "delay_evaluation": -1},
        {"slack_factor": -0.1},
    ],
)
def test_bandit_arguments_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(UserErrorException):
        BanditPolicy(**kwargs)  # type: ignore[arg-type]


# -- Median --------------------------------------------------------------------------------
def test_median_stops_runs_whose_best_is_worse_than_the_median_of_running_averages() -> None:
    # interval 2 averages: 0.9, 0.6, 0.3 -> median 0.6; low's best 0.4 < 0.6, mid's 0.7 is not
    runs = {"high": [0.9, 0.9], "mid": [0.5, 0.7], "low": [0.2, 0.4]}
    assert stopped(MedianStoppingPolicy(delay_evaluation=2), runs) == {"low": 2}
    # at interval 1: values 0.9, 0.5, 0.2 -> median 0.5: low stops there already; then at
    # interval 2 only high and mid remain: median of 0.9 and 0.6 is 0.75 > mid's best 0.7
    assert stopped(MedianStoppingPolicy(), runs) == {"low": 1, "mid": 2}


def test_median_minimize() -> None:
    runs = {"a": [1.0, 0.8], "b": [1.2, 1.0], "c": [2.0, 1.9]}
    # interval 1: median of 1.0, 1.2, 2.0 is 1.2; c's 2.0 is worse
    assert stopped(MedianStoppingPolicy(), runs, MINIMIZE) == {"c": 1}


# -- Truncation ----------------------------------------------------------------------------
def test_truncation_cuts_the_lowest_percentage_at_each_interval() -> None:
    four = {"a": [0.9], "b": [0.8], "c": [0.7], "d": [0.6]}
    assert stopped(TruncationSelectionPolicy(25), four) == {"d": 1}  # floor(4 * 25%) = 1
    assert stopped(TruncationSelectionPolicy(50), four) == {"c": 1, "d": 1}
    three = {"a": [0.9], "b": [0.8], "c": [0.7]}
    assert stopped(TruncationSelectionPolicy(25), three) == {}  # floor(0.75) = 0: nobody


def test_truncation_keeps_ties_and_compares_young_runs_at_their_interval() -> None:
    tied = {"a": [0.9], "b": [0.6], "c": [0.6], "d": [0.6]}
    assert stopped(TruncationSelectionPolicy(25), tied) == {}
    policy = TruncationSelectionPolicy(25)
    histories = {
        "old1": [0.1, 0.9, 0.9],
        "old2": [0.2, 0.9, 0.9],
        "old3": [0.3, 0.9],
        "young": [0.4],
    }
    # at interval 1 the young run (0.4) is the best of four first values
    assert policy.check("young", 1, histories, MAXIMIZE) is None
    assert policy.check("old1", 1, histories, MAXIMIZE) is not None


def test_truncation_percentage_is_an_int_from_1_to_99() -> None:
    for bad in (0, 100, 12.5):
        with pytest.raises(UserErrorException):
            TruncationSelectionPolicy(bad)  # type: ignore[arg-type]


# -- ASHA ----------------------------------------------------------------------------------
def test_asha_rungs_and_promotions() -> None:
    policy = AshaPolicy(grace_period=1, reduction_factor=3)
    assert [n for n in range(1, 30) if policy.due(n)] == [1, 3, 9, 27]
    # rung 1 with three runs: cutoff = 2/3-quantile of 0.1, 0.5, 0.9 = 0.633: only 0.9 goes on
    runs = {"a": [0.9, 0.9, 0.9], "b": [0.5, 0.6, 0.7], "c": [0.1, 0.2, 0.3]}
    assert stopped(policy, runs) == {"b": 1, "c": 1}
    assert stopped(AshaPolicy(grace_period=2, reduction_factor=2), runs) == {"c": 2}


def test_asha_never_stops_a_run_alone_at_its_rung() -> None:
    assert stopped(AshaPolicy(), {"only": [0.1] * 9}) == {}


# -- no termination and serialising ----------------------------------------------------------
def test_no_termination_stops_nothing() -> None:
    runs = {"a": [0.9], "b": [0.0]}
    assert stopped(NoTerminationPolicy(), runs) == {}


@pytest.mark.parametrize(
    "policy",
    [
        BanditPolicy(evaluation_interval=2, slack_factor=0.1, delay_evaluation=4),
        MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5),
        TruncationSelectionPolicy(truncation_percentage=20, delay_evaluation=2),
        AshaPolicy(grace_period=2, reduction_factor=2),
        NoTerminationPolicy(),
    ],
)
def test_policies_round_trip(policy: Policy) -> None:
    assert policy_from_dict(policy.to_dict()) == policy

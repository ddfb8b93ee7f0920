"""The cluster autoscaler's decision logic, without Docker: samples of the balancer's load
in, replica counts out. Also what the state file records of the policy and decisions, the
backend queue read from HAProxy's ``show stat``, and the refusal of ``endpoints scale`` on
an autoscaling endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.deploy import service
from serving.deploy.base import DeployRequest
from serving.deploy.cluster.autoscaler import (
    FAILURE_BACKOFF_S,
    Autoscaler,
    Plan,
    Sample,
    recommend,
    sample_of,
)
from serving.deploy.cluster.haproxy import ServerStatus, parse_backend_queue, parse_stat
from serving.deploy.cluster.state import (
    DECISIONS_KEPT,
    Autoscaling,
    ClusterState,
    Decision,
    Limits,
    Member,
    endpoint_lock,
)
from serving.deploy.cluster.supervisor import autoscale
from serving.deploy.cluster.target import autoscaling_of, cluster_options
from serving.deploy.spec import AutoscalePolicy, DeploymentSpec
from serving.environments import EnvSpec
from serving.errors import UserInputError
from serving.workspace import Workspace


def policy(**changes: float) -> Autoscaling:
    values: dict[str, float] = {
        "min_replicas": 1,
        "max_replicas": 4,
        "target_utilization": 70,
        "refresh_s": 1.0,
        "cooldown_s": 30.0,
    }
    values.update(changes)
    return Autoscaling(**values)  # type: ignore[arg-type]


def load(at: float, demand: int, serving: int, per_replica: int = 4) -> Sample:
    """``demand`` requests at once: in flight up to the pool's capacity, the rest queued."""
    capacity = serving * per_replica
    return Sample(at, min(demand, capacity), max(0, demand - capacity), serving, per_replica)


def run(
    scaler: Autoscaler,
    rule: Autoscaling,
    demand: int,
    current: int,
    start: float,
    seconds: int,
    plans: list[Plan] | None = None,
) -> list[tuple[float, int, int]]:
    """One sample and one decision a second; a plan is applied at once (and appended to
    ``plans``). Returns the (time, from, to) of each change."""
    changes = []
    for tick in range(seconds):
        now = start + tick
        scaler.observe(load(now, demand, current))
        plan = scaler.decide(now, current, rule)
        if plan is not None:
            changes.append((now, plan.current, plan.to))
            if plans is not None:
                plans.append(plan)
            current = plan.to
            scaler.changed(now)
    return changes


def test_utilization_counts_in_flight_and_queued_against_the_pool_capacity() -> None:
    assert load(0, 2, 1).utilization == 50.0
    assert load(0, 12, 1).utilization == 300.0  # 4 in flight, 8 queued
    assert Sample(0, 0, 3, serving=0, per_replica=4).utilization is None


def test_recommend_is_the_hpa_rule_within_bounds_and_tolerance() -> None:
    rule = policy()
    assert recommend(1, 1, 300.0, rule) == 4  # ceil(1 * 300 / 70) = 5, capped at 4
    assert recommend(1, 1, 150.0, rule) == 3  # ceil(2.14)
    assert recommend(3, 3, 74.0, rule) == 3  # within 10 % of the target: no change
    assert recommend(3, 3, 20.0, rule) == 1  # ceil(0.86)
    assert recommend(3, 3, 0.0, rule) == 1  # never below the minimum
    assert recommend(2, 2, 70.0 * 1.5, rule) == 3  # 2 * 1.5 exactly: no float round-up to 4


def test_sample_of_reads_members_only_and_the_backend_queue() -> None:
    def row(slot: int, status: str, in_flight: int, queued: int = 0) -> ServerStatus:
        return ServerStatus(slot, status, "L7OK", in_flight, queued, 5)

    statuses = {1: row(1, "UP", 4, 1), 2: row(2, "UP", 3), 3: row(3, "DRAIN", 2)}
    sample = sample_of(statuses, 5, {1, 2}, per_replica=4, at=7.0)
    assert (sample.in_flight, sample.queued, sample.serving) == (7, 6, 2)
    assert sample.utilization == pytest.approx(100 * 13 / 8)


def test_scales_up_within_seconds_of_the_load_rising() -> None:
    scaler, rule = Autoscaler(), policy()
    assert run(scaler, rule, demand=2, current=1, start=0, seconds=10) == []  # 50 %: fine
    changes = run(scaler, rule, demand=16, current=1, start=10, seconds=5)
    assert changes and changes[0][1:] == (1, 4)  # 400 %: straight to the maximum
    assert changes[0][0] - 10 <= 2  # two samples are enough


def test_one_spike_does_not_scale_up() -> None:
    scaler, rule = Autoscaler(), policy(refresh_s=1.0)
    assert run(scaler, rule, demand=2, current=1, start=0, seconds=5) == []
    scaler.observe(load(5, 40, 1))  # one sample at 1000 %, in a 3 s window of calm ones
    assert scaler.decide(5, 1, rule) is None
    assert run(scaler, rule, demand=2, current=1, start=6, seconds=5) == []


def test_scales_down_only_after_the_cool_down_to_the_highest_need_in_it() -> None:
    scaler, rule = Autoscaler(), policy(cooldown_s=30.0)
    assert run(scaler, rule, demand=16, current=1, start=0, seconds=3) == [(2, 1, 4)]
    # load drops to 2 in flight: 1 replica would do, but not before 30 s of low load
    assert run(scaler, rule, demand=2, current=4, start=3, seconds=25) == []
    changes = run(scaler, rule, demand=2, current=4, start=28, seconds=10)
    assert changes == [(2 + 30, 4, 1)]


def test_a_burst_within_the_cool_down_keeps_the_size() -> None:
    scaler, rule = Autoscaler(), policy(cooldown_s=20.0)
    assert run(scaler, rule, demand=16, current=1, start=0, seconds=3) == [(2, 1, 4)]
    changes = []
    for second in range(3, 90):
        # a 5 s burst every 15 s that needs all 4 (10 on 4 x 4: 62 %), calm (2) between
        demand = 10 if second % 15 < 5 else 2
        changes += run(scaler, rule, demand, current=4, start=second, seconds=1)
    # a burst comes back within every 20 s cool-down: the size stays
    assert changes == []


def test_no_flapping_under_steady_load_near_the_target() -> None:
    scaler, rule = Autoscaler(), policy(cooldown_s=10.0)
    changes = run(scaler, rule, demand=8, current=3, start=0, seconds=120)  # 67 % on 3
    assert changes == []


def test_refresh_seconds_spaces_the_decisions() -> None:
    scaler, rule = Autoscaler(), policy(refresh_s=5.0)
    for tick in range(20):
        scaler.observe(load(tick, 2, 1))
        scaler.decide(tick, 1, rule)
    assert [t for t, _w, _u in scaler.wanted] == [5, 10, 15]  # at 0: too few samples


def test_after_a_failed_change_it_waits_before_trying_again() -> None:
    scaler, rule = Autoscaler(), policy()
    run(scaler, rule, demand=2, current=1, start=0, seconds=3)
    for tick in range(3, 6):
        scaler.observe(load(tick, 16, 1))
    plan = scaler.decide(5, 1, rule)
    assert plan is not None and plan.to == 4
    scaler.failed(5)
    later = run(scaler, rule, demand=16, current=1, start=6, seconds=int(FAILURE_BACKOFF_S) - 1)
    assert later == []
    assert run(scaler, rule, demand=16, current=1, start=6 + FAILURE_BACKOFF_S, seconds=4)


def test_plan_reasons_carry_the_measure() -> None:
    scaler, rule = Autoscaler(), policy(cooldown_s=5.0)
    for tick in range(3):
        scaler.observe(load(tick, 12, 1))
    plan = scaler.decide(2, 1, rule)
    assert plan is not None
    assert plan.utilization == pytest.approx(300.0)
    assert "utilization 300% (median over 2 s; target 70%)" in plan.reason
    assert "8.0 queued" in plan.reason
    scaler.changed(2)
    plans: list[Plan] = []
    down = run(scaler, rule, demand=1, current=4, start=3, seconds=10, plans=plans)
    assert down == [(7, 4, 1)]  # changed at 2, cool-down 5 s
    assert plans[0].reason == (
        "utilization stayed at or below 6% for 5 s (target 70%): 1 replica(s) suffice"
    )


def test_state_records_the_policy_and_the_last_decisions() -> None:
    scaling = policy()
    for n in range(DECISIONS_KEPT + 5):
        scaling.record(Decision(f"t{n}", 1, 2, "why", 100.0 + n))
    state = ClusterState(
        endpoint="ep",
        workspace="/ws",
        replicas=1,
        revision=1,
        image="sha256:x",
        image_tag="serving/ep:1",
        port=1234,
        run={},
        limits=Limits(max_concurrent=4),
        members={1: Member(1, "sha256:x")},
        autoscale=scaling,
    )
    back = ClusterState.from_dict(state.to_dict())
    assert back.autoscale is not None
    assert len(back.autoscale.decisions) == DECISIONS_KEPT
    assert back.autoscale.decisions[-1] == Decision(f"t{DECISIONS_KEPT + 4}", 1, 2, "why", 124.0)
    assert back.autoscale.min_replicas == 1 and back.autoscale.cooldown_s == 30.0
    plain = dict(state.to_dict(), autoscale=None)
    assert ClusterState.from_dict(plain).autoscale is None


SHOW_STAT = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,check_status,lastchg
replicas,r1,0,0,4,4,4,100,UP,L7OK,12
replicas,r2,1,1,4,4,4,90,UP,L7OK,12
replicas,r3,0,0,0,0,4,0,MAINT,,30
replicas,BACKEND,9,12,8,8,400,190,UP,,40
"""


def test_backend_queue_is_read_from_show_stat() -> None:
    assert parse_backend_queue(SHOW_STAT) == 9
    assert sorted(parse_stat(SHOW_STAT)) == [1, 2, 3]
    assert parse_backend_queue("# pxname,svname,qcur\n") == 0


def test_manual_scale_of_an_autoscaling_endpoint_is_refused(ws: Workspace) -> None:
    deployment = DeploymentSpec(autoscale=AutoscalePolicy(True, 1, 3))
    ws.endpoints.create("auto-ep", "cluster", {"deployment": deployment.to_dict()}, [], [])
    ws.endpoints.update("auto-ep", state="Healthy")
    with pytest.raises(UserInputError) as caught:
        service.scale(ws, "auto-ep", 2)
    message = caught.value.one_line()
    assert "autoscales between 1 and 3" in message
    assert "--min-replicas" in message and "--max-replicas" in message
    assert "\n" not in message


def _autoscale_request(policy: AutoscalePolicy) -> DeployRequest:
    return DeployRequest(
        name="digits-svc",
        models=(),
        entry_script=Path("score.py"),
        source_dir=None,
        env=EnvSpec(name="x", python="3.11", requirements=()),
        deployment=DeploymentSpec(autoscale=policy),
    )


def test_an_autoscaling_endpoint_starts_at_its_minimum_with_its_policy_recorded() -> None:
    request = _autoscale_request(AutoscalePolicy(True, 2, 5, 60, 0.5))
    replicas, _limits, _heal = cluster_options(request)
    assert replicas == 2
    recorded = autoscaling_of(request, cooldown_s=15.0)
    assert recorded == Autoscaling(2, 5, 60, 0.5, 15.0)
    defaults = autoscaling_of(_autoscale_request(AutoscalePolicy(True)), cooldown_s=60.0)
    assert defaults == Autoscaling(1, 10, 70, 1.0, 60.0)  # Azure's defaults
    assert autoscaling_of(_autoscale_request(AutoscalePolicy()), cooldown_s=60.0) is None
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UserInputError, match="SERVING_AUTOSCALE_COOLDOWN_S"):
            autoscaling_of(request, cooldown_s=bad)


class _BrokenPool:
    """A pool whose resize fails with Docker's own error mid-way (a fault no test can cause
    on demand): records ``count`` first, as :meth:`Pool.resize` does."""

    def __init__(self, state: ClusterState) -> None:
        self.state, self.saved = state, 0

    def snapshot(self) -> tuple[dict[int, ServerStatus], int]:
        return parse_stat(SHOW_STAT), 9

    def resize(self, count: int) -> None:
        import docker

        self.state.replicas = count
        raise docker.errors.APIError("500 Server Error: the engine hiccuped")

    def save(self) -> None:
        self.saved += 1


def test_a_resize_failing_with_a_docker_error_is_recorded_and_not_retried_by_heal() -> None:
    state = ClusterState(
        endpoint="ep", workspace="/ws", replicas=2, revision=1, image="sha256:x",
        image_tag="serving/ep:1", port=1234, run={}, limits=Limits(max_concurrent=4),
        members={1: Member(1, "sha256:x"), 2: Member(1, "sha256:x")}, autoscale=policy(),
    )  # fmt: skip
    pool, scaler = _BrokenPool(state), Autoscaler()
    for tick in range(2):
        scaler.observe(load(tick, 16, 2))
    done = autoscale(pool, scaler, 2.0)  # type: ignore[arg-type]
    assert done == ["autoscaled 2 -> 2"]
    assert state.replicas == 2 and pool.saved == 1  # what serves: heal adds nothing
    assert state.autoscale is not None
    (decision,) = state.autoscale.decisions
    assert not decision.ok and (decision.from_replicas, decision.to_replicas) == (2, 4)
    assert "APIError" in decision.reason and "engine hiccuped" in decision.reason
    assert scaler.blocked_until >= 2.0 + FAILURE_BACKOFF_S - 1


def test_a_command_waiting_behind_a_supervisor_step_says_so(tmp_path: Path) -> None:
    """An autoscaling step holds the lock while replicas start (up to their ready timeout):
    a command queued behind it reports that it waits rather than hanging silently."""
    import threading

    heard: list[str] = []

    def command() -> None:
        with endpoint_lock(tmp_path, progress=heard.append):
            pass

    with endpoint_lock(tmp_path):
        waiter = threading.Thread(target=command)
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive()  # still waiting
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert heard == ["waiting for the endpoint's supervisor (replicas starting or draining)"]

"""The cluster target's autoscaler: how many replicas the load needs (pure decision logic,
free of Docker; the supervisor measures and acts, :func:`serving.deploy.cluster.supervisor.
autoscale`).

Measure. Every supervisor tick one ``show stat`` of the balancer gives, at one instant, the
requests each replica in the pool is serving (``scur``, at most its ``maxconn``, which is
``max_concurrent_requests_per_replica``) and those waiting in the balancer's queue
(``qcur``). Utilization is demand over capacity::

    utilization % = 100 * (in flight + queued) / (replicas serving * max concurrent)

Queued requests count, so a saturated pool reads above 100 % and the step up is sized by
how far behind it is, not capped at one replica.

Decide, every ``refresh_s`` (Azure's ``autoscale_refresh_seconds``), on the median of the
samples of the last :data:`WINDOW_S` seconds (at least :data:`MIN_SAMPLES`: one odd sample
never decides), with the HorizontalPodAutoscaler's rule on this metric::

    wanted = ceil(serving * utilization / target)      (clamped to min..max)

and no change while ``utilization / target`` is within :data:`TOLERANCE` of 1.

* Up at once: ``wanted > current`` scales to ``wanted`` on the next decision (about 2 s
  after the load rose; then the new replicas' start-up).
* Down only after a cool-down: the size drops to the *highest* ``wanted`` seen over the last
  ``cooldown_s`` seconds (the HPA's scale-down stabilization window), and only once the last
  change is ``cooldown_s`` old. A dip between bursts therefore never removes a replica that
  the next burst needs again, and the size cannot flap faster than once per cool-down.
* After a change the samples start over (they measured the old pool); after a failed change
  the autoscaler waits :data:`FAILURE_BACKOFF_S` before trying again.

Why by hand: the decision is twenty lines of arithmetic over HAProxy's counters; the
autoscalers that exist (Kubernetes' HPA, KEDA) need a Kubernetes API server to act on.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from serving.deploy.cluster.haproxy import ServerStatus
from serving.deploy.cluster.state import Autoscaling

TOLERANCE = 0.1
"""No change while utilization is within 10 % of the target (the HPA's default)."""
WINDOW_S = 3.0
"""Seconds of samples averaged per decision (at least ``refresh_s``)."""
MIN_SAMPLES = 3
"""A decision needs this many samples in its window (their median): one spike is not a
trend."""
FAILURE_BACKOFF_S = 30.0
"""After a change failed (a replica never got ready), wait this long before trying again."""


@dataclass(frozen=True)
class Sample:
    """The pool's load at one instant."""

    at: float
    """``time.monotonic()`` seconds."""
    in_flight: int
    """Requests the pool's replicas are serving."""
    queued: int
    """Requests waiting in the balancer for a free replica."""
    serving: int
    """Replicas in the pool taking requests."""
    per_replica: int
    """Each replica's concurrency limit (its ``maxconn``)."""

    @property
    def utilization(self) -> float | None:
        """Percent of the pool's concurrency in use (None: no replica serves)."""
        capacity = self.serving * self.per_replica
        if capacity <= 0:
            return None
        return 100.0 * (self.in_flight + self.queued) / capacity


def sample_of(
    statuses: dict[int, ServerStatus],
    backend_queued: int,
    members: set[int] | frozenset[int],
    per_replica: int,
    at: float,
) -> Sample:
    """A :class:`Sample` of the members' rows of ``show stat`` and the backend's queue."""
    rows = [statuses[slot] for slot in members if slot in statuses]
    return Sample(
        at=at,
        in_flight=sum(row.in_flight for row in rows),
        queued=backend_queued + sum(row.queued for row in rows),
        serving=sum(1 for row in rows if row.serving),
        per_replica=max(1, per_replica),
    )


def recommend(serving: int, current: int, utilization: float, policy: Autoscaling) -> int:
    """The HPA's rule: replicas that bring ``utilization`` (measured over ``serving``
    replicas) to the target, ``current`` when within the tolerance, within the bounds."""
    ratio = utilization / policy.target_utilization
    # round first: 2.0000001 from float noise is 2, not 3
    wanted = current if abs(ratio - 1.0) <= TOLERANCE else math.ceil(round(serving * ratio, 6))
    return min(policy.max_replicas, max(policy.min_replicas, wanted))


@dataclass(frozen=True)
class Plan:
    """A change the autoscaler wants: from ``current`` to ``to`` replicas, and why."""

    current: int
    to: int
    utilization: float
    reason: str


@dataclass
class Autoscaler:
    """The autoscaler's memory between supervisor ticks: recent samples and wanted sizes."""

    samples: deque[Sample] = field(default_factory=deque)
    wanted: deque[tuple[float, int, float]] = field(default_factory=deque)
    """(time, wanted replicas, utilization) of each decision within the cool-down."""
    since: float | None = None
    """When the last change (or the first sample) happened: the cool-down counts from it."""
    next_decision: float = 0.0
    blocked_until: float = 0.0

    def observe(self, sample: Sample) -> None:
        if self.since is None:
            self.since = sample.at
        self.samples.append(sample)

    def changed(self, now: float) -> None:
        """The pool changed size: measure it afresh, and start the cool-down again."""
        self.samples.clear()
        self.wanted.clear()
        self.since = now

    def failed(self, now: float) -> None:
        """A change failed: start over, and try again only after the back-off."""
        self.changed(now)
        self.blocked_until = now + FAILURE_BACKOFF_S

    def _window(self, now: float, policy: Autoscaling) -> list[Sample]:
        horizon = now - max(WINDOW_S, policy.refresh_s)
        while self.samples and self.samples[0].at < horizon:
            self.samples.popleft()
        return [s for s in self.samples if s.utilization is not None]

    def decide(self, now: float, current: int, policy: Autoscaling) -> Plan | None:
        """A change to make now, or None (not time yet, too few samples, or no need)."""
        if now < self.next_decision or now < self.blocked_until:
            return None
        self.next_decision = now + policy.refresh_s
        window = self._window(now, policy)
        if len(window) < MIN_SAMPLES:
            return None
        utilization = statistics.median(s.utilization or 0.0 for s in window)
        wanted = recommend(window[-1].serving, current, utilization, policy)
        self.wanted.append((now, wanted, utilization))
        while self.wanted and self.wanted[0][0] < now - policy.cooldown_s:
            self.wanted.popleft()
        if wanted > current:
            return Plan(current, wanted, utilization, _up_reason(window, utilization, policy))
        return self._down(now, current, policy)

    def _down(self, now: float, current: int, policy: Autoscaling) -> Plan | None:
        """Scale down to the highest size wanted over the cool-down, once it has passed."""
        since = self.since if self.since is not None else now
        if now - since < policy.cooldown_s:
            return None
        stable = max(w for _t, w, _u in self.wanted)
        if stable >= current:
            return None
        peak = max(u for _t, _w, u in self.wanted)
        reason = (
            f"utilization stayed at or below {peak:.0f}% for {policy.cooldown_s:g} s "
            f"(target {policy.target_utilization}%): {stable} replica(s) suffice"
        )
        return Plan(current, stable, peak, reason)


def _up_reason(window: list[Sample], utilization: float, policy: Autoscaling) -> str:
    seconds = window[-1].at - window[0].at
    in_flight = sum(s.in_flight for s in window) / len(window)
    queued = sum(s.queued for s in window) / len(window)
    return (
        f"utilization {utilization:.0f}% (median over {seconds:.0f} s; target "
        f"{policy.target_utilization}%): {in_flight:.1f} in flight and {queued:.1f} queued "
        f"on {window[-1].serving} replica(s) of {window[-1].per_replica} concurrent each"
    )

"""Judging: observations and the retry state → what happened (SPEC.md section 2).

A pure function with no I/O and no clock, so every rule is tested without sleeping.

A degraded probe (fswatch.core.observation.Degradation: an NFSv4 grace period) is not a failed
one: the server answers, but refuses new opens and locks until the clients that held state
before a restart or failover have reclaimed it. It must end, though: a streak of degraded
probes that has lasted longer than degraded_limit() — GRACE_LEASES × the server's lease time —
makes each further degraded probe a failed one (alert 101), counted like any other.

Slow probes (alert 92): the slow budget is Schedule.slow_ms, half the timeout, for the whole
probe. Stage budgets are derived, not configured: every stage draws on that one budget, so a
healthy probe over it is slow, and the stage that took the largest share of it is the slow
stage (`slowest()`), named with its time in the alert and STATUS. A per-stage setting would
need a guess per stage and server; the share of one budget needs none and cannot disagree
with the whole-probe threshold.

Evidence from the server's own process (fswatch.core.evidence) shortens the retry rule: a
probe that failed at its deadline while the server's process was stopped (or, where the
watch opted in, blocked) declares at once, whatever `retries` says. Once declared, a streak
stays declared until a healthy probe, so a watch that keeps probing (health attribute mode)
does not declare again when a later failed probe of the same streak has no such evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Optional, Tuple

from fswatch.core import alerts
from fswatch.core.errors import ProbeFailure
from fswatch.core.evidence import Evidence
from fswatch.core.observation import Degradation, Observation
from fswatch.core.settings import Schedule

# How long a grace period may last, in leases of the server's lease time. RFC 8881 section
# 8.4.2.1 wants the grace period to be at least one lease; servers take 1-2: knfsd's grace
# lasts its lease time (90 s), at most two while clients still reclaim; ganesha's
# Grace_Period is 90 s for a 60 s Lease_Lifetime (at most 180 s: 3 leases of 60 s). So 3
# leases cover every grace period these servers end by themselves.
GRACE_LEASES = 3
DEFAULT_LEASE_SECONDS = 90  # a server that does not say its lease time: knfsd's default


class Event(Enum):
    FIRST_HEALTHY = "first_healthy"  # alert 2, READY=1 (also for a degraded first answer)
    HEALTHY = "healthy"
    RECOVERED = "recovered"  # alert 91: healthy after a failure streak that did not declare
    SLOW = "slow"  # alert 92: healthy but slower than half the timeout (once per slow streak)
    PROBE_FAILED = "probe_failed"  # a failed probe that does not yet declare failure
    DECLARED_FAILED = "declared_failed"  # retries + 1 consecutive failures: stage alert, 6, exit
    DEGRADED = "degraded"  # alert 100: the first degraded probe of a streak
    DEGRADED_ENDED = "degraded_ended"  # alert 102: a healthy probe after degraded ones


@dataclass(frozen=True)
class SlowStage:
    """The stage of a slow probe that took the largest share of the slow budget."""

    stage: str
    ms: float
    budget_ms: float
    total_ms: float

    def text(self) -> str:
        return f"slow: {self.stage} {self.ms:.0f} ms of {self.budget_ms:.0f} ms budget"

    def fields(self) -> dict:
        return {
            "stage": self.stage,
            "ms": round(self.ms, 3),
            "budget_ms": round(self.budget_ms, 3),
            "total_ms": round(self.total_ms, 3),
        }


def slowest(obs: Observation, budget_ms: float) -> Optional[SlowStage]:
    """The slow stage of a healthy probe over `budget_ms`, or None when it is within it."""
    if not obs.ok or not obs.stages or obs.total_ms <= budget_ms:
        return None
    top = max(obs.stages, key=lambda s: s.ms)  # the first of equals: the earlier stage
    return SlowStage(top.stage, top.ms, budget_ms, obs.total_ms)


@dataclass(frozen=True)
class WatchState:
    """What the judge remembers between probes: the failure streak and what the watch has seen."""

    failures: int = 0  # consecutive failed probes
    seen_healthy: bool = False
    slow: bool = False
    probes: int = 0
    degraded: int = 0  # consecutive degraded probes (past the limit too)
    declared: bool = False  # this failure streak was declared (by the retries or on evidence)


@dataclass(frozen=True)
class Judgement:
    """The verdict on one probe: the state it leads to and the events the reporter says."""

    state: WatchState
    events: Tuple[Event, ...]
    streak: int = 0  # for RECOVERED: how many failed probes the streak had
    observation: Optional[Observation] = None  # as judged: a degradation past its limit carries a failure
    degraded_streak: int = 0  # for DEGRADED_ENDED: how many degraded probes the streak had
    slow: Optional[SlowStage] = None  # a healthy probe over its slow budget: the stage that took most of it
    early: Optional[Evidence] = None  # declared before the retries ran out, on this evidence

    @property
    def declared_failed(self) -> bool:
        return Event.DECLARED_FAILED in self.events


def degraded_limit(degradation: Degradation) -> Optional[int]:
    """Seconds a degradation may last before it counts as failed: GRACE_LEASES × the lease time;
    None for one that is not bounded here (it ends, or fails the probe, by itself)."""
    if not degradation.bounded:
        return None
    return GRACE_LEASES * (degradation.lease_seconds or DEFAULT_LEASE_SECONDS)


def _too_long(degradation: Degradation, limit: int, span: int) -> ProbeFailure:
    lease = degradation.lease_seconds or DEFAULT_LEASE_SECONDS
    reason = (
        f"{degradation.cause} for {span} s, longer than {limit} s ({GRACE_LEASES} × lease time {lease} s): "
        f"{degradation.reason}"
    )
    return ProbeFailure(
        alerts.DEGRADED_TOO_LONG, degradation.stage, reason, f"{limit} s", rpc_status=degradation.status
    )


def judge(state: WatchState, obs: Observation, schedule: Schedule) -> Judgement:
    probes = state.probes + 1
    degraded = state.degraded + 1 if obs.degraded is not None else 0
    if obs.ok and obs.degraded is not None:
        # Probes start on a fixed cadence: this one started `span` seconds after the streak's first.
        span = state.degraded * schedule.interval
        limit = degraded_limit(obs.degraded)
        if limit is not None and span > limit:
            obs = replace(obs, failure=_too_long(obs.degraded, limit, span))
    if not obs.ok:
        failures = state.failures + 1
        by_retries = failures >= schedule.attempts
        early = obs.evidence if obs.evidence is not None and obs.evidence.declares(schedule.evidence) else None
        declared = state.declared or by_retries or early is not None
        event = Event.DECLARED_FAILED if declared else Event.PROBE_FAILED
        new = replace(state, failures=failures, probes=probes, slow=False, degraded=degraded, declared=declared)
        first = not state.declared and not by_retries  # the evidence, not the count, declared this streak
        return Judgement(new, (event,), observation=obs, early=early if first else None)
    events = [Event.HEALTHY if state.seen_healthy else Event.FIRST_HEALTHY]
    streak = state.failures
    if streak and state.seen_healthy:
        events.append(Event.RECOVERED)
    if obs.degraded is not None:
        if not state.degraded:
            events.append(Event.DEGRADED)
        return Judgement(WatchState(0, True, False, probes, degraded), tuple(events), streak, obs)
    if state.degraded:
        events.append(Event.DEGRADED_ENDED)
    slow = slowest(obs, schedule.slow_ms)
    if slow is not None and not state.slow:
        events.append(Event.SLOW)
    return Judgement(WatchState(0, True, slow is not None, probes), tuple(events), streak, obs, state.degraded, slow)


def after_pause(state: WatchState) -> WatchState:
    """Failures seen before a pause say nothing about the server after maintenance."""
    return replace(state, failures=0, slow=False, degraded=0, declared=False)


def last_failure_stage(obs: Optional[Observation]) -> Optional[str]:
    return obs.failure.stage if obs is not None and obs.failure is not None else None

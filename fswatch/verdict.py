"""Judging: observations and the retry state → what happened (SPEC.md section 2).

A pure function with no I/O and no clock, so every rule is tested without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Optional, Tuple

from fswatch.observation import Observation
from fswatch.settings import Schedule


class Event(Enum):
    FIRST_HEALTHY = "first_healthy"  # alert 2, READY=1
    HEALTHY = "healthy"
    RECOVERED = "recovered"  # alert 91: healthy after a failure streak that did not declare
    SLOW = "slow"  # alert 92: healthy but slower than half the timeout (once per slow streak)
    PROBE_FAILED = "probe_failed"  # a failed probe that does not yet declare failure
    DECLARED_FAILED = "declared_failed"  # retries + 1 consecutive failures: stage alert, 6, exit


@dataclass(frozen=True)
class WatchState:
    failures: int = 0  # consecutive failed probes
    seen_healthy: bool = False
    slow: bool = False
    probes: int = 0


@dataclass(frozen=True)
class Judgement:
    state: WatchState
    events: Tuple[Event, ...]
    streak: int = 0  # for RECOVERED: how many failed probes the streak had

    @property
    def declared_failed(self) -> bool:
        return Event.DECLARED_FAILED in self.events


def judge(state: WatchState, obs: Observation, schedule: Schedule) -> Judgement:
    probes = state.probes + 1
    if not obs.ok:
        failures = state.failures + 1
        event = Event.DECLARED_FAILED if failures >= schedule.attempts else Event.PROBE_FAILED
        return Judgement(replace(state, failures=failures, probes=probes, slow=False), (event,))
    events = [Event.HEALTHY if state.seen_healthy else Event.FIRST_HEALTHY]
    streak = state.failures
    if streak and state.seen_healthy:
        events.append(Event.RECOVERED)
    slow = obs.total_ms > schedule.slow_ms
    if slow and not state.slow:
        events.append(Event.SLOW)
    return Judgement(WatchState(0, True, slow, probes), tuple(events), streak)


def after_pause(state: WatchState) -> WatchState:
    """Failures seen before a pause say nothing about the server after maintenance."""
    return replace(state, failures=0, slow=False)


def last_failure_stage(obs: Optional[Observation]) -> Optional[str]:
    return obs.failure.stage if obs is not None and obs.failure is not None else None

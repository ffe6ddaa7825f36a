from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import Degradation, Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.core.verdict import (
    DEFAULT_LEASE_SECONDS,
    GRACE_LEASES,
    Event,
    WatchState,
    after_pause,
    degraded_limit,
    judge,
)

S = Schedule(interval=1, retries=2, timeout=4)


def ok(ms=5.0):
    return Observation(0.0, (StageTiming("connect", ms),))


def bad():
    return Observation(0.0, (StageTiming("connect", 1.0, False),), ProbeFailure(72, "connect", "refused", "111"))


def run(observations, state=None):
    state = state or WatchState()
    events = []
    for obs in observations:
        j = judge(state, obs, S)
        state = j.state
        events.append(j.events)
    return state, events


def test_first_healthy_then_healthy():
    _, events = run([ok(), ok()])
    assert events == [(Event.FIRST_HEALTHY,), (Event.HEALTHY,)]


def test_retries_plus_one_failures_declare():
    state, events = run([ok(), bad(), bad(), bad()])
    assert events[1:] == [(Event.PROBE_FAILED,), (Event.PROBE_FAILED,), (Event.DECLARED_FAILED,)]
    assert state.failures == 3


def test_success_resets_and_reports_recovery():
    state, events = run([ok(), bad(), bad(), ok(), bad(), bad()])
    assert Event.RECOVERED in events[3]
    assert state.failures == 2
    j = judge(WatchState(failures=2, seen_healthy=True), ok(), S)
    assert j.streak == 2


def test_failures_before_first_healthy_count_too():
    _, events = run([bad(), bad(), bad()])
    assert events[-1] == (Event.DECLARED_FAILED,)


def test_slow_reported_once_per_streak():
    _, events = run([ok(2500), ok(2600), ok(5), ok(2500)])
    assert [Event.SLOW in e for e in events] == [True, False, False, True]


def test_slow_but_answering_is_never_failed():
    state, _ = run([ok(3999)] * 50)
    assert state.failures == 0


def test_pause_forgets_failures():
    assert after_pause(WatchState(failures=2, seen_healthy=True)).failures == 0


# -- degraded: an NFSv4 grace period (issue 11) ------------------------------------------------


def grace(lease=5):
    reason = "NFSv4.2 at 10.0.0.1:2049/tcp: OPEN answered NFS4ERR_GRACE"
    return Observation(0.0, (StageTiming("compound", 1.0),), None, (), Degradation(
        "grace period", "compound", reason, "NFS4ERR_GRACE", lease))  # fmt: skip


def test_grace_limit_is_three_leases_or_three_default_leases():
    assert GRACE_LEASES == 3
    assert degraded_limit(grace(lease=60).degraded) == 180
    assert degraded_limit(grace(lease=None).degraded) == 3 * DEFAULT_LEASE_SECONDS == 270


def test_degraded_probes_do_not_fail_and_alert_once_then_end():
    state, events = run([ok(), grace(), grace(), grace(), ok(), ok()])
    assert events[1] == (Event.HEALTHY, Event.DEGRADED)
    assert events[2] == events[3] == (Event.HEALTHY,)
    assert events[4] == (Event.HEALTHY, Event.DEGRADED_ENDED)
    assert events[5] == (Event.HEALTHY,)
    assert state.failures == 0 and state.degraded == 0
    j = judge(WatchState(seen_healthy=True, degraded=3), ok(), S)
    assert j.degraded_streak == 3 and j.observation.failure is None


def test_first_answer_degraded_makes_the_watch_ready():
    _, events = run([grace()])
    assert events == [(Event.FIRST_HEALTHY, Event.DEGRADED)]


def test_degraded_after_failures_is_a_recovery():
    _, events = run([ok(), bad(), grace()])
    assert events[2] == (Event.HEALTHY, Event.RECOVERED, Event.DEGRADED)
    j = judge(WatchState(failures=2, seen_healthy=True), grace(), S)
    assert j.streak == 2 and j.state.failures == 0  # alert 91 says "after 2 failed probes"


def test_a_degraded_probe_ends_a_slow_streak():
    """A degraded answer is not a slow one: the state says not slow, and the next slow probe
    alerts 92 again."""
    slow = ok(ms=S.slow_ms + 1)
    state, events = run([slow, grace(), slow])
    assert Event.SLOW in events[0] and Event.SLOW in events[2]
    assert judge(run([slow])[0], grace(), S).state.slow is False


def test_grace_past_its_limit_counts_as_failed_with_alert_101():
    # lease 2 s: limit 6 s; at interval 1 s the 7th degraded probe started 6 s after the first
    # (still within), the 8th 7 s after it: failed, and retries (2) + 1 of them declare.
    observations = [ok()] + [grace(lease=2)] * 10
    state = WatchState()
    judged = []
    for obs in observations:
        j = judge(state, obs, S)
        state = j.state
        judged.append(j)
    assert all(j.observation.failure is None for j in judged[:8])
    assert [j.events for j in judged[8:]] == [(Event.PROBE_FAILED,), (Event.PROBE_FAILED,), (Event.DECLARED_FAILED,)]
    failure = judged[8].observation.failure
    assert (failure.alert, failure.stage, failure.detail) == (101, "compound", "6 s")
    assert failure.rpc_status == "NFS4ERR_GRACE"
    assert "grace period for 7 s, longer than 6 s (3 × lease time 2 s)" in failure.reason
    assert judged[8].observation.degraded is not None  # what it was, for the state file
    assert state.degraded == 10


def test_grace_limit_counts_in_intervals():
    slow = Schedule(interval=30, retries=2, timeout=4)  # limit 15 s: the second probe is 30 s in
    j = judge(WatchState(seen_healthy=True, degraded=1), grace(lease=5), slow)
    assert j.events == (Event.PROBE_FAILED,)
    j = judge(WatchState(seen_healthy=True, degraded=0), grace(lease=5), slow)
    assert j.observation.failure is None


def test_grace_ending_after_its_limit_recovers():
    state = WatchState(failures=2, seen_healthy=True, degraded=9)
    j = judge(state, ok(), S)
    assert j.events == (Event.HEALTHY, Event.RECOVERED, Event.DEGRADED_ENDED)
    assert j.state == WatchState(0, True, False, 1, 0)


def test_pause_forgets_a_degraded_streak():
    assert after_pause(WatchState(failures=1, seen_healthy=True, degraded=4)).degraded == 0


def test_probes_are_counted_whatever_their_outcome():
    state, _ = run([ok(), bad(), ok(), bad()])
    assert state.probes == 4 and state.failures == 1


def test_a_failure_ends_a_slow_streak_and_so_does_a_pause():
    slow = ok(ms=S.slow_ms + 1)
    state, _ = run([slow])
    assert state.slow is True
    assert judge(state, bad(), S).state.slow is False
    assert after_pause(state).slow is False and after_pause(state).seen_healthy is True


def test_slow_means_strictly_slower_than_half_the_timeout():
    _, events = run([ok(ms=S.slow_ms)])
    assert Event.SLOW not in events[0]
    _, events = run([ok(ms=S.slow_ms + 0.001)])
    assert Event.SLOW in events[0]


def test_last_failure_stage():
    from fswatch.core.verdict import last_failure_stage

    assert last_failure_stage(None) is None
    assert last_failure_stage(ok()) is None
    assert last_failure_stage(bad()) == "connect"


def test_after_pause_forgets_a_declared_streak_as_it_forgets_the_count():
    """A streak declared before a pause (a watch that keeps probing) is not declared after it:
    the first failures after `continue` count from zero, towards a declaration of their own."""
    state = after_pause(WatchState(failures=3, seen_healthy=True, slow=True, probes=9, degraded=2, declared=True))
    assert state == WatchState(failures=0, seen_healthy=True, slow=False, probes=9, degraded=0, declared=False)
    assert state.declared is False

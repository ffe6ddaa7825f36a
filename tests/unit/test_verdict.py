from fswatch.errors import ProbeFailure
from fswatch.observation import Observation, StageTiming
from fswatch.settings import Schedule
from fswatch.verdict import Event, WatchState, after_pause, judge

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
    from fswatch.verdict import last_failure_stage

    assert last_failure_stage(None) is None
    assert last_failure_stage(ok()) is None
    assert last_failure_stage(bad()) == "connect"

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

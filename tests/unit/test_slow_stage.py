"""Stage latency budgets: a slow probe names the stage that took most of the slow budget
(fswatch.core.verdict decides it; fswatch.watch.reporter says it in alert 92, STATUS and the state file)."""

from __future__ import annotations

from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.core.verdict import Event, WatchState, judge, slowest
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.kinds import SAMBA
from fswatch.watch.reporter import Reporter

S = Schedule(interval=1, retries=2, timeout=2)  # slow budget: 1000 ms


def obs(**stages):
    return Observation(0.0, tuple(StageTiming(name, ms) for name, ms in stages.items()))


def test_within_the_budget_nothing_is_slow():
    assert slowest(obs(connect=1, negotiate=2, session=300, tree_connect=600), S.slow_ms) is None


def test_the_stage_with_the_largest_share_is_named():
    slow = slowest(obs(connect=1, negotiate=2, session=200, tree_connect=812, teardown=3), S.slow_ms)
    assert (slow.stage, slow.ms, slow.budget_ms, slow.total_ms) == ("tree_connect", 812, 1000, 1018)
    assert slow.text() == "slow: tree_connect 812 ms of 1000 ms budget"
    assert slow.fields() == {"stage": "tree_connect", "ms": 812, "budget_ms": 1000, "total_ms": 1018}


def test_slow_stage_fields_are_rounded_to_the_microsecond():
    """status --json and the journal show milliseconds with three decimals, not float noise."""
    slow = slowest(obs(connect=0.1234567, session=1234.5678912), 999.9876543)
    assert slow.fields() == {"stage": "session", "ms": 1234.568, "budget_ms": 999.988, "total_ms": 1234.691}


def test_no_one_stage_over_the_budget_still_names_the_largest():
    slow = slowest(obs(session=400, tree_connect=450, teardown=300), S.slow_ms)
    assert slow.stage == "tree_connect"


def test_a_failed_probe_is_not_slow():
    from fswatch.core.errors import ProbeFailure

    failed = Observation(0.0, (StageTiming("session", 1900, False),), ProbeFailure(74, "session", "x", "110"))
    assert slowest(failed, S.slow_ms) is None
    assert judge(WatchState(seen_healthy=True), failed, S).slow is None


def test_the_judgement_carries_the_slow_stage_on_every_slow_probe_and_alerts_once():
    state = WatchState(seen_healthy=True)
    slow_probe = obs(connect=1, session=1200)
    j1 = judge(state, slow_probe, S)
    j2 = judge(j1.state, slow_probe, S)
    j3 = judge(j2.state, obs(connect=1), S)
    assert Event.SLOW in j1.events and Event.SLOW not in j2.events
    assert j1.slow.stage == j2.slow.stage == "session" and j3.slow is None and not j3.state.slow


def test_the_reporter_names_the_stage_in_alert_92_status_and_state():
    sink = ListSink()
    sent = []
    reporter = Reporter(SAMBA, "w1", "public", S, sink, Notifier(sender=sent.append))
    first = obs(connect=1)
    reporter.probed(first, judge(WatchState(), first, S))
    slow_probe = obs(connect=1, negotiate=2, session=200, tree_connect=812, teardown=3)
    j = judge(reporter.state, slow_probe, S)
    reporter.probed(slow_probe, j)
    alert_id, message, fields = sink.alerts[-1]
    assert alert_id == 92
    assert message == (
        "The clp_sambamon has seen a slow answer from Samba [public] "
        "(1018 ms; slow: tree_connect 812 ms of 1000 ms budget)."
    )
    assert fields["FSWATCH_SLOW_STAGE"] == "tree_connect" and fields["FSWATCH_BUDGET_MS"] == "1000"
    assert fields["FSWATCH_SLOW_STAGE_MS"] == "812.000"
    assert sent[-1].endswith("slow: tree_connect 812 ms of 1000 ms budget")
    assert reporter.status_text.startswith("healthy: 1018.0 ms")
    snap = reporter.snapshot()
    assert snap.slow is True and snap.slow_stage["stage"] == "tree_connect"
    fast = obs(connect=1)
    reporter.probed(fast, judge(reporter.state, fast, S))
    assert reporter.snapshot().slow_stage is None and "slow" not in reporter.status_text


def test_status_keeps_slow_stage_and_posture_and_drops_bad_values():
    from fswatch.watch.status import WatchStatus

    probe = {"started": 1.0, "total_ms": 2.0, "stages": [], "posture": {"dialect": "3.1.1", "signing": None}}
    slow = {"stage": "session", "ms": 900.0, "budget_ms": 500.0, "total_ms": 950.0}
    state, wrong = WatchStatus.parse({"slow_stage": slow, "last_probe": probe})
    assert state == WatchStatus(slow_stage=slow, last_probe=probe) and wrong == ""
    state, wrong = WatchStatus.parse({"slow_stage": {"stage": 1}, "last_probe": {**probe, "posture": {"dialect": 3}}})
    assert state == WatchStatus() and wrong == "unexpected values for last_probe, slow_stage"


def test_the_ocf_degraded_reason_names_the_slow_stage():
    from fswatch.watch.status import WatchStatus
    from fswatch.watch.status import degraded_reason as reason

    def degraded_reason(raw):
        return reason(WatchStatus.parse(raw)[0])

    slow = {"stage": "session", "ms": 900.0, "budget_ms": 500.0, "total_ms": 950.0}
    assert degraded_reason({"slow": True, "slow_stage": slow}) == (
        "slow: session 900 ms of 500 ms budget (probe 950 ms, alert 92)"
    )
    assert degraded_reason({"slow": True, "slow_stage": {"ms": "x"}}).startswith("slow: the last probe took")

"""The engine on a clock that cannot cheat: cadence, the detection bound, pause, recovery, notify.

`StrictClock` only moves forward, and only when someone spends time: the engine waiting on
it (StopSignal's interface) or a fake probe working. A fake probe works in small steps and
asks its Deadline before every step, as the real probes do, so a probe that stalls ends
*at* its deadline because it ran out of time, never because the test jumped the clock
there; a probe handed a deadline that has already passed fails at once, as a real one does.

Expected bounds come from SPEC.md section 2 written out here, never from the code's own
Schedule.detection_bound; every sd_notify message is checked, in order.
"""

import pytest

from fswatch.core.errors import DeadlineExceeded, ProbeFailure
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.host.control import Control
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.kinds import SAMBA
from fswatch.watch.engine import StopNow, StopSignal, Watch
from fswatch.watch.reporter import Reporter

STEP = 0.05  # how much time a fake probe spends per step of work
START = 1000.0


def spec_bound(interval, retries, timeout):
    """SPEC.md section 2: a fault at t0 is declared by t0 + this (+ 0.5 s of slack)."""
    return interval + retries * max(interval, timeout) + timeout


def spec_watchdog_seconds(timeout):
    """The unit's WatchdogSec= (units/*.service: timeout + 5): the longest allowed silence."""
    return timeout + 5


class StrictClock:
    """Monotonic time that moves only forward, and only when time is spent."""

    def __init__(self):
        self._t = START
        self.stop_at = None
        self.waits = []  # (when, seconds) of every wait the engine asked for
        self.reports_at = []  # instants a SIGHUP arrives (StopSignal.request_report)

    def __call__(self):
        return self._t

    def spend(self, seconds):
        assert seconds >= 0, f"time cannot go back ({seconds})"
        self._t += seconds

    # StopSignal's interface: waiting is how the engine sleeps
    def is_set(self):
        return self.stop_at is not None and self._t >= self.stop_at

    def report_requested(self):
        due = [t for t in self.reports_at if t <= self._t]
        self.reports_at = [t for t in self.reports_at if t > self._t]
        return bool(due)

    def wait(self, seconds):
        assert seconds > 0, f"a wait of {seconds} s is a busy loop"
        self.waits.append((self._t, seconds))
        if self.stop_at is not None and self._t + seconds >= self.stop_at:
            self.spend(max(0.0, self.stop_at - self._t))
            return True
        self.spend(seconds)
        return False


class Server:
    """A fake server the probe talks to: healthy with `latency`, or stalled from `stall_at`.

    A probe in flight when the stall begins hangs from then on, like a real one.
    """

    def __init__(self, clock, latency=0.01):
        self.clock = clock
        self.latency = latency
        self.stall_at = None
        self.probes = []  # (start, end, ok, deadline offered at start)
        self.hooks = {}  # probe number (1-based) -> callable run as that probe starts

    def stalled(self):
        return self.stall_at is not None and self.clock() >= self.stall_at

    def probe(self, deadline):
        start = self.clock()
        offered = deadline.at - start
        hook = self.hooks.pop(len(self.probes) + 1, None)
        if hook:
            hook()
        ok = self._work(deadline)
        end = self.clock()
        self.probes.append((start, end, ok, offered))
        if ok:
            return Observation(0.0, (StageTiming("connect", (end - start) * 1000.0),))
        failure = ProbeFailure(74, "negotiate", "no answer", "110", errno=110, timed_out=True)
        return Observation(0.0, (StageTiming("negotiate", (end - start) * 1000.0, False),), failure)

    def _work(self, deadline):
        done = 0.0
        for _ in range(1_000_000):  # bounded: at most 50 000 s of fake work
            try:
                left = deadline.timeout("negotiate")
            except DeadlineExceeded:
                return False
            if not self.stalled() and done >= self.latency - 1e-12:
                return True
            step = min(STEP, left) if self.stalled() else min(STEP, left, self.latency - done)
            self.clock.spend(step)
            done += step
        raise AssertionError("a fake probe ran away")


class Recorder:
    """Stands in for systemd's notify socket: every message with the instant it was sent."""

    def __init__(self, clock):
        self.clock = clock
        self.sent = []

    def __call__(self, message):
        self.sent.append((self.clock(), message))

    @property
    def messages(self):
        return [m for _, m in self.sent]

    def squeezed(self):
        """The messages in order, a run of WATCHDOG=1 shown once as 'WATCHDOG=1 *'."""
        out = []
        for m in self.messages:
            if m == "WATCHDOG=1" and out and out[-1] in ("WATCHDOG=1", "WATCHDOG=1 *"):
                out[-1] = "WATCHDOG=1 *"
            else:
                out.append(m)
        return out

    def longest_silence(self, until):
        pings = [t for t, m in self.sent if m == "WATCHDOG=1"]
        assert pings, "never pinged the watchdog"
        gaps = [b - a for a, b in zip(pings, pings[1:])] + [until - pings[-1]]
        return max(gaps)


def make_watch(tmp_path, schedule, clock, server):
    sink = ListSink()
    notify = Recorder(clock)
    notifier = Notifier(sender=notify, watchdog=True)
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(SAMBA, "w1", "public", schedule, sink, notifier, control, wall=clock)
    watch = Watch(schedule, server.probe, reporter, control, stop=clock, clock=clock)
    return watch, sink, notify, control


def stop_at(stop, clock, when):
    """A stop request (as SIGTERM's) that arrives while the watch sleeps, once `clock` reaches
    `when`; the sleeps spend their time on the clock."""
    def wait(seconds):
        clock.spend(seconds)
        if clock() >= when:
            stop.request()
        return stop.is_set()

    stop.wait = wait


def usec(seconds):
    return int(seconds * 1_000_000)


# -- every notify message, in order -------------------------------------------------------------


def test_notify_sequence_of_a_healthy_then_stalled_watch(tmp_path):
    """-i 30 -r 1 -t 2: READY after the first healthy probe, pings all through the 30 s
    sleeps (WatchdogSec= would be 7 s), STATUS after every probe, STOPPING at the end."""
    interval, retries, timeout = 30, 1, 2
    clock = StrictClock()
    server = Server(clock, latency=0.01)
    server.stall_at = START + 45  # during the second sleep
    watch, sink, notify, _ = make_watch(tmp_path, Schedule(interval, retries, timeout), clock, server)
    assert watch.run() == 1
    extend = usec(max(interval, timeout) + timeout + 5)
    assert notify.squeezed() == [
        f"WATCHDOG_USEC={usec(spec_watchdog_seconds(timeout))}",
        "STATUS=starting: first probe",
        "WATCHDOG=1",
        f"EXTEND_TIMEOUT_USEC={extend}",
        "READY=1\nSTATUS=healthy: 10.0 ms, 0/2 failed probes",
        "WATCHDOG=1 *",
        "STATUS=healthy: 10.0 ms, 0/2 failed probes",
        "WATCHDOG=1 *",
        "STATUS=failing: 1/2 failed probes; negotiate: no answer",
        "WATCHDOG=1 *",
        "STATUS=failing: 2/2 failed probes; negotiate: no answer",
        "STOPPING=1\nSTATUS=failed: negotiate: no answer",
    ]
    assert sink.ids == [1, 2, 74, 74, 6]
    # Never silent for a whole watchdog period: at most one probe and one second of waiting.
    assert notify.longest_silence(clock()) <= timeout + 1 + 1e-9
    # Every wait was short enough to ping in time, and each probe had its whole timeout.
    assert max(s for _, s in clock.waits) <= 1.0
    assert [round(p[3], 9) for p in server.probes] == [timeout] * 4
    assert [p[0] for p in server.probes] == [START + k * interval for k in range(4)]


def test_extend_timeout_before_every_probe_until_ready(tmp_path):
    """A server that is down at start: EXTEND_TIMEOUT_USEC before each probe, READY=1 only
    after the first healthy one, and no EXTEND_TIMEOUT_USEC after it."""
    interval, retries, timeout = 2, 3, 1
    clock = StrictClock()
    server = Server(clock, latency=0.02)
    server.stall_at = START  # stalled from the start …
    server.hooks[3] = lambda: setattr(server, "stall_at", None)  # … until the third probe
    clock.stop_at = START + 2 * interval + 1.5
    watch, sink, notify, _ = make_watch(tmp_path, Schedule(interval, retries, timeout), clock, server)
    assert watch.run() == 0
    extend = f"EXTEND_TIMEOUT_USEC={usec(max(interval, timeout) + timeout + 5)}"
    assert notify.squeezed() == [
        f"WATCHDOG_USEC={usec(spec_watchdog_seconds(timeout))}",
        "STATUS=starting: first probe",
        "WATCHDOG=1",
        extend,
        "STATUS=failing: 1/4 failed probes; negotiate: no answer",
        "WATCHDOG=1 *",
        extend,
        "STATUS=failing: 2/4 failed probes; negotiate: no answer",
        "WATCHDOG=1 *",
        extend,
        "READY=1\nSTATUS=healthy: 20.0 ms, 0/4 failed probes",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=stopping",
    ]
    # no alert 91 before the first healthy probe: there was nothing to recover from yet
    assert sink.ids == [1, 74, 74, 2, 3]


@pytest.mark.parametrize("interval,timeout", [(30, 2), (12, 2), (100, 1), (2, 10)])
def test_watchdog_never_silent_for_a_watchdog_period(tmp_path, interval, timeout):
    """WATCHDOG=1 keeps coming while the engine sleeps between probes, however long the
    interval: silence is at most one probe (its timeout) and one second of waiting, far
    below WatchdogSec=."""
    clock = StrictClock()
    server = Server(clock)
    server.stall_at = START + 3 * interval + 0.5
    watch, _, notify, _ = make_watch(tmp_path, Schedule(interval, 2, timeout), clock, server)
    assert watch.run() == 1
    assert notify.longest_silence(clock()) <= timeout + 1 + 1e-9 < spec_watchdog_seconds(timeout)


# -- the detection bound, from the fault instant ----------------------------------------------


SCHEDULES = [(1, 2, 1), (1, 3, 5), (30, 1, 2), (5, 4, 3), (2, 1, 7)]


@pytest.mark.parametrize("interval,retries,timeout", SCHEDULES)
def test_stall_declared_within_the_bound_after_exactly_retries_plus_one_failures(
    tmp_path, interval, retries, timeout
):
    bound = spec_bound(interval, retries, timeout)
    for fraction in (0.0, 0.0001, 0.25, 0.5, 0.999):
        clock = StrictClock()
        server = Server(clock, latency=0.01)
        fault = START + 2 * interval + fraction * interval
        server.stall_at = fault
        watch, sink, _, _ = make_watch(tmp_path / str(fraction), Schedule(interval, retries, timeout), clock, server)
        assert watch.run() == 1
        declared = clock()
        assert declared - fault <= bound, (fraction, declared - fault, bound)
        failed = [p for p in server.probes if not p[2]]
        assert len(failed) == retries + 1 and server.probes[-retries - 2][2]  # a healthy one before
        assert all(p[1] - p[0] >= timeout - 1e-9 for p in failed)  # each ran to its deadline
        assert declared == pytest.approx(failed[-1][1])
        assert sink.ids == [1, 2] + [74] * (retries + 1) + [6]


def test_the_worst_case_fault_is_declared_at_the_bound_not_before(tmp_path):
    """A fault just after a healthy probe ends: the slowest case. Declared near the bound
    (so the bound is not met by declaring early) and after retries + 1 failed probes."""
    interval, retries, timeout = 3, 2, 5
    clock = StrictClock()
    server = Server(clock, latency=0.01)
    fault = START + 0.01 + 1e-6
    server.stall_at = fault
    watch, _, _, _ = make_watch(tmp_path, Schedule(interval, retries, timeout), clock, server)
    assert watch.run() == 1
    elapsed = clock() - fault
    assert spec_bound(interval, retries, timeout) - 0.1 <= elapsed <= spec_bound(interval, retries, timeout)
    assert [p[2] for p in server.probes] == [True] + [False] * (retries + 1)


def test_a_probe_gets_its_whole_timeout(tmp_path):
    """A slow but answering server (answers in 0.9 × timeout) is never failed: the deadline
    is timeout seconds from the probe's start on the engine's clock."""
    clock = StrictClock()
    server = Server(clock, latency=1.8)
    clock.stop_at = START + 40
    watch, sink, _, _ = make_watch(tmp_path, Schedule(4, 1, 2), clock, server)
    assert watch.run() == 0
    assert all(p[2] for p in server.probes) and len(server.probes) == 10
    assert all(p[3] == pytest.approx(2.0) for p in server.probes)
    assert 6 not in sink.ids and sink.ids.count(92) == 1


def test_cadence_is_fixed_and_probes_never_overlap(tmp_path):
    clock = StrictClock()
    server = Server(clock, latency=0.3)
    clock.stop_at = START + 10.05
    watch, sink, _, _ = make_watch(tmp_path, Schedule(2, 1, 1), clock, server)
    assert watch.run() == 0
    starts = [p[0] for p in server.probes]
    assert starts == pytest.approx([START + 2 * k for k in range(6)])
    assert sink.ids == [1, 2, 3]


def test_a_probe_that_runs_long_delays_only_the_next(tmp_path):
    """interval 1, timeout 3: a stalled probe lasts 3 s; the next starts when it ends."""
    clock = StrictClock()
    server = Server(clock)
    server.stall_at = START + 1.5
    watch, _, _, _ = make_watch(tmp_path, Schedule(1, 2, 3), clock, server)
    assert watch.run() == 1
    ends = [p[1] for p in server.probes]
    starts = [p[0] for p in server.probes]
    assert all(s >= e - 1e-9 for e, s in zip(ends, starts[1:]))
    assert starts[2:] == pytest.approx([starts[2] + 3 * k for k in range(len(starts) - 2)])


# -- recovery, slow, pause ------------------------------------------------------------------


def test_recovery_alert_and_reset(tmp_path):
    clock = StrictClock()
    server = Server(clock)
    server.stall_at = START + 3
    server.hooks[6] = lambda: setattr(server, "stall_at", None)  # back after two failed probes
    clock.stop_at = START + 12
    watch, sink, notify, _ = make_watch(tmp_path, Schedule(1, 3, 1), clock, server)
    assert watch.run() == 0
    assert sink.ids == [1, 2, 74, 74, 91, 3]
    recovered = [a for a in sink.alerts if a[0] == 91][0]
    assert "after 2 failed probes" in recovered[1]
    statuses = [m for m in notify.messages if m.startswith("STATUS=failing")]
    assert statuses == [
        "STATUS=failing: 1/4 failed probes; negotiate: no answer",
        "STATUS=failing: 2/4 failed probes; negotiate: no answer",
    ]


def test_a_recovered_streak_does_not_count_towards_the_next(tmp_path):
    """fail, fail, ok, fail, fail with retries 2: never three in a row, so never declared."""
    clock = StrictClock()
    server = Server(clock)
    server.stall_at = START + 0.5
    server.hooks[4] = lambda: setattr(server, "stall_at", None)
    server.hooks[5] = lambda: setattr(server, "stall_at", clock())
    server.hooks[7] = lambda: setattr(server, "stall_at", None)
    clock.stop_at = START + 7.5
    watch, sink, _, _ = make_watch(tmp_path, Schedule(1, 2, 1), clock, server)
    assert watch.run() == 0
    assert [p[2] for p in server.probes] == [True, False, False, True, False, False, True, True]
    assert sink.ids == [1, 2, 74, 74, 91, 74, 74, 91, 3]


def test_slow_alert_comes_again_after_a_failure(tmp_path):
    """slow (92), failed, slow again: a new slow streak, so 92 again."""
    clock = StrictClock()
    server = Server(clock, latency=0.8)  # slower than half the 1 s timeout
    server.hooks[2] = lambda: setattr(server, "stall_at", clock())
    server.hooks[3] = lambda: setattr(server, "stall_at", None)
    clock.stop_at = START + 3.5
    watch, sink, _, _ = make_watch(tmp_path, Schedule(1, 3, 1), clock, server)
    assert watch.run() == 0
    assert [p[2] for p in server.probes] == [True, False, True, True]
    assert sink.ids == [1, 2, 92, 74, 91, 92, 3]


def test_slow_server_is_never_declared(tmp_path):
    clock = StrictClock()
    server = Server(clock, latency=0.95)  # just inside the 1 s timeout
    clock.stop_at = START + 60
    watch, sink, _, _ = make_watch(tmp_path, Schedule(1, 1, 1), clock, server)
    assert watch.run() == 0
    assert len(server.probes) == 60 and all(p[2] for p in server.probes)
    assert 6 not in sink.ids and sink.ids.count(92) == 1


def test_pause_stops_probing_and_failing(tmp_path):
    clock = StrictClock()
    server = Server(clock)
    schedule = Schedule(1, 2, 1)
    watch, sink, notify, control = make_watch(tmp_path, schedule, clock, server)
    server.hooks[3] = lambda: control.request_pause()
    server.stall_at = START + 2.5  # stalled while paused: must not count
    clock.stop_at = START + 30
    assert watch.run() == 0
    assert sink.ids == [1, 2, 7, 3]
    assert len(server.probes) == 3
    paused_at = [t for t, m in notify.sent if m == "STATUS=paused until continued"]
    assert len(paused_at) == 1
    assert notify.longest_silence(clock()) <= 1.0 + 1e-9
    assert notify.squeezed()[-3:] == ["STATUS=paused until continued", "WATCHDOG=1 *", "STOPPING=1\nSTATUS=stopping"]


def test_continue_resumes_with_a_fresh_count_and_then_detects(tmp_path):
    """Two failures (of three allowed) before a pause are forgotten at continue: after it,
    three more failed probes are needed, and the bound runs from the continue."""
    interval, retries, timeout = 1, 2, 1
    clock = StrictClock()
    server = Server(clock)
    schedule = Schedule(interval, retries, timeout)
    watch, sink, notify, control = make_watch(tmp_path, schedule, clock, server)
    server.stall_at = START + 0.5
    server.hooks[3] = lambda: control.request_pause()  # noticed after the failed probes 2 and 3
    resume_at = START + 20.25
    original_wait = clock.wait

    def wait(seconds):
        if clock() < resume_at <= clock() + seconds:
            control.request_continue()
        return original_wait(seconds)

    clock.wait = wait
    assert watch.run() == 1
    failed_before = [p for p in server.probes if not p[2] and p[0] < resume_at]
    failed_after = [p for p in server.probes if not p[2] and p[0] >= resume_at]
    assert len(failed_before) == 2 and len(failed_after) == retries + 1
    assert sink.ids == [1, 2, 74, 74, 7, 8] + [74] * (retries + 1) + [6]
    # noticed within one interval of the continue, then declared within the bound
    assert clock() - resume_at <= interval + spec_bound(interval, retries, timeout)
    assert "STATUS=resuming: probing" in notify.messages


def test_timed_pause_expires(tmp_path):
    clock = StrictClock()
    server = Server(clock)
    watch, sink, _, control = make_watch(tmp_path, Schedule(1, 2, 1), clock, server)
    server.hooks[2] = lambda: control.request_pause(5)
    clock.stop_at = START + 12
    assert watch.run() == 0
    assert sink.ids[:5] == [1, 2, 7, 93, 8]
    assert not control.pause_file.exists()
    # probing again from the moment the pause ran out, within one interval
    after = [p[0] for p in server.probes if p[0] > START + 1]
    assert START + 1 + 5 <= after[0] <= START + 1 + 5 + 1 + 1e-9


def test_state_file_written(tmp_path):
    import json

    clock = StrictClock()
    server = Server(clock)
    clock.stop_at = START + 3
    watch, _, _, control = make_watch(tmp_path, Schedule(1, 2, 1), clock, server)
    watch.run()
    state = json.loads(control.state_file.read_text())
    assert state["phase"] == "stopped" and state["last_probe"]["ok"] is True
    assert state["schedule"]["detection_bound"] == spec_bound(1, 2, 1)


def test_a_report_is_answered_while_waiting_and_changes_nothing_else(tmp_path):
    """SIGHUP / SIGUSR1 (StopSignal.request_report) while the watch sleeps: alert 160 within
    a ping (1 s), one per request; the probes keep their cadence and the watch ends as asked."""
    interval = 5
    clock = StrictClock()
    server = Server(clock)
    clock.reports_at = [START + 2.5, START + 7.2]
    clock.stop_at = START + 12
    watch, sink, _, _ = make_watch(tmp_path, Schedule(interval, 1, 2), clock, server)
    assert watch.run() == 0
    assert sink.ids == [1, 2, 160, 160, 3]
    report = sink.alerts[2]
    assert report[1] == ("The clp_sambamon runs with these settings: interval 5, retries 1, timeout 2; "
                         "from its command line, no settings file.")
    assert [p[0] for p in server.probes] == [START + k * interval for k in range(3)]


def test_stop_during_a_probe_ends_it_at_once(tmp_path):
    clock = StrictClock()
    stop = StopSignal()
    calls = []

    def probe(deadline):
        calls.append(deadline)
        if len(calls) == 2:
            stop.request()  # as the SIGTERM handler does, mid-probe
            raise AssertionError("not reached: request() raises into the probe")
        clock.spend(0.01)
        return Observation(0.0, (StageTiming("connect", 10.0),))

    sink = ListSink()
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(SAMBA, "w1", "public", Schedule(1, 2, 60), sink, Notifier(None), control, wall=clock)
    watch = Watch(Schedule(1, 2, 60), probe, reporter, control, stop=stop, clock=clock)
    stop.wait = lambda seconds: clock.spend(seconds) or stop.is_set()
    assert watch.run() == 0
    assert sink.ids == [1, 2, 3] and len(calls) == 2


def test_stop_signal_raises_into_a_probe_only():
    stop = StopSignal()
    stop.request()  # between probes (or before the first): nothing to interrupt
    assert stop.is_set() and stop.wait(0.01) is True
    stop = StopSignal()
    assert stop.wait(0.01) is False
    stop.probing = True
    with pytest.raises(StopNow):
        stop.request()
    stop.request()  # a second SIGTERM while the watch winds down must not raise again


def test_a_stop_while_sleeping_between_probes_is_clean(tmp_path):
    """The engine clears `probing` after each probe: a SIGTERM in the sleep ends the watch
    with alert 3, it does not raise StopNow out of the signal handler."""
    clock = StrictClock()
    stop = StopSignal()
    server = Server(clock)
    sink = ListSink()
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(SAMBA, "w1", "public", Schedule(5, 2, 1), sink, Notifier(None), control, wall=clock)
    watch = Watch(Schedule(5, 2, 1), server.probe, reporter, control, stop=stop, clock=clock)

    stop_at(stop, clock, START + 7)
    assert watch.run() == 0
    assert sink.ids == [1, 2, 3] and len(server.probes) == 2


def test_a_timed_pause_says_how_long(tmp_path):
    clock = StrictClock()
    server = Server(clock)
    watch, sink, notify, control = make_watch(tmp_path, Schedule(1, 2, 1), clock, server)
    server.hooks[2] = lambda: control.request_pause(5)
    clock.stop_at = START + 4
    assert watch.run() == 0
    assert "STATUS=paused for 5 s" in notify.messages


def test_keep_probing_declares_once_per_streak_and_goes_on(tmp_path):
    """Health attribute mode: a declared failure is alert 98 (and READY=1), once per
    failure streak; the watch goes on probing, and a recovery ends the streak."""
    clock = StrictClock()
    server = Server(clock)
    schedule = Schedule(1, 1, 1)
    sink = ListSink()
    notify = Recorder(clock)
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(SAMBA, "w1", "public", schedule, sink, Notifier(sender=notify, watchdog=True), control,
                        wall=clock)
    watch = Watch(schedule, server.probe, reporter, control, stop=clock, clock=clock, keep_probing=True)
    server.stall_at = START + 0.5  # probes 2..5 fail
    server.hooks[6] = lambda: setattr(server, "stall_at", None)
    server.hooks[7] = lambda: setattr(server, "stall_at", clock())  # probes 7..9 fail
    clock.stop_at = START + 9.5
    assert watch.run() == 0
    assert [p[2] for p in server.probes] == [True, False, False, False, False, True, False, False, False, False]
    assert sink.ids == [1, 2, 74, 74, 98, 91, 74, 74, 98, 3]
    assert [m for m in notify.messages if m.startswith("READY=1")] == [
        "READY=1\nSTATUS=healthy: 10.0 ms, 0/2 failed probes",
        "READY=1\nSTATUS=failed: negotiate: no answer",
        "READY=1\nSTATUS=failed: negotiate: no answer",
    ]


def test_keep_probing_declares_a_server_that_is_down_from_the_start(tmp_path):
    clock = StrictClock()
    server = Server(clock)
    schedule = Schedule(1, 1, 1)
    sink = ListSink()
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(SAMBA, "w1", "public", schedule, sink, Notifier(None), control, wall=clock)
    watch = Watch(schedule, server.probe, reporter, control, stop=clock, clock=clock, keep_probing=True)
    server.stall_at = START
    clock.stop_at = START + 3.5
    assert watch.run() == 0
    assert len(server.probes) == 4 and not any(p[2] for p in server.probes)
    assert sink.ids == [1, 74, 74, 98, 3]


def test_a_probe_that_raises_is_a_failed_probe_not_a_crash(tmp_path):
    """Issue 9 point 2, defence in depth: the watch retries and declares, it does not die."""
    clock = StrictClock()

    def raising(deadline):
        clock.spend(0.01)
        raise IndexError("a decoder bug")

    watch, sink, _, _ = make_watch(tmp_path, Schedule(1, 2, 1), clock, Server(clock))
    watch.probe = raising
    assert watch.run() == 1
    assert sink.ids == [1, 42, 42, 42, 6], sink.alerts
    assert "probe IndexError" in sink.alerts[1][1]


def test_a_crashed_probe_is_alert_42_naming_the_exception_and_its_time():
    import time

    from fswatch.watch.engine import crashed

    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("str() of this exception fails")

    now = [10.0]
    clock = lambda: now[0]  # noqa: E731
    before = time.time()
    now[0] = 10.25
    obs = crashed(IndexError("a decoder\n   bug  "), 10.0, clock)
    f = obs.failure
    assert (f.alert, f.stage, f.detail, f.function) == (42, "probe", "IndexError", "probe")
    assert f.reason == "the probe raised IndexError: a decoder bug"  # one line, white space squeezed
    assert obs.stages == (StageTiming("probe", 250.0, ok=False),) and not obs.ok
    assert before <= obs.started_wall <= time.time()
    assert obs.to_dict()["stages"] == [{"stage": "probe", "ms": 250.0, "ok": False}]
    assert crashed(ValueError("x" * 300), 10.0, clock).failure.reason == "the probe raised ValueError: " + "x" * 200
    assert crashed(ValueError(), 10.0, clock).failure.reason == "the probe raised ValueError"
    assert crashed(Unprintable(), 10.0, clock).failure.reason == "the probe raised Unprintable"


def test_a_stop_while_sleeping_after_a_probe_that_raised_is_clean(tmp_path):
    """As above, after a probe that raised: the engine clears `probing` on that path too."""
    clock = StrictClock()
    stop = StopSignal()
    sink = ListSink()
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(SAMBA, "w1", "public", Schedule(5, 2, 1), sink, Notifier(None), control, wall=clock)

    def raising(deadline):
        clock.spend(0.01)
        raise IndexError("a decoder bug")

    watch = Watch(Schedule(5, 2, 1), raising, reporter, control, stop=stop, clock=clock)

    stop_at(stop, clock, START + 2)
    assert watch.run() == 0
    assert sink.ids == [1, 42, 3]

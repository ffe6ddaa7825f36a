"""The engine on a fake clock: cadence, the detection bound, pause, recovery, notify."""

from fswatch.control import Control
from fswatch.engine import Watch
from fswatch.errors import ProbeFailure
from fswatch.kinds import SAMBA
from fswatch.notify import Notifier
from fswatch.observation import Observation, StageTiming
from fswatch.reporter import Reporter
from fswatch.settings import Schedule
from fswatch.sinks import ListSink


class FakeTime:
    """A clock that moves only when the engine waits or a fake probe takes time."""

    def __init__(self):
        self.t = 1000.0
        self.stop_at = None

    def __call__(self):
        return self.t

    # StopSignal's interface
    def is_set(self):
        return self.stop_at is not None and self.t >= self.stop_at

    def set(self):
        self.stop_at = self.t

    def wait(self, seconds):
        if self.stop_at is not None and self.t + seconds >= self.stop_at:
            self.t = max(self.t, self.stop_at)
            return True
        self.t += seconds
        return False


class Server:
    """A fake server: healthy, or stalled from `stall_at` (every probe runs to its deadline)."""

    def __init__(self, clock, latency=0.01):
        self.clock = clock
        self.latency = latency
        self.stall_at = None
        self.starts = []
        self.hooks = {}

    def probe(self, deadline):
        self.starts.append(self.clock.t)
        hook = self.hooks.pop(len(self.starts), None)
        if hook:
            hook()
        if self.stall_at is not None and self.clock.t >= self.stall_at:
            self.clock.t = deadline.at  # the probe ends by its deadline, as the real ones do
            failure = ProbeFailure(74, "negotiate", "no answer", "110", errno=110, timed_out=True)
            return Observation(0.0, (StageTiming("negotiate", 1000.0, False),), failure)
        self.clock.t += self.latency
        return Observation(0.0, (StageTiming("connect", self.latency * 1000),))


def make_watch(tmp_path, schedule, clock, server):
    sink = ListSink()
    sent = []
    notifier = Notifier(sender=sent.append, watchdog=True)
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(SAMBA, "w1", "public", schedule, sink, notifier, control, wall=clock)
    watch = Watch(schedule, server.probe, reporter, control, stop=clock, clock=clock)
    return watch, sink, sent, control


def test_cadence_is_fixed_and_probes_never_overlap(tmp_path):
    clock = FakeTime()
    server = Server(clock, latency=0.3)
    clock.stop_at = clock.t + 10.05
    watch, sink, _, _ = make_watch(tmp_path, Schedule(2, 1, 1), clock, server)
    assert watch.run() == 0
    gaps = [b - a for a, b in zip(server.starts, server.starts[1:])]
    assert all(abs(g - 2) < 1e-9 for g in gaps), gaps
    assert sink.ids == [1, 2, 3]


def test_stall_declared_within_the_bound(tmp_path):
    schedule = Schedule(interval=1, retries=2, timeout=1)
    for offset in (0.0, 0.001, 0.5, 0.999):
        clock = FakeTime()
        server = Server(clock)
        fault = clock.t + 5 + offset
        server.stall_at = fault
        watch, sink, sent, _ = make_watch(tmp_path, schedule, clock, server)
        assert watch.run() == 1
        assert clock.t - fault <= schedule.detection_bound
        assert sink.ids[:2] == [1, 2] and sink.ids[-2:] == [74, 6]
        assert "READY=1" in sent[1] or any("READY=1" in s for s in sent)


def test_long_timeout_bound(tmp_path):
    schedule = Schedule(interval=1, retries=3, timeout=5)
    clock = FakeTime()
    server = Server(clock)
    fault = clock.t + 3.2
    server.stall_at = fault
    watch, _, _, _ = make_watch(tmp_path, schedule, clock, server)
    assert watch.run() == 1
    assert clock.t - fault <= schedule.detection_bound


def test_recovery_alert_and_reset(tmp_path):
    clock = FakeTime()
    server = Server(clock)
    server.stall_at = clock.t + 3
    # the server comes back after two failed probes
    server.hooks[6] = lambda: setattr(server, "stall_at", None)
    clock.stop_at = clock.t + 12
    watch, sink, _, _ = make_watch(tmp_path, Schedule(1, 3, 1), clock, server)
    assert watch.run() == 0
    assert 91 in sink.ids and 6 not in sink.ids
    recovered = [a for a in sink.alerts if a[0] == 91][0]
    assert "after 2 failed probes" in recovered[1]


def test_pause_stops_probing_and_failing(tmp_path):
    clock = FakeTime()
    server = Server(clock)
    schedule = Schedule(1, 2, 1)
    watch, sink, sent, control = make_watch(tmp_path, schedule, clock, server)
    server.hooks[3] = lambda: control.request_pause()
    server.stall_at = clock.t + 2.5  # stalled while paused: must not count
    clock.stop_at = clock.t + 30
    assert watch.run() == 0
    assert sink.ids == [1, 2, 7, 3]
    assert len(server.starts) == 3
    pings_while_paused = [s for s in sent if s == "WATCHDOG=1"]
    assert len(pings_while_paused) >= 25
    assert "STATUS=paused until continued" in sent


def test_continue_resumes_and_then_detects(tmp_path):
    clock = FakeTime()
    server = Server(clock)
    schedule = Schedule(1, 2, 1)
    watch, sink, _, control = make_watch(tmp_path, schedule, clock, server)
    server.hooks[2] = lambda: control.request_pause()
    server.stall_at = clock.t + 1.5
    resume_at = clock.t + 20

    original_wait = clock.wait

    def wait(seconds):
        if clock.t < resume_at <= clock.t + seconds:
            control.request_continue()
        return original_wait(seconds)

    clock.wait = wait
    assert watch.run() == 1
    assert sink.ids[:4] == [1, 2, 7, 8]
    # noticed within one interval, then declared within the bound
    assert clock.t - resume_at <= 1 + schedule.detection_bound


def test_timed_pause_expires(tmp_path):
    clock = FakeTime()
    server = Server(clock)
    watch, sink, _, control = make_watch(tmp_path, Schedule(1, 2, 1), clock, server)
    server.hooks[2] = lambda: control.request_pause(5)
    clock.stop_at = clock.t + 12
    assert watch.run() == 0
    assert sink.ids[:5] == [1, 2, 7, 93, 8]
    assert not control.pause_file.exists()


def test_slow_server_is_never_declared(tmp_path):
    clock = FakeTime()
    server = Server(clock, latency=0.95)  # just inside the 1 s timeout
    clock.stop_at = clock.t + 60
    watch, sink, _, _ = make_watch(tmp_path, Schedule(1, 1, 1), clock, server)
    assert watch.run() == 0
    assert 6 not in sink.ids and sink.ids.count(92) == 1


def test_state_file_written(tmp_path):
    import json

    clock = FakeTime()
    server = Server(clock)
    clock.stop_at = clock.t + 3
    watch, _, _, control = make_watch(tmp_path, Schedule(1, 2, 1), clock, server)
    watch.run()
    state = json.loads(control.state_file.read_text())
    assert state["phase"] == "stopped" and state["last_probe"]["ok"] is True
    assert state["schedule"]["detection_bound"] == 4


def test_stop_during_a_probe_ends_it_at_once(tmp_path):
    from fswatch.engine import StopSignal

    clock = FakeTime()
    stop = StopSignal()
    calls = []

    def probe(deadline):
        calls.append(deadline)
        if len(calls) == 2:
            stop.request()  # as the SIGTERM handler does, mid-probe
            raise AssertionError("not reached: request() raises into the probe")
        clock.t += 0.01
        return Observation(0.0, (StageTiming("connect", 10.0),))

    sink = ListSink()
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(SAMBA, "w1", "public", Schedule(1, 2, 60), sink, Notifier(None), control, wall=clock)
    watch = Watch(Schedule(1, 2, 60), probe, reporter, control, stop=stop, clock=clock)
    stop.wait = lambda seconds: clock.__setattr__("t", clock.t + seconds) or stop.is_set()
    assert watch.run() == 0
    assert sink.ids == [1, 2, 3] and len(calls) == 2


def test_a_probe_that_raises_is_a_failed_probe_not_a_crash(tmp_path):
    """Issue 9 point 2, defence in depth: the watch retries and declares, it does not die."""
    clock = FakeTime()

    def raising(deadline):
        clock.t += 0.01
        raise IndexError("a decoder bug")

    watch, sink, _, _ = make_watch(tmp_path, Schedule(1, 2, 1), clock, Server(clock))
    watch.probe = raising
    assert watch.run() == 1
    assert sink.ids == [1, 42, 42, 42, 6], sink.alerts
    assert "probe IndexError" in sink.alerts[1][1]

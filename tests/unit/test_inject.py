"""Fault injection (fswatch.watch.inject) on the engine with a fake clock, and its command forms:
the injected failure takes the real judge/report path, is marked as injected, and never
outlives its watch."""

import json
import os

import pytest

from fswatch.core.errors import NotRunning, UsageError
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.host.control import Control
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink, StderrSink
from fswatch.kinds import NFS, SAMBA
from fswatch.surfaces import clp
from fswatch.watch.engine import Watch
from fswatch.watch.inject import Injector, Request
from fswatch.watch.reporter import Reporter


class FakeTime:
    """A clock that moves only when the engine waits or a probe takes time; also the stop signal."""

    def __init__(self):
        self.t = 1000.0
        self.stop_at = None

    def __call__(self):
        return self.t

    def is_set(self):
        return self.stop_at is not None and self.t >= self.stop_at

    def report_requested(self):  # no SIGHUP here
        return False

    def wait(self, seconds):
        if self.stop_at is not None and self.t + seconds >= self.stop_at:
            self.t = max(self.t, self.stop_at)
            return True
        self.t += seconds
        return False


def healthy_server(clock, hooks=None):
    """A healthy server (10 ms per probe); hooks[n]() runs before the n-th real probe."""
    calls = []

    def probe(deadline):
        calls.append(clock.t)
        hook = (hooks or {}).get(len(calls))
        if hook:
            hook()
        clock.t += 0.01
        return Observation(clock.t, (StageTiming("connect", 4.0), StageTiming("session", 6.0)))

    return probe, calls


def make(tmp_path, schedule, clock, probe, kind=SAMBA, pid=None, keep_probing=False):
    sink = ListSink()
    control = Control(tmp_path / "run" / kind.name / "w1", clock=clock)
    reporter = Reporter(kind, "w1", "public", schedule, sink, Notifier(sender=lambda s: None), control, wall=clock)
    injector = Injector(control, kind, schedule.attempts, reporter.injection_changed, pid=pid, wall=clock)
    watch = Watch(schedule, injector.wrap(probe), reporter, control, stop=clock, clock=clock, keep_probing=keep_probing)
    return watch, sink, control


def inject(control, stage="connect", count=None, pid=None):
    record = Request("n-" + str(os.urandom(4).hex()), stage, count, os.getpid() if pid is None else pid, 1.0)
    control.request_injection(record.to_record())


def test_default_injection_declares_within_the_bound_through_the_real_path(tmp_path):
    clock = FakeTime()
    schedule = Schedule(2, 2, 3)  # interval 2, retries 2, timeout 3
    control_box = []
    injected_at = []

    def arm():
        inject(control_box[0])
        injected_at.append(clock.t)

    probe, calls = healthy_server(clock, {2: arm})
    clock.stop_at = clock.t + 100
    watch, sink, control = make(tmp_path, schedule, clock, probe)
    control_box.append(control)
    assert watch.run() == 1  # declared: the engine's own exit, as for a real failure
    bound = schedule.interval + schedule.retries * max(schedule.interval, schedule.timeout) + schedule.timeout
    assert clock.t - injected_at[0] <= bound
    assert len(calls) == 2  # the server was not contacted while the injection lasted
    assert sink.ids == [1, 2, 113, 72, 72, 72, 6]
    injected = [a for a in sink.alerts if a[2].get("FSWATCH_INJECTED") == "1"]
    assert [a[0] for a in injected] == [113, 72, 72, 72, 6]
    connect = sink.alerts[3]
    assert connect[1] == "The clp_sambamon has detected network error(connect error[injected failure])."
    assert connect[2]["FSWATCH_STAGE"] == "connect" and "injected" in connect[2]["FSWATCH_REASON"]
    assert sink.alerts[-1][1] == "The clp_sambamon will terminate. (injected)"  # the seed text first
    assert "FSWATCH_HISTORY" in sink.alerts[-1][2]
    state = json.loads(control.state_file.read_text())
    assert state["phase"] == "failed" and state["last_probe"]["failure"]["injected"] is True


def test_a_count_below_retries_plus_one_recovers(tmp_path):
    clock = FakeTime()
    control_box = []
    probe, calls = healthy_server(clock, {1: lambda: inject(control_box[0], "tree_connect", 2)})
    clock.stop_at = clock.t + 20
    watch, sink, control = make(tmp_path, Schedule(1, 3, 1), clock, probe)
    control_box.append(control)
    assert watch.run() == 0
    assert sink.ids[:6] == [1, 2, 113, 62, 62, 91]  # two injected failures (warnings), then recovered
    assert sink.alerts[3][1] == (
        "The clp_sambamon has detected an error in Samba [public] (tree connect error[injected failure])."
    )
    assert json.loads(control.state_file.read_text())["injection"] is None
    assert sink.ids.count(62) == 2 and len(calls) >= 3  # exactly two injected; real probes resumed


def test_a_request_for_another_watch_process_fails_nothing(tmp_path):
    """A file left by an earlier watch (another PID) never affects this one."""
    clock = FakeTime()
    probe, calls = healthy_server(clock)
    clock.stop_at = clock.t + 5
    watch, sink, control = make(tmp_path, Schedule(1, 1, 1), clock, probe)
    control.ensure()
    inject(control, pid=os.getpid() + 1)
    assert watch.run() == 0
    assert 72 not in sink.ids and 113 not in sink.ids and len(calls) >= 4


@pytest.mark.parametrize(
    "raw", [b"", b"garbage", b"[]", b'{"nonce": 1}', b'{"nonce":"a","stage":"connect","pid":1,"count":0}']
)
def test_a_malformed_request_fails_nothing(tmp_path, raw):
    clock = FakeTime()
    probe, calls = healthy_server(clock)
    clock.stop_at = clock.t + 3
    watch, sink, control = make(tmp_path, Schedule(1, 1, 1), clock, probe)
    control.ensure()
    (control.directory / "inject").write_bytes(raw.replace(b'"pid":1', f'"pid":{os.getpid()}'.encode()))
    assert watch.run() == 0
    assert sink.ids == [1, 2, 3]


def test_an_unknown_stage_in_the_file_fails_nothing(tmp_path):
    clock = FakeTime()
    probe, calls = healthy_server(clock)
    clock.stop_at = clock.t + 3
    watch, sink, control = make(tmp_path, Schedule(1, 1, 1), clock, probe, kind=SAMBA)
    control.ensure()
    inject(control, stage="compound")  # an NFS stage, not Samba's
    assert watch.run() == 0 and sink.ids == [1, 2, 3]


def test_continue_clears_an_injection_and_the_next_probe_is_real(tmp_path):
    clock = FakeTime()
    box = []
    probe, calls = healthy_server(clock, {1: lambda: inject(box[0], "session", 50)})
    clock.stop_at = clock.t + 12
    watch, sink, control = make(tmp_path, Schedule(1, 10, 1), clock, probe)
    box.append(control)
    original = watch.probe
    seen = []

    def probe_then_continue(deadline):
        obs = original(deadline)
        seen.append(obs)
        if len(seen) == 3:
            assert control.clear_injection()  # what `fswatch continue` does besides the pause
        return obs

    watch.probe = probe_then_continue
    assert watch.run() == 0
    assert [o.ok for o in seen[:4]] == [True, False, False, True]
    assert sink.ids[:6] == [1, 2, 113, 64, 64, 91]


def test_attribute_mode_declares_with_alert_98_and_history(tmp_path):
    clock = FakeTime()
    box = []
    probe, calls = healthy_server(clock, {1: lambda: inject(box[0], "negotiate")})
    clock.stop_at = clock.t + 8
    watch, sink, control = make(tmp_path, Schedule(1, 1, 1), clock, probe, keep_probing=True)
    box.append(control)
    assert watch.run() == 0
    assert sink.ids[:6] == [1, 2, 113, 65, 65, 98]
    declared = sink.alerts[5][2]
    assert declared["FSWATCH_INJECTED"] == "1"
    assert len(declared["FSWATCH_HISTORY_JSON"].splitlines()) == 3  # the healthy probe and both failures
    assert 91 in sink.ids  # the real probe afterwards sees the server healthy


def test_stderr_line_says_injected_and_shows_the_history(tmp_path, capsys):
    clock = FakeTime()
    box = []
    probe, _ = healthy_server(clock, {1: lambda: inject(box[0], "share_type", None)})
    clock.stop_at = clock.t + 10
    watch, _, control = make(tmp_path, Schedule(1, 1, 1), clock, probe)
    watch.reporter.sink = StderrSink()
    box.append(control)
    assert watch.run() == 1
    err = capsys.readouterr().err
    assert "alert 63: The clp_sambamon has detected an error in Samba [public] (share type error). (injected)" in err
    assert "alert 6: The clp_sambamon will terminate. (injected)" in err
    history_rows = [line for line in err.splitlines() if line.startswith("    ")]
    assert len(history_rows) == 4  # header + 3 probes
    assert "failed 2/2" in history_rows[-1] and "share_type" in history_rows[-1]


# -- the kinds' stages, the request and the command forms --------------------------------------


def test_each_kind_names_its_stages_with_an_alert_of_its_own_text():
    from fswatch.core.alerts import alert

    for kind in (SAMBA, NFS):
        assert kind.stages and kind.stage().name == kind.stages[0].name
        for stage in kind.stages:
            assert alert(stage.alert).template(kind)  # the kind has a text for that alert
    with pytest.raises(UsageError) as refused:
        SAMBA.stage("fsstat")
    assert refused.value.alert == 11 and "tree_connect" in str(refused.value)


def test_stage_names_match_what_the_probes_record():
    """Each kind's stages are the ones its probe records, no more and no fewer."""
    import inspect
    import re

    from fswatch.probes import nfs, resolve, samba

    recorded = r'(?:_Stage\(rec, |self\._stage\(|_write_stage\(rec, |rec\.add\(|rec\.stage\(|stage = )"(\w+)"'
    for kind, module in ((SAMBA, samba), (NFS, nfs)):
        names = set(re.findall(recorded, inspect.getsource(module))) | {resolve.STAGE}  # both probes resolve names
        assert names == {s.name for s in kind.stages}, kind.name


def test_request_refuses_a_watch_that_does_not_run(tmp_path):
    control = Control(tmp_path / "run" / "samba" / "w1")
    with pytest.raises(NotRunning):
        from fswatch.watch.inject import request

        request(SAMBA, "w1", None, None, control)
    assert not (control.directory / "inject").exists()


@pytest.mark.parametrize(
    "argv, stage, count",
    [
        (["w1", "-inject"], None, None),
        (["w1", "-inject", "session"], "session", None),
        (["w1", "-inject", "3"], None, 3),
        (["w1", "-inject", "tree_connect", "7"], "tree_connect", 7),
    ],
)
def test_clp_inject_form(argv, stage, count):
    req = clp.parse(SAMBA, argv)
    assert (req.form, req.stage, req.count) == ("-inject", stage, count)


@pytest.mark.parametrize(
    "argv",
    [
        ["w1", "-inject", "nosuchstage"],
        ["w1", "-inject", "3", "session"],
        ["w1", "-inject", "session", "0"],
        ["w1", "-inject", "session", "3", "4"],
        ["w1", "-s", "x", "-inject"],
    ],
)
def test_clp_inject_refusals(argv):
    with pytest.raises(UsageError):
        clp.parse(SAMBA, argv)


def test_nfs_stage_names_for_clp_nfsmon():
    assert clp.parse(NFS, ["w1", "-inject", "fsstat", "2"]).stage == "fsstat"
    with pytest.raises(UsageError):
        clp.parse(NFS, ["w1", "-inject", "tree_connect"])


def test_ocf_exit_reason_of_an_injected_failure_says_so():
    from fswatch.surfaces.ocf.agent import OCF_ERR_GENERIC
    from fswatch.surfaces.ocf.watches import verdict
    from fswatch.watch.status import WatchStatus, WatchView

    failure = {"alert": 63, "stage": "share_type", "reason": "injected failure (fswatch inject)", "injected": True}
    state = {"kind": "samba", "target": "public", "phase": "failed", "failures": 3, "attempts": 3,
             "last_probe": {"started": 1.0, "total_ms": 0.0, "stages": [], "failure": failure}}
    rc, reason = verdict(WatchView("samba", "w1", None, WatchStatus.parse(state)[0]))
    assert rc == OCF_ERR_GENERIC
    assert reason == ("declared failed after 3/3 failed probes: stage share_type, alert 63: The clp_sambamon has "
                      "detected an error in Samba [public] (share type error). (injected) "
                      "(cause: injected failure (fswatch inject))")

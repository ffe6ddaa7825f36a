"""Health attribute mode: the publisher (bounded attrd_updater calls) and the watch that
publishes every verdict change and keeps probing after a declared failure."""

from __future__ import annotations

import time

from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.host.attrd import AttributePublisher, CallTimedOut, run_bounded
from fswatch.host.control import Control
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.kinds import SAMBA
from fswatch.watch.engine import Watch
from fswatch.watch.reporter import Reporter


class Clock:
    """Moves only when the engine waits or a probe takes time; stops the watch at `end`."""

    def __init__(self, end):
        self.t = 0.0
        self.end = end

    def __call__(self):
        return self.t

    def is_set(self):
        return self.t >= self.end

    def report_requested(self):  # no SIGHUP here
        return False

    def wait(self, seconds):
        self.t = min(self.t + seconds, self.end)
        return self.is_set()


class Script:
    """A server whose probe outcome follows a script over time: [(until_t, ok), ...]."""

    def __init__(self, clock, plan):
        self.clock = clock
        self.plan = plan

    def probe(self, deadline):
        ok = next((o for until, o in self.plan if self.clock.t < until), True)
        if ok:
            self.clock.t += 0.01
            return Observation(0.0, (StageTiming("connect", 10.0),))
        self.clock.t = deadline.at
        failure = ProbeFailure(74, "negotiate", "no answer", "110", errno=110, timed_out=True)
        return Observation(0.0, (StageTiming("negotiate", 1000.0, False),), failure)


class FakeAttrd:
    """Stands in for attrd_updater: records each call; fails the calls listed in `fail`."""

    def __init__(self, fail=()):
        self.calls = []
        self.fail = set(fail)

    def __call__(self, argv, seconds):
        self.calls.append((list(argv), seconds))
        if len(self.calls) in self.fail:
            raise CallTimedOut()
        return 0, ""

    @property
    def values(self):
        return [argv[-1] for argv, _ in self.calls]


def run(tmp_path, plan, end, attrd, keep_probing=True):
    clock = Clock(end)
    sink = ListSink()
    sent = []
    reporter = Reporter(SAMBA, "w1", "public", Schedule(1, 1, 1), sink, Notifier(sent.append, watchdog=True),
                        Control(tmp_path / "ctl", clock=clock), wall=clock,
                        publisher=AttributePublisher("fsw-health", runner=attrd))
    watch = Watch(Schedule(1, 1, 1), Script(clock, plan).probe, reporter, reporter.control, stop=clock, clock=clock,
                  keep_probing=keep_probing)
    return watch.run(), sink, sent, reporter


def test_every_verdict_change_is_published_and_a_declared_failure_does_not_end_the_watch(tmp_path):
    # healthy until t=3, failing until t=8 (declared after 2 failures), healthy again after
    rc, sink, sent, reporter = run(tmp_path, [(3, True), (8, False)], 14, FakeAttrd())
    attrd = reporter.publisher.runner
    assert rc == 0  # stopped, never declared-and-ended
    assert attrd.values == ["1", "0", "1"]
    assert attrd.calls[0][0] == ["attrd_updater", "-n", "fsw-health", "-U", "1"]
    assert all(seconds == 2.0 for _, seconds in attrd.calls)
    ids = sink.ids
    assert 6 not in ids  # the watch does not terminate
    assert ids[:3] == [1, 2, 97]
    failing = ids.index(98)
    assert ids[failing - 1] == 74 and ids[failing + 1] == 97  # stage alert, 98, then attribute=0
    assert 91 in ids[failing:]  # recovered, then published 1
    assert [a[1] for a in sink.alerts if a[0] == 97] == [
        "The clp_sambamon has set the node attribute fsw-health=1.",
        "The clp_sambamon has set the node attribute fsw-health=0.",
        "The clp_sambamon has set the node attribute fsw-health=1.",
    ]
    assert "READY=1" in sent[0] or any("READY=1" in s for s in sent)
    assert not any("STOPPING=1" in s for s in sent[:-1])  # only at the final stop
    assert reporter.snapshot().attribute == {"name": "fsw-health", "published": True, "value": "1", "failing": False}


def test_a_failed_update_is_alert_96_once_and_is_retried_at_the_next_probe(tmp_path):
    # calls 1 and 2 fail (1 on the first healthy probe, 2 on its retry); call 3 succeeds
    rc, sink, _, reporter = run(tmp_path, [], 5, FakeAttrd(fail={1, 2}))
    assert rc == 0
    assert reporter.publisher.runner.values == ["1", "1", "1"]
    failed = [a for a in sink.alerts if a[0] == 96]
    assert len(failed) == 1
    assert failed[0][1] == ("The clp_sambamon has failed to update the node attribute "
                            "(fsw-health=1: attrd_updater did not end within 2 s and was killed).")
    assert failed[0][2]["FSWATCH_ATTRIBUTE"] == "fsw-health"
    assert sink.ids.count(97) == 1 and sink.ids.index(96) < sink.ids.index(97)


def test_without_keep_probing_a_declared_failure_still_ends_the_watch(tmp_path):
    rc, sink, _, reporter = run(tmp_path, [(100, False)], 50, FakeAttrd(), keep_probing=False)
    assert rc == 1 and sink.ids[-2:] == [6, 97] and 98 not in sink.ids
    assert reporter.publisher.runner.values == ["0"]


def test_publisher_reasons():
    def exits(status, output):
        return lambda argv, seconds: (status, output)

    def missing(argv, seconds):
        raise FileNotFoundError(2, "No such file or directory")

    publisher = AttributePublisher("a")
    publisher.runner = exits(0, "")
    assert publisher("1") is None
    publisher.runner = exits(102, "noise\ncould not connect to attrd\n")
    assert publisher("0") == "attrd_updater exited with status 102: could not connect to attrd"
    publisher.runner = missing
    assert publisher("1") == "cannot run attrd_updater: No such file or directory"


def test_run_bounded_kills_a_hanging_command_and_its_children(tmp_path):
    began = time.monotonic()
    try:
        # the shell's child holds the output pipe: killing only the shell would hang the read
        run_bounded(["sh", "-c", "sleep 60; echo late"], 0.3)
    except CallTimedOut:
        pass
    else:
        raise AssertionError("not timed out")
    assert time.monotonic() - began < 0.3 + 0.5 + 0.3
    assert run_bounded(["sh", "-c", "echo out; echo err >&2; exit 3"], 5) == (3, "out\nerr\n")


def test_fswatch_add_attribute_writes_the_conf_key_that_run_reads(tmp_path, monkeypatch, capsys):
    from fswatch.surfaces.cli import main
    from fswatch.watch.runner import load_settings

    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    assert main(["add", "samba", "w1", "--share", "public", "--attribute", "fswatch-smb"]) == 0
    assert "attribute = fswatch-smb\n" in (tmp_path / "etc" / "samba" / "w1.conf").read_text()
    assert load_settings("samba", "w1")[0].attribute == "fswatch-smb"
    assert main(["add", "samba", "w2", "--share", "public", "--attribute", "bad name"]) == 2
    assert "invalid attribute name 'bad name'" in capsys.readouterr().err
    assert not (tmp_path / "etc" / "samba" / "w2.conf").exists()

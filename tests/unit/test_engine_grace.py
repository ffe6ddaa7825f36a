"""A watch through an NFSv4 grace period, on a fake clock: degraded (alert 100, phase, STATUS,
state file), never a failed probe, then healthy (alert 102); past its limit a failure (alert 101)."""

from __future__ import annotations

import json

from fswatch.core.observation import Degradation, Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.host.control import Control
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.kinds import NFS
from fswatch.watch.engine import Watch
from fswatch.watch.reporter import Reporter
from fswatch.watch.status import WatchStatus
from tests.unit.test_engine import StrictClock

REASON = "NFSv4.2 at 10.0.0.1:2049/tcp: OPEN answered NFS4ERR_GRACE: no new opens or locks until its grace period ends"


class GraceServer:
    """Healthy, but in a grace period for probes number `grace` (1-based); records what the
    reporter had written to the state file after each probe."""

    def __init__(self, clock, grace, lease=2):
        self.clock = clock
        self.grace = grace
        self.lease = lease
        self.count = 0

    def probe(self, deadline):
        self.count += 1
        self.clock.spend(0.01)
        degraded = None
        if self.count in self.grace:
            degraded = Degradation("grace period", "compound", REASON, "NFS4ERR_GRACE", self.lease)
        return Observation(0.0, (StageTiming("compound", 10.0),), None, (), degraded)


def make(tmp_path, schedule, clock, server):
    sink, sent = ListSink(), []
    control = Control(tmp_path / "ctl", clock=clock)
    reporter = Reporter(NFS, "n1", "/srv/export", schedule, sink, Notifier(sender=sent.append), control, wall=clock)
    states = []
    probe = server.probe

    def probe_and_look(deadline):
        if control.state_file.exists():
            states.append(json.loads(control.state_file.read_text()))
        return probe(deadline)

    watch = Watch(schedule, probe_and_look, reporter, control, stop=clock, clock=clock)
    return watch, sink, sent, states


def test_grace_period_is_degraded_then_healthy(tmp_path):
    clock = StrictClock()
    server = GraceServer(clock, grace=range(2, 6))
    clock.stop_at = clock() + 7.5
    watch, sink, sent, states = make(tmp_path, Schedule(1, 1, 1), clock, server)
    assert watch.run() == 0
    assert sink.ids == [1, 2, 100, 102, 3]
    alert = dict(zip(sink.ids, sink.alerts))
    assert alert[100][1] == (
        "The clp_nfsmon has seen NFS shared directory '/srv/export' in a grace period (degraded, not failed, "
        "for up to 6 s)."
    )
    assert alert[100][2]["FSWATCH_RPC_STATUS"] == "NFS4ERR_GRACE" and alert[100][2]["FSWATCH_STAGE"] == "compound"
    assert alert[102][1] == (
        "The clp_nfsmon has seen the grace period of NFS shared directory '/srv/export' end after 4 degraded probes."
    )
    # What `fswatch status --json` reads while degraded, and STATUS= for systemctl status.
    degraded = [s for s in states if s["phase"] == "degraded"]
    assert len(degraded) == 4 and all(s["failures"] == 0 and s["slow"] is False for s in degraded)
    assert all(WatchStatus.parse(s)[1] == "" for s in states)  # `fswatch status` finds nothing wrong in them
    assert degraded[-1]["degraded"] == {
        "cause": "grace period", "stage": "compound", "reason": REASON, "status": "NFS4ERR_GRACE",
        "lease_seconds": 2, "probes": 4, "limit_seconds": 6,
    }  # fmt: skip
    assert degraded[-1]["status"].startswith("degraded (grace period): 10.0 ms, for 3 s of at most 6 s; NFSv4.2")
    assert states[-1]["phase"] == "healthy" and states[-1]["degraded"] is None
    statuses = [m for m in sent if m.startswith("STATUS=degraded (grace period)")]
    assert len(statuses) == 4


def test_grace_period_past_its_limit_is_declared_failed_with_alert_101(tmp_path):
    clock = StrictClock()
    server = GraceServer(clock, grace=range(1, 100), lease=1)  # limit 3 s
    clock.stop_at = clock() + 60
    watch, sink, _, states = make(tmp_path, Schedule(1, 1, 1), clock, server)
    assert watch.run() == 1
    # Degraded at 0, 1, 2, 3 s (span 3 s = the limit), failed at 4 and 5 s: retries (1) + 1.
    assert server.count == 6
    assert sink.ids == [1, 2, 100, 101, 101, 66, 6]
    message = dict(zip(sink.ids, sink.alerts))[101][1]
    assert message == (
        "The clp_nfsmon has seen the grace period of NFS shared directory '/srv/export' last longer than 3 s."
    )
    assert [s["phase"] for s in states] == ["starting", "degraded", "degraded", "degraded", "degraded", "failing"]

"""The failure timeline (fswatch.watch.history): the reporter's bounded ring of recent probes, in
alert 6's / 98's journal fields, the state file, `status --history` and `status --json`."""

import json

import pytest

from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule
from fswatch.core.verdict import WatchState, judge
from fswatch.host.control import Control
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.kinds import SAMBA
from fswatch.surfaces.cli import main
from fswatch.watch.history import HISTORY_MAX, History, history_size, table
from fswatch.watch.reporter import Reporter
from fswatch.watch.status import WatchStatus

T0 = 1_764_554_400.0  # 2025-12-01 02:00:00 UTC


def ok(at, connect_ms, session_ms):
    return Observation(at, (StageTiming("connect", connect_ms), StageTiming("session", session_ms)))


def stalled(at, ms=5000.0):
    failure = ProbeFailure(74, "tree_connect", "no answer within the deadline during tree connect", "110",
                           errno=110, timed_out=True)
    return Observation(at, (StageTiming("connect", 0.4), StageTiming("tree_connect", ms, False)), failure)


def refused(at):
    failure = ProbeFailure(72, "connect", "cannot connect to 127.0.0.1:445: Connection refused", "111", errno=111)
    return Observation(at, (StageTiming("connect", 0.2, False),), failure)


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    return tmp_path / "run"


def feed(runtime, schedule, observations, watch_id="w1"):
    """Observations through the real judge and reporter, as the engine passes them."""
    sink = ListSink()
    control = Control(runtime / "samba" / watch_id)
    reporter = Reporter(SAMBA, watch_id, "public", schedule, sink, Notifier(sender=lambda s: None), control,
                        wall=lambda: T0 + 3600)
    state = WatchState()
    for obs in observations:
        judgement = judge(state, obs, schedule)
        state = judgement.state
        reporter.probed(obs, judgement)
        if judgement.declared_failed:
            reporter.declared_failed(obs)
            break
    return sink, control


def test_ring_holds_retries_plus_3_probes_at_most_32():
    assert history_size(5) == 8 and history_size(1) == 4 and history_size(10000) == HISTORY_MAX == 32
    ring = History(history_size(2))
    for i in range(9):
        ring.add(ok(T0 + i, 1.0, float(i)), "healthy", 0)
    assert [e["started"] for e in ring.entries()] == [T0 + i for i in range(4, 9)]
    assert ring.json() == json.dumps(ring.entries())  # each entry's text is kept from when it came


def test_alert_6_carries_the_last_probes_degrading_and_dead_read_differently(runtime):
    schedule = Schedule(30, 2, 10)  # slow above 5000 ms
    degrading = [ok(T0, 1, 8), ok(T0 + 30, 2, 900), ok(T0 + 60, 3, 6200), ok(T0 + 90, 4, 8800)]
    degrading += [stalled(T0 + 120 + 30 * i, 10000.0) for i in range(3)]
    sink, _ = feed(runtime, schedule, degrading, "slowly")
    six = sink.alerts[-1]
    assert six[0] == 6
    rows = six[2]["FSWATCH_HISTORY"].splitlines()
    assert len(rows) == 1 + 5  # header + retries + 3 probes (the first two fell out of the ring)
    assert rows[0].split() == ["TIME", "(UTC)", "RESULT", "TOTAL", "ms", "SLOWEST", "ms", "ALERT", "FAILURE"]
    assert rows[1].split()[:6] == ["2025-12-01", "02:01:00.000", "slow", "6203.0", "session", "6200.0"]
    assert rows[2].split()[2:6] == ["slow", "8804.0", "session", "8800.0"]
    assert rows[3].split()[2:8] == ["failed", "1/3", "10000.4", "tree_connect", "10000.0", "74"]
    assert rows[5].split()[2:4] == ["failed", "3/3"]
    assert rows[5].endswith("tree_connect: no answer within the deadline during tree connect")
    lines = [json.loads(line) for line in six[2]["FSWATCH_HISTORY_JSON"].splitlines()]
    assert [e["result"] for e in lines] == ["slow", "slow", "failed", "failed", "failed"]
    assert lines[0]["stages"] == [{"stage": "connect", "ms": 3.0, "ok": True}, {"stage": "session", "ms": 6200.0,
                                                                                  "ok": True}]
    assert lines[-1]["failure"]["alert"] == 74 and lines[-1]["failures"] == 3

    dead = [ok(T0 + 30 * i, 1, 7) for i in range(4)] + [refused(T0 + 120 + 30 * i) for i in range(3)]
    sink, _ = feed(runtime, schedule, dead, "atonce")
    rows = sink.alerts[-1][2]["FSWATCH_HISTORY"].splitlines()
    assert [r.split()[2] for r in rows[1:]] == ["healthy", "healthy", "failed", "failed", "failed"]
    assert rows[1].split()[3:6] == ["8.0", "session", "7.0"]
    assert rows[-1].split()[4:10] == ["0.2", "connect", "0.2", "72", "connect:", "cannot"]


def test_state_file_keeps_the_ring_and_status_shows_it(runtime, capsys):
    schedule = Schedule(1, 1, 1)
    feed(runtime, schedule, [ok(T0 + i, 1, 2) for i in range(6)] + [refused(T0 + 6), refused(T0 + 7)])
    state = json.loads((runtime / "samba" / "w1" / "state.json").read_text())
    assert len(state["history"]) == 4 and state["history"][-1]["result"] == "failed"

    assert main(["status", "samba", "w1", "--history"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("samba w1 (public): failed;")
    assert out[1].split()[:3] == ["TIME", "(UTC)", "RESULT"]
    assert [line.split()[2] for line in out[2:]] == ["healthy", "healthy", "failed", "failed"]
    assert out[-1].split()[1:4] == ["02:00:07.000", "failed", "2/2"]

    assert main(["status", "samba", "w1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert [e["result"] for e in record["history"]] == ["healthy", "healthy", "failed", "failed"]
    assert record["history"][0]["stages"][1] == {"stage": "session", "ms": 2.0, "ok": True}


def test_status_refuses_a_malformed_history_but_shows_the_rest():
    good = {"started": T0, "total_ms": 1.0, "stages": [], "result": "healthy"}
    state, wrong = WatchStatus.parse({"phase": "healthy", "history": [good, {"started": "x", "result": "healthy"}]})
    assert state.history == [] and state.phase == "healthy" and "history" in wrong
    state, wrong = WatchStatus.parse({"history": [good], "injection": {"stage": "connect", "left": 2}})
    assert state.history == [good] and state.injection["left"] == 2 and wrong == ""
    state, wrong = WatchStatus.parse({"injection": {"stage": "connect", "left": -1}})
    assert state.injection is None and "injection" in wrong


def test_table_survives_odd_entries():
    text = table([{"started": 1e300, "result": "healthy"}, {"failure": {"reason": "a\nb"}, "stages": "x"}])
    rows = text.splitlines()
    assert len(rows) == 3 and rows[1].startswith("?") and "a b" in rows[2]


def test_status_history_without_probes(runtime, capsys):
    (runtime / "samba" / "w2").mkdir(parents=True)
    (runtime / "samba" / "w2" / "state.json").write_text(json.dumps({"phase": "starting", "target": "p"}))
    assert main(["status", "samba", "w2", "--history"]) == 0
    assert "no probe recorded" in capsys.readouterr().out

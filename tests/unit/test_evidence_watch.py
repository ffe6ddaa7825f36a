"""Evidence in the watch (issue 18): the verdict declares at once on it, the reporter says it
everywhere (alerts 114, 115, 118, journal fields, history, state file, OCF reason, metrics),
the watch's unit pushes the verdict to Pacemaker (116, 117), node health is published, and the
settings carry it all."""

from __future__ import annotations

import pytest

from fswatch.core import evidence as ev
from fswatch.core.errors import ProbeFailure, UsageError
from fswatch.core.evidence import Evidence
from fswatch.core.observation import Observation, StageTiming
from fswatch.core.settings import Schedule, parse_conf
from fswatch.core.verdict import Event, WatchState, judge
from fswatch.host.attrd import AttributePublisher, CallTimedOut
from fswatch.host.control import Control
from fswatch.host.crm import stop_post_line
from fswatch.host.notify import Notifier
from fswatch.host.sinks import ListSink
from fswatch.host.sockets import parse_table
from fswatch.kinds import SAMBA, build
from fswatch.surfaces.ocf import watches as ocf
from fswatch.surfaces.ocf.agent import Request
from fswatch.watch import status
from fswatch.watch.engine import Watch
from fswatch.watch.metrics import MetricsWriter, WatchMetrics
from fswatch.watch.reporter import Reporter
from tests.unit.test_attribute import Clock

STOPPED = Evidence(ev.STOPPED, "smbd[4711]", "T", 1.0, 1, at_deadline=True)
BLOCKED = Evidence(ev.BLOCKED, "smbd[4712]", "S", 1.0, 1, (("request_wait_answer", 1),), at_deadline=True)
PROGRESSING = Evidence(ev.PROGRESSING, "smbd[4711]", "R", 1.0, 1, why="R: runnable", at_deadline=True)


def failed(evidence=None):
    failure = ProbeFailure(74, "negotiate", "no answer", "110", errno=110, timed_out=True)
    return Observation(0.0, (StageTiming("negotiate", 2000.0, False),), failure, evidence=evidence)


def healthy(ms=5.0):
    return Observation(0.0, (StageTiming("connect", ms),))


# -- the verdict --------------------------------------------------------------------------------


@pytest.mark.parametrize("policy, evidence, early", [
    ("stopped", STOPPED, True),
    ("blocked", STOPPED, True),
    ("off", STOPPED, False),
    ("stopped", BLOCKED, False),
    ("blocked", BLOCKED, True),
    ("blocked", PROGRESSING, False),
    ("blocked", ev.none("remote"), False),
    ("stopped", Evidence(ev.STOPPED, "smbd[1]", "T", 1.0, 1, at_deadline=False), False),
])  # fmt: skip
def test_evidence_declares_the_first_failed_probe_where_the_setting_says(policy, evidence, early):
    schedule = Schedule(1, 3, 2, policy)
    j = judge(WatchState(seen_healthy=True, probes=1), failed(evidence), schedule)
    assert j.declared_failed is early
    assert j.early == (evidence if early else None)
    assert j.state.failures == 1 and j.state.declared is early


def test_the_retries_still_declare_without_evidence_and_name_no_early_evidence():
    schedule = Schedule(1, 1, 2)
    state = judge(WatchState(), failed(PROGRESSING), schedule).state
    j = judge(state, failed(STOPPED), schedule)  # the count and the evidence agree: the count declared
    assert j.declared_failed and j.early is None


def test_a_declared_streak_stays_declared_until_a_healthy_probe():
    schedule = Schedule(1, 5, 2)
    j1 = judge(WatchState(seen_healthy=True), failed(STOPPED), schedule)
    j2 = judge(j1.state, failed(None), schedule)  # no evidence this time: still declared
    assert j2.events == (Event.DECLARED_FAILED,) and j2.early is None
    j3 = judge(j2.state, healthy(), schedule)
    assert not j3.state.declared and Event.RECOVERED in j3.events


# -- the reporter -------------------------------------------------------------------------------


class Script:
    """Healthy probes, then failed ones carrying the next evidence of `evidences` (None: none)."""

    def __init__(self, clock, healthy_until, evidences, recover_at=None):
        self.clock = clock
        self.healthy_until = healthy_until
        self.evidences = list(evidences)
        self.recover_at = recover_at

    def probe(self, deadline):
        t = self.clock.t
        if t < self.healthy_until or (self.recover_at is not None and t >= self.recover_at):
            self.clock.t += 0.01
            return healthy()
        self.clock.t = deadline.at
        return failed(self.evidences.pop(0) if self.evidences else None)


class FakeCommand:
    def __init__(self, status=0, output="", timeout=False):
        self.calls = []
        self.status, self.output, self.timeout = status, output, timeout

    def __call__(self, argv, seconds):
        self.calls.append(list(argv))
        if self.timeout:
            raise CallTimedOut()
        return self.status, self.output


def run(tmp_path, schedule, script_args, end=20, publisher=None, keep_probing=False, metrics=None):
    clock = Clock(end)
    sink = ListSink()
    reporter = Reporter(SAMBA, "w1", "public", schedule, sink, Notifier(lambda m: None, watchdog=True),
                        Control(tmp_path / "ctl", clock=clock), wall=clock, publisher=publisher,
                        metrics=metrics)  # fmt: skip
    script = Script(clock, *script_args)
    watch = Watch(schedule, script.probe, reporter, reporter.control, stop=clock, clock=clock,
                  keep_probing=keep_probing)  # fmt: skip
    return watch.run(), sink, reporter


def test_a_stopped_server_is_declared_at_the_first_failed_probe_and_said_everywhere(tmp_path):
    metrics = MetricsWriter(WatchMetrics("samba", "w1", "public", Schedule(1, 3, 2), 0.0), "samba", "w1", None)
    metrics.path = tmp_path / "metrics.prom"
    rc, sink, reporter = run(tmp_path, Schedule(1, 3, 2), (3, [STOPPED]), metrics=metrics)
    assert rc == 1
    assert sink.ids == [1, 2, 74, 114, 6]  # the stage's alert, the evidence, then alert 6: one failed probe
    stage, said, terminate = (sink.alerts[i] for i in (2, 3, 4))
    assert said[1] == ("The clp_sambamon has seen the process serving Samba [public] stopped (smbd[4711] stopped "
                       "(T) for 1.0 s); it declares the server failed without the remaining retries.")
    for fields in (stage[2], said[2], terminate[2]):
        assert fields["FSWATCH_EVIDENCE"] == "stopped" and fields["FSWATCH_EVIDENCE_PROCESS"] == "smbd[4711]"
    assert "[smbd[4711] stopped (T) for 1.0 s]" in terminate[2]["FSWATCH_HISTORY"]
    state = reporter.snapshot()
    assert state.evidence == {"setting": "stopped", "declared_by": "stopped", "unavailable": None}
    assert state.last_probe["evidence"]["kind"] == "stopped"
    assert state.history[-1]["evidence"]["text"] == "smbd[4711] stopped (T) for 1.0 s"
    reason = status.failure_reason(state)
    assert reason.startswith("declared failed at once on evidence from the server's process "
                             "(smbd[4711] stopped (T) for 1.0 s) after 1/4 failed probes: stage negotiate, alert 74")
    assert status.WatchStatus.parse(state.fields()) == (state, "")
    assert 'fswatch_declarations_total{kind="samba",watch="w1",target="public",evidence="stopped"} 1' in (
        metrics.metrics.render("failed"))


def test_blocked_evidence_waits_for_the_retries_unless_opted_in(tmp_path):
    rc, sink, reporter = run(tmp_path, Schedule(1, 2, 2), (3, [BLOCKED] * 3))
    assert rc == 1 and sink.ids == [1, 2, 74, 74, 74, 6]
    assert sink.alerts[2][2]["FSWATCH_EVIDENCE"] == "blocked"  # a warning that says what it saw
    assert reporter.snapshot().evidence["declared_by"] == "retries"
    rc, sink, reporter = run(tmp_path / "b", Schedule(1, 2, 2, "blocked"), (3, [BLOCKED]))
    assert rc == 1 and sink.ids == [1, 2, 74, 115, 6]
    assert "request_wait_answer" in sink.alerts[3][1]


def test_the_unit_tells_pacemaker_as_the_watch_ends(tmp_path):
    """The drop-in's ExecStopPost= (fswatch.host.crm), run here by a shell with stand-ins for
    crm_resource and logger: only after a declared failure (exit 1), alert 116 or 117 as
    journal fields, never a failure of its own."""
    import os
    import subprocess

    line = stop_post_line(SAMBA, "smb-watch", "watch", "node-1")
    assert line.startswith("ExecStopPost=+/bin/sh -c '") and line.endswith("'") and "%" not in line
    script = line.split("'", 1)[1].rsplit("'", 1)[0].replace("$$", "$")  # what systemd hands the shell
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fails = '[ -z "$FAIL" ] || { echo "Error performing operation:"; echo " No such device"; exit 105; }'
    (bin_dir / "crm_resource").write_text(f'#!/bin/sh\necho "$@" > "$CALLS"\n{fails}\n')
    (bin_dir / "logger").write_text("#!/bin/sh\ntest \"$1\" = --journald && cat\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)

    def ended(status, **env):
        calls = tmp_path / "calls"
        calls.unlink(missing_ok=True)
        run_env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", EXIT_CODE="exited", EXIT_STATUS=status,
                       CALLS=str(calls), **env)  # fmt: skip
        proc = subprocess.run(["/bin/sh", "-c", script], env=run_env, capture_output=True, text=True, timeout=10)
        assert proc.returncode == 0 and proc.stderr == ""
        fields = dict(x.split("=", 1) for x in proc.stdout.splitlines())
        return fields, calls.read_text() if calls.exists() else None

    fields, call = ended("1")
    assert call == "--fail --resource watch --node node-1\n"
    assert fields == {
        "MESSAGE_ID": "f9bff49c742c4496a653582362476a6a", "PRIORITY": "5", "FSWATCH_EVENT": "116",
        "SYSLOG_IDENTIFIER": "fswatch", "FSWATCH_KIND": "samba", "FSWATCH_WATCH": "smb-watch",
        "FSWATCH_PUSH": "crm_resource --fail --resource watch --node node-1",
        "MESSAGE": "The clp_sambamon has told the cluster at once that the server failed "
                   "(crm_resource --fail --resource watch --node node-1).",
    }  # fmt: skip
    fields, _ = ended("1", FAIL="1")
    assert fields["FSWATCH_EVENT"] == "117" and fields["PRIORITY"] == "4"
    why = "crm_resource exited with status 105: Error performing operation: No such device"
    assert fields["FSWATCH_REASON"].startswith(why)
    assert fields["MESSAGE"].startswith(f"The clp_sambamon could not tell the cluster at once ({why}")
    assert ended("0") == ({}, None) and ended("143") == ({}, None)  # stopped, or killed: nothing to tell


def test_the_push_line_takes_only_checked_names():
    for bad in (("w", "r;rm -rf /", "n"), ("w", "r", "n'$(x)"), ("w x", "r", "n")):
        with pytest.raises(UsageError):
            stop_post_line(SAMBA, *bad)


def test_unavailable_evidence_is_said_once(tmp_path):
    reporter = Reporter(SAMBA, "w1", "public", Schedule(1, 1, 1), ListSink(), Notifier(lambda m: None))
    reporter.unavailable("not permitted")
    reporter.unavailable("not permitted")
    assert reporter.sink.ids == [118]
    assert reporter.snapshot().evidence["unavailable"] == "not permitted"


def test_attribute_mode_declares_once_on_evidence_and_keeps_probing(tmp_path):
    attrd = FakeCommand()
    publisher = AttributePublisher("fsw", runner=attrd)
    rc, sink, _ = run(tmp_path, Schedule(1, 5, 2), (3, [STOPPED, None, None], 10), end=14, publisher=publisher,
                      keep_probing=True)  # fmt: skip
    assert rc == 0
    assert sink.ids.count(98) == 1 and sink.ids.count(114) == 1 and 6 not in sink.ids
    assert [c[-1] for c in attrd.calls] == ["1", "0", "1"]


def test_node_health_attribute_is_green_yellow_red(tmp_path):
    attrd = FakeCommand()
    publisher = AttributePublisher("#health-fswatch-w1", runner=attrd)
    clock = Clock(30)
    sink = ListSink()
    schedule = Schedule(1, 1, 2)
    reporter = Reporter(SAMBA, "w1", "public", schedule, sink, Notifier(lambda m: None), wall=clock,
                        publisher=publisher)  # fmt: skip
    plan = iter([healthy(), healthy(1500), healthy(1600), healthy(), failed(STOPPED), healthy()])

    def probe(deadline):
        clock.t += 0.01
        return next(plan, healthy())

    Watch(schedule, probe, reporter, Control(tmp_path / "c", clock=clock), stop=clock, clock=clock,
          keep_probing=True).run()  # fmt: skip
    assert [c[-1] for c in attrd.calls] == ["green", "yellow", "green", "red", "green"]
    assert attrd.calls[0] == ["attrd_updater", "-n", "#health-fswatch-w1", "-U", "green"]
    plain = AttributePublisher("fsw")
    assert [plain.value(level) for level in ("green", "yellow", "red")] == ["1", "1", "0"]


# -- the settings -------------------------------------------------------------------------------


def test_evidence_and_pacemaker_settings_round_trip_through_the_conf():
    s = build(SAMBA, "w1", {"share": "public", "evidence": "blocked", "pacemaker_resource": "smb-watch",
                            "pacemaker_node": "node-1"})  # fmt: skip
    conf = s.to_conf()
    assert "evidence = blocked\n" in conf and "pacemaker_resource = smb-watch\npacemaker_node = node-1\n" in conf
    values = parse_conf(conf, "w1.conf")
    values.pop("kind"), values.pop("id")
    assert build(SAMBA, "w1", values) == s
    default = build(SAMBA, "w1", {"share": "public"})
    assert default.schedule.evidence == "stopped" and "evidence" not in default.to_conf()
    assert default.pacemaker is None


@pytest.mark.parametrize("values, message", [
    ({"evidence": "always"}, "evidence must be one of off, stopped, blocked, not 'always'"),
    ({"pacemaker_resource": "r"}, "invalid pacemaker_node '': use letters, digits, '_', '-', '.' and ':'"),
    ({"pacemaker_resource": "a b", "pacemaker_node": "n"}, "invalid pacemaker_resource 'a b'"),
])  # fmt: skip
def test_bad_evidence_and_pacemaker_settings_are_refused(values, message):
    with pytest.raises(UsageError) as info:
        build(SAMBA, "w1", {"share": "public", **values})
    assert str(info.value).startswith(message)


def test_health_attribute_names():
    assert build(SAMBA, "w", {"share": "s", "attribute": "#health-fswatch-w"}).attribute == "#health-fswatch-w"
    for bad in ("#health-", "#other", "#health-a b"):
        with pytest.raises(UsageError):
            build(SAMBA, "w", {"share": "s", "attribute": bad})


def test_fswatch_add_evidence(tmp_path, monkeypatch, capsys):
    from fswatch.surfaces.cli import main
    from fswatch.watch.runner import load_settings

    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    assert main(["add", "samba", "w1", "--share", "public", "--evidence", "blocked", "--interval", "1",
                 "--retries", "3", "--timeout", "2"]) == 0  # fmt: skip
    assert "failure declared within 9 s of a fault, 3 s for a local server seen stopped" in capsys.readouterr().out
    assert load_settings("samba", "w1")[0].schedule.evidence == "blocked"
    assert main(["add", "samba", "w2", "--share", "public", "--evidence", "sometimes"]) == 2


def test_the_ocf_agent_hands_its_resource_and_node_to_the_watch(tmp_path):
    agent = ocf.agent_for(SAMBA)
    env = {"OCF_RESOURCE_INSTANCE": "smb-watch", "OCF_RESKEY_CRM_meta_on_node": "node-1", "OCF_RESKEY_share": "s",
           "OCF_RESKEY_evidence": "blocked"}  # fmt: skip
    settings, *_ = ocf.watch_settings(Request(agent, "start", env))
    assert settings.pacemaker is not None and (settings.pacemaker.resource, settings.pacemaker.node) == (
        "smb-watch", "node-1")
    assert settings.schedule.evidence == "blocked"
    for extra in ({"OCF_RESKEY_push": "false"}, {"OCF_RESKEY_attribute": "fsw"}, {"OCF_RESKEY_CRM_meta_on_node": ""}):
        settings, *_ = ocf.watch_settings(Request(agent, "start", {**env, **extra}))
        assert settings.pacemaker is None, extra


# -- reading the kernel's socket tables ---------------------------------------------------------


def test_socket_tables_are_parsed_v4_v6_and_mapped():
    tcp = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:01BD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4711 1 0\n"
        "   1: 0100007F:D431 0100007F:01BD 01 00000000:00000000 00:00000000 00000000   998        0 4712 1 0\n"
        "   2: garbage\n"
    )
    listen, conn = parse_table(tcp, "tcp")
    assert (listen.local, listen.state, listen.inode, listen.uid) == (("127.0.0.1", 445), 10, 4711, 0)
    assert (conn.local, conn.remote, conn.uid) == (("127.0.0.1", 54321), ("127.0.0.1", 445), 998)
    tcp6 = (
        "  sl  local_address                         remote_address                        st tx_queue rx_queue\n"
        "   0: 00000000000000000000000000000000:0801 00000000000000000000000000000000:0000 0A 00000000:00000000 "
        "00:00000000 00000000     0        0 99 1 0\n"
        "   1: 0000000000000000FFFF00000100007F:0801 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 "
        "00:00000000 00000000     0        0 100 1 0\n"
    )
    wild, mapped = parse_table(tcp6, "tcp")
    assert wild.local == ("::", 2049)
    assert mapped.local == ("127.0.0.1", 2049) and mapped.remote == ("127.0.0.1", 50000)


def test_fswatch_status_shows_the_evidence(tmp_path, monkeypatch, capsys):
    import json

    from fswatch.surfaces.cli import main

    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_SUPERVISION", "inprocess")
    control = Control.of("samba", "w1")
    rc, _, reporter = run(tmp_path, Schedule(1, 3, 2), (3, [STOPPED]))
    reporter.control = control
    reporter.unavailable("not permitted")  # said once; kept in the state file
    reporter._write_state()
    assert main(["status", "samba", "w1"]) == 0
    out = capsys.readouterr().out
    assert "server process: smbd[4711] stopped (T) for 1.0 s" in out
    assert "server process not readable (evidence stopped): not permitted" in out
    assert "declared failed at once on evidence from the server's process (smbd[4711] stopped (T) for 1.0 s)" in out
    assert main(["status", "samba", "w1", "--history"]) == 0
    assert "[smbd[4711] stopped (T) for 1.0 s]" in capsys.readouterr().out
    assert main(["status", "samba", "w1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["evidence"] == {"setting": "stopped", "declared_by": "stopped", "unavailable": "not permitted"}
    assert record["last_probe"]["evidence"]["process"] == "smbd[4711]"

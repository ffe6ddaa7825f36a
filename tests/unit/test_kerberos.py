"""fswatch.probes.kerberos's stage without a KDC: which ticket a probe uses, when it asks the KDC
(a stand-in child here; tests/socket/test_kerberos_child.py runs the real one), and how each
Kerberos error becomes its alert, a failed probe or a degraded one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.probes import kerberos
from fswatch.probes.kerberos import KerberosFault, KerberosLogon
from tests.unit import krb5data

P = "fswprobe@FSW.TEST"
CIFS = "cifs/fs1.fsw.test@FSW.TEST"
TGT = "krbtgt/FSW.TEST@FSW.TEST"
NOW = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def logon(tmp_path: Path) -> KerberosLogon:
    kt = tmp_path / "w.keytab"
    kt.write_bytes(krb5data.keytab([(P, 2)]))
    return KerberosLogon(P, CIFS, str(kt), str(tmp_path / "krb5cc"))


class Child:
    """Stands in for `python -I kdc.py`: answers as told, writing the cache it was asked for."""

    def __init__(self, answer: dict, tickets=(), stall: bool = False) -> None:
        self.answer, self.tickets, self.stall = answer, tickets, stall
        self.argv: list = []
        self.killed = False
        self.returncode = None

    def __call__(self, argv, **kwargs):
        self.argv = argv
        self.env = kwargs["env"]
        if self.tickets:  # as libkrb5 writes a cache filled with a client keytab
            Path(argv[-1]).write_bytes(krb5data.ccache(P, self.tickets, conf=(krb5data.REFRESH_TIME,)))
        return self

    def communicate(self, timeout=None):
        if self.stall and not self.killed:
            raise subprocess.TimeoutExpired(self.argv, timeout)
        self.returncode = -9 if self.killed else 0
        return (b"" if self.killed else json.dumps(self.answer).encode() + b"\n"), b"krb5 trace"

    def kill(self):
        self.killed = True

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        return self.returncode


def _cache(logon: KerberosLogon, *tickets, offset: int = 0) -> None:
    Path(logon.ccache).write_bytes(krb5data.ccache(P, tickets, offset))


def _obtain(logon, child, seconds=10.0):
    clock = Clock()
    return kerberos.obtain(logon, Deadline.after(seconds, clock), wall=lambda: NOW, spawn=child)


def test_a_ticket_that_outlives_the_probe_is_reused_without_the_kdc(logon):
    _cache(logon, (TGT, NOW - 100, NOW + 36000), (CIFS, NOW - 100, NOW + 36000))
    child = Child({"ok": False, "code": 0})
    tickets = _obtain(logon, child)
    assert tickets.source == "cached" and tickets.expires == NOW + 36000 and tickets.degraded is None
    assert child.argv == []  # no child, no KDC


def test_no_ticket_asks_the_kdc_in_a_child_and_keeps_its_cache(logon):
    child = Child({"ok": True}, tickets=[(TGT, NOW, NOW + 36000), (CIFS, NOW, NOW + 36000)])
    tickets = _obtain(logon, child)
    assert tickets.source == "new" and tickets.expires == NOW + 36000
    assert child.argv[1] == "-I" and child.argv[2].endswith("kdc.py") and child.argv[3:6] == [logon.keytab, P, CIFS]
    assert child.argv[6] != logon.ccache and child.env["KRB5CCNAME"] == f"FILE:{child.argv[6]}"
    assert not Path(child.argv[6]).exists()  # renamed over the watch's cache
    assert kerberos.read_cache(logon.ccache).ticket(P, CIFS) is not None
    # without MIT's refresh_time: libkrb5 would renew by itself, in the watch's process, unbounded
    assert b"refresh_time" not in Path(logon.ccache).read_bytes()


def test_a_ticket_that_would_expire_during_the_probe_is_not_used(logon):
    _cache(logon, (CIFS, NOW - 36000, NOW + 20))  # 20 s left: less than the probe + margin
    child = Child({"ok": True}, tickets=[(CIFS, NOW, NOW + 36000)])
    assert _obtain(logon, child).source == "new"


def test_a_ticket_past_half_its_life_is_renewed(logon):
    _cache(logon, (CIFS, NOW - 30000, NOW + 6000))
    child = Child({"ok": True}, tickets=[(CIFS, NOW, NOW + 36000)])
    tickets = _obtain(logon, child)
    assert tickets.source == "renewed" and tickets.degraded is None


def test_a_failed_renewal_with_a_valid_ticket_degrades_and_keeps_the_ticket(logon):
    _cache(logon, (TGT, NOW - 30000, NOW + 6000), (CIFS, NOW - 30000, NOW + 6000))
    child = Child({"ok": False, "code": -1765328228, "message": "Minor (2529639068): Cannot contact any KDC for realm"})
    tickets = _obtain(logon, child)
    assert tickets.source == "cached" and tickets.expires == NOW + 6000
    d = tickets.degraded
    assert d is not None and d.alert == alerts.KERBEROS_DEGRADED and d.ended_alert == alerts.KERBEROS_RENEWED
    assert not d.bounded and d.stage == "kerberos" and d.krb5_error == "KRB5_KDC_UNREACH"
    assert "Cannot contact any KDC" in d.reason and "(6000 s)" in d.reason
    assert kerberos.read_cache(logon.ccache).ticket(P, CIFS).endtime == NOW + 6000  # the watch's cache untouched


def test_a_renewal_gets_half_the_time_left(logon):
    _cache(logon, (CIFS, NOW - 30000, NOW + 6000))
    child = Child({}, stall=True)
    seen = []
    child.communicate = lambda timeout=None, real=child.communicate: (seen.append(timeout), real(timeout))[1]
    tickets = _obtain(logon, child, seconds=10.0)
    assert seen[0] == pytest.approx(5.0) and child.killed
    assert tickets.degraded is not None and "no answer from the KDC" in tickets.degraded.reason


@pytest.mark.parametrize(
    "code, alert, name",
    [
        (-1765328228, alerts.KDC_UNREACHABLE, "KRB5_KDC_UNREACH"),
        (-1765328164, alerts.KDC_UNREACHABLE, "KRB5_REALM_CANT_RESOLVE"),
        (-1765328360, alerts.KEYTAB_STALE, "KRB5KDC_ERR_PREAUTH_FAILED"),
        (-1765328347, alerts.CLOCK_SKEW, "KRB5KRB_AP_ERR_SKEW"),
        (-1765328377, alerts.UNKNOWN_SPN, "KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN"),
        (-1765328378, alerts.KERBEROS_REFUSED, "KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN"),
        (-1765328366, alerts.KERBEROS_REFUSED, "KRB5KDC_ERR_CLIENT_REVOKED"),
        (-1765328999, alerts.KERBEROS_REFUSED, "krb5 error -1765328999"),
    ],
)
def test_each_kdc_error_is_its_own_alert_with_its_name(logon, code, alert, name):
    child = Child({"ok": False, "code": code, "message": "Major (1): x, Minor (2): what libkrb5 said"})
    with pytest.raises(KerberosFault) as err:
        _obtain(logon, child)
    failure = err.value.failure()
    assert failure.alert == alert and failure.stage == "kerberos" and failure.krb5_error == name
    assert failure.reason == "getting a ticket-granting ticket: what libkrb5 said"
    assert failure.detail == f"{name}: getting a ticket-granting ticket: what libkrb5 said"
    assert failure.fields()["krb5_error"] == name and not Path(child.argv[6]).exists()


def test_a_tgs_failure_names_the_service(logon):
    child = Child({"ok": False, "code": -1765328377, "message": "Server not found"}, tickets=[(TGT, NOW, NOW + 99)])
    with pytest.raises(KerberosFault) as err:
        _obtain(logon, child)
    assert err.value.reason == f"getting a ticket for {CIFS}: Server not found"
    assert err.value.alert == alerts.UNKNOWN_SPN


def test_a_stalled_kdc_is_killed_at_the_deadline(logon):
    child = Child({}, stall=True)
    with pytest.raises(KerberosFault) as err:
        _obtain(logon, child)
    failure = err.value.failure()
    assert child.killed and failure.alert == alerts.KDC_STALLED and failure.timed_out and failure.errno == 110
    assert failure.krb5_error is None and "no answer from the KDC within the deadline (realm FSW.TEST" in failure.reason


def test_a_failed_wait_for_the_child_is_a_named_refusal_and_the_child_is_killed(logon):
    """Seen under libfaketime 0.9.10, whose mangled monotonic sleeps made Popen's wait raise
    EINVAL (tests/fixtures/faketime.py): once a receive error of the kerberos stage."""
    child = Child({"ok": True})
    calls = []

    def communicate(timeout=None):
        calls.append(timeout)
        if len(calls) == 1:
            raise OSError(22, "Invalid argument")
        raise OSError(22, "Invalid argument")  # the reaping wait fails too: still no crash

    child.communicate = communicate
    with pytest.raises(KerberosFault) as err:
        _obtain(logon, child)
    assert err.value.alert == alerts.KERBEROS_REFUSED and child.killed and len(calls) == 2
    assert err.value.reason == "waiting for the KDC exchange failed: [Errno 22] Invalid argument"
    stalled = Child({}, stall=True)
    stalled.communicate = lambda timeout=None, real=stalled.communicate: (
        real(timeout) if not stalled.killed else (_ for _ in ()).throw(subprocess.TimeoutExpired("kdc", timeout)))
    with pytest.raises(KerberosFault) as err:  # a killed child that will not end: the stall is still the verdict
        _obtain(logon, stalled)
    assert err.value.alert == alerts.KDC_STALLED and stalled.killed


@pytest.mark.parametrize("out", [b"", b"not json\n", b"[1]\n", b'{"ok": false}\n'])
def test_a_child_that_says_nothing_useful_is_a_refusal(logon, out):
    child = Child({})
    child.communicate = lambda timeout=None: (out, b"")
    with pytest.raises(KerberosFault) as err:
        _obtain(logon, child)
    assert err.value.alert == alerts.KERBEROS_REFUSED


def test_a_keytab_without_the_principal_is_refused_before_any_kdc(logon, tmp_path):
    Path(logon.keytab).write_bytes(krb5data.keytab([("other@FSW.TEST", 2)]))
    child = Child({"ok": True})
    with pytest.raises(KerberosFault) as err:
        _obtain(logon, child)
    assert err.value.alert == alerts.KERBEROS_REFUSED and err.value.name == "KRB5_KT_NOTFOUND"
    assert "holds no key for fswprobe@FSW.TEST (it holds: other@FSW.TEST)" in err.value.reason and child.argv == []
    Path(logon.keytab).unlink()
    with pytest.raises(KerberosFault) as err:
        _obtain(logon, child)
    assert "No such file" in err.value.reason
    Path(logon.keytab).write_bytes(b"\x05\x02\x00\x00\x00\x40")
    with pytest.raises(KerberosFault) as err:
        _obtain(logon, child)
    assert "is not a keytab" in err.value.reason


def test_ticket_times_are_the_kdcs(logon):
    # libkrb5 measured the KDC 900 s ahead: a ticket ending at KDC time NOW + 1000 ends at our NOW + 100.
    _cache(logon, (CIFS, NOW - 35000, NOW + 1000), offset=900)
    child = Child({"ok": True}, tickets=[(CIFS, NOW, NOW + 36000)])
    assert _obtain(logon, child).source == "renewed"


def test_clock_skew_is_the_servers_clock_against_the_kdcs():
    assert kerberos.clock_skew(NOW + 900, NOW, 0) == 900
    assert kerberos.clock_skew(NOW + 900, NOW, 900) is None  # the KDC is as far ahead: they agree
    assert kerberos.clock_skew(NOW - 400, NOW, 0) == -400
    assert kerberos.clock_skew(NOW + 299, NOW, 0) is None
    assert kerberos.clock_skew(None, NOW, 0) is None


def test_a_kerberos_degradation_is_alerted_with_its_own_alerts_and_no_limit():
    """126 when a renewal fails while the cached ticket serves, 127 when one succeeds again; the
    verdict sets no limit (the ticket's end is one: then the probe fails at stage kerberos)."""
    from fswatch.core.observation import Observation, StageTiming
    from fswatch.core.settings import Schedule
    from fswatch.core.verdict import WatchState, judge
    from fswatch.host.notify import Notifier
    from fswatch.host.sinks import ListSink
    from fswatch.kinds import SAMBA
    from fswatch.watch.reporter import Reporter
    from fswatch.watch.status import degraded_reason

    fault = KerberosFault(alerts.KDC_UNREACHABLE, "getting a ticket-granting ticket: Cannot contact any KDC",
                          "KRB5_KDC_UNREACH")  # fmt: skip
    degraded = kerberos._degradation(fault, NOW + 600, NOW)
    sink, schedule = ListSink(), Schedule(30, 2, 10)
    reporter = Reporter(SAMBA, "w1", "data", schedule, sink, Notifier())
    state = WatchState()
    stages = (StageTiming("kerberos", 5.0), StageTiming("session", 3.0))
    for _ in range(200):  # far past any grace period's limit: a Kerberos degradation has none
        obs = Observation(0.0, stages, degraded=degraded)
        judgement = judge(state, obs, schedule)
        reporter.probed(obs, judgement)
        state = judgement.state
    assert not any(e.value == "declared_failed" for e in judgement.events) and state.failures == 0
    ids = [a[0] for a in sink.alerts]
    assert ids.count(126) == 1 and 101 not in ids
    alert_id, message, fields = next(a for a in sink.alerts if a[0] == 126)
    assert message.startswith("The clp_sambamon could not renew its Kerberos ticket for Samba [data]")
    assert "KRB5_KDC_UNREACH, cached ticket valid until" in message
    assert fields["FSWATCH_KRB5_ERROR"] == "KRB5_KDC_UNREACH"
    snapshot = reporter.snapshot()
    assert snapshot.degraded["alert"] == 126 and snapshot.degraded["limit_seconds"] is None
    reason = degraded_reason(snapshot)  # what fswatch status and the OCF monitor (190) say
    assert reason.startswith("Kerberos ticket not renewed (alert 126), 200 probes, until it ends:")
    healthy = Observation(0.0, stages)
    reporter.probed(healthy, judge(state, healthy, schedule))
    assert sink.alerts[-1][0] == 127 and "after 200 degraded probes" in sink.alerts[-1][1]

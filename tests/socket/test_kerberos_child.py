"""The real KDC child (`python -I kdc.py`, libkrb5 through python-gssapi) against KDCs on
loopback that refuse or never answer: the stage ends by its deadline whatever libkrb5 would
wait (its own retries take 18 s against a silent KDC), leaves no process behind, and never
spoils the cache a watch holds. tests/integration/test_kerberos.py does the same against a
real Samba AD DC."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.probes import kerberos
from fswatch.probes.kerberos import KerberosFault, KerberosLogon
from tests.unit import krb5data

P = "fswprobe@FSW.TEST"
CIFS = "cifs/fs1.fsw.test@FSW.TEST"
SLACK = 0.5


class SilentKdc:
    """UDP and TCP on one loopback port, answering nothing: the UDP datagrams queue unread, the
    TCP handshake completes in the kernel's backlog and nothing is ever read."""

    def __init__(self) -> None:
        for _ in range(20):  # bounded: a free UDP port whose TCP twin is free too
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
            except OSError:
                self.udp.close()
                self.tcp.close()
                continue
            self.tcp.listen(8)
            return
        raise RuntimeError("no free UDP+TCP port pair on loopback")

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def _krb5_conf(tmp_path: Path, port: int) -> Path:
    conf = tmp_path / "krb5.conf"
    conf.write_text(
        "[libdefaults]\n    default_realm = FSW.TEST\n    dns_lookup_kdc = false\n    dns_lookup_realm = false\n"
        f"[realms]\n    FSW.TEST = {{\n        kdc = 127.0.0.1:{port}\n    }}\n"
    )
    return conf


@pytest.fixture
def logon(tmp_path: Path) -> KerberosLogon:
    keytab = tmp_path / "w.keytab"
    keytab.write_bytes(krb5data.keytab([(P, 2)]))
    return KerberosLogon(P, CIFS, str(keytab), str(tmp_path / "krb5cc"))


def _children(logon: KerberosLogon) -> str:
    """This test's KDC children (their argv names its keytab): others may run on the machine."""
    return subprocess.run(["pgrep", "-f", f"{kerberos.KDC_SCRIPT} {logon.keytab}"], capture_output=True,
                          text=True).stdout  # fmt: skip


def test_a_silent_kdc_is_left_at_the_deadline(logon, tmp_path, monkeypatch):
    kdc = SilentKdc()
    monkeypatch.setenv("KRB5_CONFIG", str(_krb5_conf(tmp_path, kdc.port)))
    try:
        began = time.monotonic()
        with pytest.raises(KerberosFault) as err:
            kerberos.obtain(logon, Deadline.after(1.5))
        elapsed = time.monotonic() - began
    finally:
        kdc.close()
    assert err.value.alert == alerts.KDC_STALLED and err.value.timed_out
    assert 1.4 <= elapsed <= 1.5 + SLACK, elapsed
    assert _children(logon) == ""
    assert list(tmp_path.glob("krb5cc*")) == []  # the child's half-written cache is gone too


def test_a_refused_kdc_is_named_at_once(logon, tmp_path, monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # released: datagrams get ICMP port unreachable, TCP a reset
    monkeypatch.setenv("KRB5_CONFIG", str(_krb5_conf(tmp_path, port)))
    began = time.monotonic()
    with pytest.raises(KerberosFault) as err:
        kerberos.obtain(logon, Deadline.after(10))
    assert time.monotonic() - began < 5  # no waiting for the deadline
    failure = err.value.failure()
    assert failure.alert == alerts.KDC_UNREACHABLE and failure.krb5_error == "KRB5_KDC_UNREACH"
    assert "Cannot contact any KDC for realm 'FSW.TEST'" in failure.reason


def test_a_silent_kdc_at_renewal_time_degrades_and_keeps_the_watchs_ticket(logon, tmp_path, monkeypatch):
    now = int(time.time())
    cached = krb5data.ccache(P, [(CIFS, now - 30000, now + 6000)])
    Path(logon.ccache).write_bytes(cached)
    kdc = SilentKdc()
    monkeypatch.setenv("KRB5_CONFIG", str(_krb5_conf(tmp_path, kdc.port)))
    try:
        began = time.monotonic()
        tickets = kerberos.obtain(logon, Deadline.after(2.0))
        elapsed = time.monotonic() - began
    finally:
        kdc.close()
    assert tickets.source == "cached" and tickets.degraded is not None
    assert tickets.degraded.alert == alerts.KERBEROS_DEGRADED
    assert 0.9 <= elapsed <= 1.0 + SLACK, elapsed  # half of the probe's time, the rest is the logon's
    assert Path(logon.ccache).read_bytes() == cached and _children(logon) == ""

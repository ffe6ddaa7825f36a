"""Kerberos logons from a keytab against a real Active Directory domain (issue 19): a Samba AD DC
and a member file server joined with `net ads join` (tests/fixtures/ad_domain.py), fswatch run
as its CLI in a client namespace. Every case is asserted as seen: the stage, the alert, the
Kerberos error or NT status, and for the KDC's faults the time to the verdict."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from fswatch.kinds.kind import WRITE_STAGES as STAGES_OF_THE_WRITE_CANARY
from tests.fixtures.ad_domain import (
    FLOATING_ADDRESS,
    MEMBER_NAME,
    MEMBER_SPN,
    SHARE,
    AdDomain,
    ClientWatch,
    fswatch_in_client,
)
from tests.fixtures.container import DEFAULT_INCLUDE, BootedContainer, build_base_root, reap_orphaned_containers
from tests.fixtures.ocf_agents import agent_env
from tests.integration.cli import alert_ids, only_alert_lines, wait_for
from tests.integration.node import install_fswatch

pytestmark = pytest.mark.integration

SLACK = 0.5  # SPEC.md section 2
LATE_MARGIN = 1.0  # a loaded 2-core machine: process start and a Python import on top of the bound
PROBE_TIMEOUT = 10
WRITE_STAGES = [stage.name for stage in STAGES_OF_THE_WRITE_CANARY]


@pytest.fixture(scope="module")
def domain(ad_domain):
    return ad_domain


@pytest.fixture(scope="module")
def prober(domain):
    return domain.principal()


def probe(domain: AdDomain, *args: str, env=None, timeout: int = PROBE_TIMEOUT, wrap: List[str] = ()) -> tuple:
    """`fswatch probe samba --json` in the client's namespace: (exit status, output, seconds)."""
    argv = domain.client([*wrap, sys.executable, "-m", "fswatch", "probe", "samba", "--share", SHARE,
                          "--timeout", str(timeout), "--json", *args])  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env or domain.env(), capture_output=True, text=True, timeout=timeout + 60)
    elapsed = time.monotonic() - t0
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {"stderr": proc.stderr}, elapsed


def kerberos_args(who, address: str = FLOATING_ADDRESS, spn: str = MEMBER_NAME) -> List[str]:
    args = ["--address", address, "--principal", who.principal, "--keytab", str(who.keytab)]
    return args + (["--spn-host", spn] if spn else [])


def stages(out: dict) -> List[str]:
    return [s["stage"] for s in out["stages"]]


def test_a_keytab_logs_on_by_name_and_by_floating_address_with_the_spn_host(domain, prober):
    rc, out, _ = probe(domain, *kerberos_args(prober, address=MEMBER_NAME, spn=""))
    assert rc == 0, out
    assert stages(out)[:2] == ["kerberos", "resolve"] and out["posture"]["authentication"] == "kerberos"
    assert out["notes"]["kerberos"].startswith(f"new ticket for {MEMBER_SPN}, valid until ")
    rc, out, _ = probe(domain, *kerberos_args(prober))
    assert rc == 0, out
    assert stages(out) == ["kerberos", "connect", "negotiate", "session", "tree_connect", "share_type", "teardown"]
    assert out["posture"] == {"dialect": "3.1.1", "signing": "enabled", "encryption": "off",
                              "authentication": "kerberos"}  # fmt: skip
    # The same account over NTLM, with its password: what the posture says differs.
    rc, out, _ = _ntlm_probe(domain, prober)
    assert rc == 0 and out["posture"]["authentication"] == "ntlm", out


def _ntlm_probe(domain: AdDomain, who) -> tuple:
    argv = domain.client([sys.executable, "-m", "fswatch", "probe", "samba", "--share", SHARE, "--address",
                          FLOATING_ADDRESS, "--user", f"FSW\\{who.name}", "--password-file", "-", "--json"])
    proc = subprocess.run(argv, env=domain.env(), input=who.password + "\n", capture_output=True, text=True, timeout=70)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout), 0.0


def test_ntlm_switched_off_the_kerberos_watch_is_healthy_an_ntlm_one_says_why(domain, prober):
    domain.set_ntlm(allowed=False)
    try:
        rc, out, _ = probe(domain, *kerberos_args(prober))
        assert rc == 0 and out["posture"]["authentication"] == "kerberos", out
        rc, out, _ = _ntlm_probe(domain, prober)
        assert rc == 1 and out["alert"] == 64 and out["failure"]["stage"] == "session"
        assert out["failure"]["ntstatus"] == "0xc0000418"
        assert out["failure"]["reason"].startswith("STATUS_NTLM_BLOCKED (0xc0000418): the server refuses NTLM logons")
        assert "log on with Kerberos (--principal, --keytab)" in out["failure"]["reason"]
    finally:
        domain.set_ntlm(allowed=True)


def test_the_write_canary_writes_as_the_principal(domain, prober, tmp_path):
    """The write canary's CREATE, WRITE, FLUSH, READ, CLOSE go over the session the ticket made;
    smbd writes as the principal's user, so `add` refuses a directory it may not write in."""
    share = domain.root / "fs" / SHARE
    for sub, mode in (("w", 0o1777), ("locked", 0o755)):
        (share / sub).mkdir(exist_ok=True)
        (share / sub).chmod(mode)
    rc, out, _ = probe(domain, *kerberos_args(prober), "--canary-write", "w")
    assert rc == 0 and out["posture"]["authentication"] == "kerberos", out
    seen = stages(out)
    assert seen[seen.index("write_create") : seen.index("write_create") + 5] == WRITE_STAGES, seen
    assert out["notes"]["write_canary_identity"] == f"principal {prober.principal} (Kerberos)"
    assert os.listdir(share / "w") == []  # deleted on close
    watch = ("--share", SHARE, *kerberos_args(prober))
    refused = fswatch_in_client(domain, tmp_path, "add", "samba", "w1", *watch, "--canary-write", "locked")
    assert refused.returncode == 2 and "alert 11:" in refused.stderr, refused.stderr
    assert f"the server denies principal {prober.principal} (Kerberos) the write canary" in refused.stderr
    assert "STATUS_ACCESS_DENIED" in refused.stderr
    checked = fswatch_in_client(domain, tmp_path, "add", "samba", "w1", *watch, "--canary-write", "w")
    assert checked.returncode == 0 and "write canary checked" in checked.stdout, checked.stdout + checked.stderr


def test_clp_sambamon_logs_on_with_a_keytab(domain, prober, tmp_path):
    """clp_sambamon's extension -k KEYTAB -K PRINCIPAL -H SPN_HOST, its start form in-process."""
    args = ("-s", SHARE, "-a", FLOATING_ADDRESS, "-H", MEMBER_NAME, "-k", str(prober.keytab), "-K", prober.principal,
            "-i", "1", "-c", "1", "-r", "5")  # fmt: skip
    watch = fswatch_in_client(domain, tmp_path, "k1", *args, command="clp_sambamon", start=True)
    state = tmp_path / "run" / "samba" / "k1" / "state.json"
    try:
        wait_for(lambda: state.exists() and json.loads(state.read_text()).get("probes", 0) >= 2, 60)
        last = json.loads(state.read_text())["last_probe"]
        assert last["posture"]["authentication"] == "kerberos" and last["notes"]["kerberos"].startswith("cached")
        stop = fswatch_in_client(domain, tmp_path, "k1", "-stop", command="clp_sambamon")
        assert stop.returncode == 0, stop.stderr
        assert watch.wait(timeout=30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
    err = watch.communicate()[1]
    only_alert_lines(err)
    assert alert_ids(err) == [1, 2, 3], err


def test_the_ocf_agent_takes_the_keytab_parameters(domain, prober, agents, tmp_path):
    """ocf:fswatch:samba with principal, keytab and spn_host: start after a healthy Kerberos
    probe, a live probe at OCF_CHECK_LEVEL=10 with a cache of its own, a clean stop."""
    env = agent_env(tmp_path / "run", "krb1", share=SHARE, address=FLOATING_ADDRESS, spn_host=MEMBER_NAME,
                    principal=prober.principal, keytab=str(prober.keytab), interval="1", retries="1", timeout="5")
    env.update(domain.env())  # fmt: skip

    def agent(action: str, **extra: str) -> subprocess.CompletedProcess:
        argv = domain.client([str(agents / "samba"), action])
        return subprocess.run(argv, env={**env, **extra}, capture_output=True, text=True, timeout=60)

    started = agent("start")
    try:
        assert started.returncode == 0, started.stderr
        deep = agent("monitor", OCF_CHECK_LEVEL="10", OCF_RESKEY_CRM_meta_timeout="10000")
        assert deep.returncode == 0, deep.stderr
        (state,) = (tmp_path / "run").rglob("state.json")
        last = json.loads(state.read_text())["last_probe"]
        assert last["posture"]["authentication"] == "kerberos", last
        assert not list((tmp_path / "run").rglob("fswatch-ocf-*"))  # the live probe's cache went with it
    finally:
        stopped = agent("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert agent("monitor").returncode == 7


def test_a_stale_keytab_fails_at_kerberos_naming_the_kerberos_error(domain):
    who = domain.principal()
    assert probe(domain, *kerberos_args(who))[0] == 0
    domain.set_password(who.name)
    rc, out, _ = probe(domain, *kerberos_args(who))
    assert rc == 1 and out["alert"] == 122 and stages(out) == ["kerberos"]
    assert out["failure"]["krb5_error"] == "KRB5KDC_ERR_PREAUTH_FAILED"
    assert "the key in its keytab is stale (KRB5KDC_ERR_PREAUTH_FAILED" in out["message"]


def test_an_unknown_spn_and_a_principal_not_in_the_keytab(domain, prober, tmp_path):
    rc, out, _ = probe(domain, *kerberos_args(prober, spn="nosuch.fsw.test"))
    assert rc == 1 and out["alert"] == 124 and out["failure"]["krb5_error"] == "KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN"
    assert "cifs/nosuch.fsw.test@FSW.TEST" in out["failure"]["reason"]
    other = domain.principal()
    argv = domain.client([sys.executable, "-m", "fswatch", "probe", "samba", "--share", SHARE, "--address",
                          FLOATING_ADDRESS, "--spn-host", MEMBER_NAME, "--principal", other.principal,
                          "--keytab", str(prober.keytab)])  # fmt: skip
    proc = subprocess.run(argv, env=domain.env(), capture_output=True, text=True, timeout=70)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "alert 11:" in proc.stderr
    assert f"holds no key for {other.principal} (it holds: {prober.principal})" in proc.stderr


def test_a_stopped_kdc_fails_a_probe_that_needs_a_ticket_at_once(domain, prober):
    domain.refuse_kdc()
    try:
        rc, out, elapsed = probe(domain, *kerberos_args(prober))
    finally:
        domain.refuse_kdc(False)
    assert rc == 1 and out["alert"] == 120 and stages(out) == ["kerberos"]
    assert out["failure"]["krb5_error"] == "KRB5_KDC_UNREACH" and "Cannot contact any KDC" in out["failure"]["reason"]
    assert out["stages"][0]["ms"] < PROBE_TIMEOUT * 1000 / 2  # refused: no waiting for the deadline


def test_a_stalled_kdc_fails_the_probe_at_its_deadline_and_leaves_no_child(domain, prober):
    domain.stall_kdc()
    try:
        rc, out, elapsed = probe(domain, *kerberos_args(prober), timeout=3)
        children = subprocess.run(["pgrep", "-f", f"kdc.py {prober.keytab}"], capture_output=True, text=True).stdout
    finally:
        domain.resume_kdc()
    assert rc == 1 and out["alert"] == 121 and stages(out) == ["kerberos"], out
    assert out["failure"]["timed_out"] and out["failure"]["errno"] == 110
    assert 2.9 <= out["stages"][0]["ms"] / 1000 <= 3 + SLACK
    assert "no answer from the KDC within the deadline (realm FSW.TEST" in out["failure"]["reason"]
    assert children == ""  # killed at the deadline, not left to libkrb5's own timeouts


def Watch(domain: AdDomain, tmp_path: Path, who, interval=1, retries=1, timeout=3, env=None) -> ClientWatch:
    """A Samba watch of the member's floating address with the keytab, in the client's namespace."""
    return ClientWatch(domain, tmp_path, "samba", ["--share", SHARE, *kerberos_args(who)], interval, retries, timeout,
                       env)  # fmt: skip


def test_a_watch_reuses_its_ticket_from_its_private_cache_and_keeps_it_through_a_kdc_outage(domain, prober, tmp_path):
    watch = Watch(domain, tmp_path, prober, interval=1, timeout=3)
    node_cache = Path("/tmp/krb5cc_0")
    before = node_cache.stat().st_mtime if node_cache.exists() else None
    watch.start()
    try:
        wait_for(lambda: watch.state().get("probes", 0) >= 3, 60)
        first = watch.state()
        assert first["phase"] == "healthy" and first["last_probe"]["notes"]["kerberos"].startswith("cached ticket")
        assert first["last_probe"]["posture"]["authentication"] == "kerberos"
        assert watch.path("krb5cc").stat().st_mode & 0o777 == 0o600
        # The KDC goes away: a ticket that outlives the probes needs none (the documented behaviour).
        domain.refuse_kdc()
        try:
            seen = watch.state()["probes"]
            wait_for(lambda: watch.state().get("probes", 0) >= seen + 3, 60)
            state = watch.state()
            assert state["phase"] == "healthy" and state["failures"] == 0
        finally:
            domain.refuse_kdc(False)
    finally:
        err = watch.stop()
    only_alert_lines(err)
    assert alert_ids(err) == [1, 2, 3]
    assert not watch.path("krb5cc").exists()  # a watch ends holding no ticket
    after = node_cache.stat().st_mtime if node_cache.exists() else None
    assert after == before  # never the node's or root's cache


@pytest.mark.parametrize("fault", ["stopped", "stalled"])
def test_a_kdc_fault_without_a_ticket_is_declared_within_the_bound(domain, prober, tmp_path, fault):
    watch = Watch(domain, tmp_path, prober, interval=1, retries=1, timeout=3)
    inject, undo = (domain.refuse_kdc, lambda: domain.refuse_kdc(False)) if fault == "stopped" else (
        domain.stall_kdc, domain.resume_kdc)  # fmt: skip
    inject()
    try:
        t0 = watch.start()
        rc = watch.proc.wait(timeout=watch.bound + 30)
        elapsed = time.monotonic() - t0
    finally:
        undo()
    err = watch.stop()
    only_alert_lines(err)
    expected = 120 if fault == "stopped" else 121
    assert rc == 1 and alert_ids(err) == [1, expected, expected, 6], err
    late = f"declared {elapsed:.2f} s after the fault, bound {watch.bound}"
    assert elapsed <= watch.bound + SLACK + LATE_MARGIN, late
    failure = watch.state()["last_probe"]["failure"]
    assert failure["stage"] == "kerberos" and failure["alert"] == expected


# The watch's wall clock runs this far ahead (within the 300 s a KDC and smbd allow for skew).
RENEW_AHEAD = 250


@pytest.mark.timeout(240)
def test_a_due_renewal_with_the_kdc_stalled_degrades_then_recovers(domain, prober, tmp_path, clock_ahead):
    """A ticket renewed at half its lifetime, and 5 minutes is the shortest a Samba KDC issues:
    so that the renewal is due in seconds, not minutes, the watch's wall clock runs RENEW_AHEAD
    ahead (libfaketime, tests/fixtures/faketime.py; its monotonic clock, which deadlines use, is
    the real one) and keeps no
    KDC time offset (kdc_timesync = 0: libkrb5 would correct the skew, as it should). The KDC
    grants the end the client asks for by its own clock (its now + 5 min), from its real now: a
    lifetime of RENEW_AHEAD + 300 s, half of it left (300 - RENEW_AHEAD) / 2 = 25 s after it came.
    The KDC stalls from the start: the cached ticket serves (healthy), then the renewal fails
    (degraded, alert 126, at most half of each probe on it), then the KDC is back (alert 127)."""
    conf = domain.client_krb5(tmp_path / "krb5.conf", ticket_lifetime="5m", kdc_timesync="0")
    env = domain.env(KRB5_CONFIG=str(conf), **clock_ahead(RENEW_AHEAD))
    watch = Watch(domain, tmp_path, prober, interval=2, retries=1, timeout=4, env=env)
    watch.start()
    try:
        wait_for(lambda: watch.state().get("phase") == "healthy", 60)
        domain.stall_kdc()
        try:
            wait_for(lambda: watch.state().get("phase") == "degraded", 60, step=0.5)
            state = watch.state()
            assert state["failures"] == 0 and state["degraded"]["alert"] == 126
            assert state["degraded"]["cause"] == "Kerberos ticket not renewed"
            assert state["degraded"]["limit_seconds"] is None
            assert "no answer from the KDC within the deadline" in state["degraded"]["reason"]
            stage = state["last_probe"]["stages"][0]
            assert stage["stage"] == "kerberos" and stage["ms"] <= 4000 / 2 + 500  # half the probe at most
        finally:
            domain.resume_kdc()
        wait_for(lambda: watch.state().get("phase") == "healthy", 60)
        assert watch.state()["last_probe"]["notes"]["kerberos"].startswith("renewed ticket")
    finally:
        err = watch.stop()
    ids = alert_ids(err)
    assert 126 in ids and 127 in ids and 6 not in ids, err


def test_the_members_winbind_stopped_is_a_logon_failure_with_the_nt_status(domain, prober):
    domain.stop_winbind()
    try:
        rc, out, _ = probe(domain, *kerberos_args(prober))
    finally:
        domain.start_member()
    assert rc == 1 and out["alert"] == 64 and out["failure"]["stage"] == "session", json.dumps(out)
    assert out["failure"]["ntstatus"] == "0xc000005e"
    assert out["failure"]["reason"].startswith("STATUS_NO_LOGON_SERVERS (0xc000005e): the server cannot reach")


def test_the_members_machine_account_reset_is_a_logon_failure_with_the_nt_status(domain, prober):
    domain.reset_machine_account()
    try:
        rc, out, _ = probe(domain, *kerberos_args(prober))  # a new ticket: the KDC's new key, not the member's
    finally:
        domain.join()
        domain.start_member()
    assert rc == 1 and out["alert"] == 64 and out["failure"]["ntstatus"] == "0xc000006d", out
    assert "the server refused the Kerberos ticket" in out["failure"]["reason"]
    assert probe(domain, *kerberos_args(prober))[0] == 0  # joined again


def test_clock_skew_of_the_server_and_of_this_node(domain, prober, tmp_path):
    domain.start_member(faketime="+15m")
    try:
        rc, out, _ = probe(domain, *kerberos_args(prober))
    finally:
        domain.start_member()
    assert rc == 1 and out["alert"] == 123 and out["failure"]["stage"] == "session", out
    assert out["failure"]["ntstatus"] == "0xc000006d" and out["failure"]["krb5_error"] == "KRB5KRB_AP_ERR_SKEW"
    assert re.match(r"the server's clock is (89\d|90\d) s ahead of the KDC's", out["failure"]["reason"])  # 900 s
    # This node 15 minutes ahead, with libkrb5's correction off: the KDC refuses it.
    conf = domain.client_krb5(tmp_path / "krb5.conf", kdc_timesync="0")
    rc, out, _ = probe(domain, *kerberos_args(prober), env=domain.env(KRB5_CONFIG=str(conf)),
                       wrap=["faketime", "-f", "+15m"])  # fmt: skip
    assert rc == 1 and out["alert"] == 123 and stages(out) == ["kerberos"], out
    assert out["failure"]["krb5_error"] == "KRB5KRB_AP_ERR_SKEW"
    # With it on (libkrb5's default) the logon works, and the probe says how far off the KDC is.
    rc, out, _ = probe(domain, *kerberos_args(prober), wrap=["faketime", "-f", "+15m"])
    assert rc == 0, out
    assert out["notes"]["kdc_clock_offset"].startswith("-9")


# -- the unit, with Debian's own GSSAPI binding --------------------------------------------------


@pytest.fixture(scope="module")
def gssapi_root():
    """The container root with Debian's python3-gssapi (1.8.2): the binding the packages use."""
    reap_orphaned_containers()
    return build_base_root(include=(*DEFAULT_INCLUDE, "python3-gssapi"))


def test_the_unit_logs_on_with_the_keytab_it_gets_as_its_credential(domain, prober, gssapi_root):
    """fswatch-samba@ in a booted systemd on the client's network: the keytab arrives through
    LoadCredential=, the tickets live in the unit's runtime directory, the sandbox lets the KDC
    child run, and the journal says how the probe logged on."""
    netns = f"--network-namespace-path=/run/netns/{domain.ns['cl']}"
    with BootedContainer(gssapi_root, nspawn_args=[netns]) as node:
        install_fswatch(node)
        node.write_text("/etc/krb5.conf", domain.krb5_conf.read_text())  # the container's, not this machine's
        node.copy_in(prober.keytab, "/root/probe.keytab", mode=0o600)
        node.run(["fswatch", "add", "samba", "k1", "--share", SHARE, "--address", FLOATING_ADDRESS, "--spn-host",
                  MEMBER_NAME, "--principal", prober.principal, "--keytab", "/root/probe.keytab", "--interval", "1",
                  "--retries", "2", "--timeout", "5"])  # fmt: skip
        unit = "fswatch-samba@k1.service"
        node.systemctl("start", unit, timeout=60)  # returns after the first healthy probe
        try:
            def state() -> dict:
                return json.loads(node.run(["cat", "/run/fswatch/samba/k1/state.json"]).stdout)

            wait_for(lambda: state().get("probes", 0) >= 3, 30, step=0.3)
            state = state()
            assert state["phase"] == "healthy" and state["last_probe"]["posture"]["authentication"] == "kerberos"
            assert state["last_probe"]["notes"]["kerberos"].startswith(f"cached ticket for {MEMBER_SPN}")
            cache = node.run(["stat", "-c", "%U %a", "/run/fswatch/samba/k1/krb5cc"]).stdout.split()
            assert cache == ["fswatch", "600"]
            watching = [e for e in node.journal(unit) if e.get("FSWATCH_EVENT") == "2"]
            assert watching and watching[0]["FSWATCH_AUTHENTICATION"] == "kerberos"
        finally:
            node.systemctl("stop", unit)
        assert node.run(["test", "-e", "/run/fswatch/samba/k1/krb5cc"], check=False).returncode == 1
        assert node.show(unit, "Result")["Result"] == "success"

"""The OCF agents on this host (no systemd PID 1: in-process supervision), against real smbd
and real nfs-ganesha: resource-agents' own `ocf-tester`, then the verdicts Pacemaker would
see — declared failure with its exit reason, a clean stop, a live probe at OCF_CHECK_LEVEL=10."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.ocf_agents import agent_env, python_path, run_agent

pytestmark = pytest.mark.integration

OCF_TESTER = "/usr/sbin/ocf-tester"


@pytest.fixture
def runtime(tmp_path):
    return tmp_path / "run"


def ocf_tester(agents: Path, kind: str, runtime: Path, instance: str, **params: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCF_", "FSWATCH_"))}
    env.update(FSWATCH_RUNTIME_DIR=str(runtime), FSWATCH_SUPERVISION="inprocess", PYTHONPATH=python_path())
    argv = [OCF_TESTER, "-n", instance]
    for key, value in params.items():
        argv += ["-o", f"{key}={value}"]
    return subprocess.run([*argv, str(agents / kind)], env=env, capture_output=True, text=True, timeout=240)


def assert_passed(proc: subprocess.CompletedProcess, agent: Path) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"{agent} passed all tests" in out, out
    assert "* rc=" not in out, out


def test_ocf_tester_passes_the_samba_agent(agents, runtime, samba_server):
    proc = ocf_tester(
        agents, "samba", runtime, "fsw-smb",
        share="public", address="127.0.0.1", port=str(samba_server.port), interval="1", retries="1", timeout="2",
    )
    assert_passed(proc, agents / "samba")
    assert not (runtime / "samba" / "fsw-smb" / "lock").exists()  # stopped and forgotten


def test_ocf_tester_passes_the_nfs_agent(agents, runtime, nfs_server):
    proc = ocf_tester(
        agents, "nfs", runtime, "fsw-nfs",
        export=nfs_server.export_path, address=nfs_server.address, interval="1", retries="1", timeout="2",
    )
    assert_passed(proc, agents / "nfs")


def test_user_logon_with_a_password_file(agents, runtime, samba_server, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text(samba_server.password + "\n")
    secret.chmod(0o600)
    env = agent_env(runtime, "fsw-user", share="private", user=samba_server.user, password_file=str(secret),
                    port=str(samba_server.port), interval="1", retries="1", timeout="2")
    try:
        assert run_agent(agents, "samba", "start", env).returncode == 0
        assert run_agent(agents, "samba", "monitor", env).returncode == 0
        # The watch process shows no password anywhere.
        pid = (runtime / "samba" / "fsw-user" / "lock").read_text().strip()
        for what in ("cmdline", "environ"):
            assert samba_server.password.encode() not in Path(f"/proc/{pid}/{what}").read_bytes()
    finally:
        assert run_agent(agents, "samba", "stop", env).returncode == 0
    assert run_agent(agents, "samba", "monitor", env).returncode == 7


def test_stall_is_declared_failed_with_stage_alert_and_cause_then_stop_gives_7(agents, runtime, fresh_samba_server):
    env = agent_env(runtime, "fsw-stall", share="public", port=str(fresh_samba_server.port),
                    interval="1", retries="1", timeout="1")
    assert run_agent(agents, "samba", "start", env).returncode == 0
    try:
        fresh_samba_server.stall_all()
        stalled = time.monotonic()
        bound = 1 + 1 * 1 + 1 + 0.5  # interval + retries x max(interval, timeout) + timeout + slack
        for _ in range(100):  # bounded: 10 s
            mon = run_agent(agents, "samba", "monitor", env)
            if mon.returncode != 0:
                break
            time.sleep(0.1)
        detected = time.monotonic() - stalled
    finally:
        fresh_samba_server.resume_all()
    print(f"declared failed {detected:.2f} s after the stall (bound {bound} s + monitor latency)")
    assert mon.returncode == 1, mon.stderr
    reason = [line for line in mon.stderr.splitlines() if line.startswith("ocf-exit-reason:")]
    assert len(reason) == 1, mon.stderr
    # smbd runs on this node: the probe that fails with smbd stopped all through its second half
    # declares at once on that evidence (issue 18); the first probe the stall caught halfway
    # through may not, then the retries do.
    assert re.search(r"declared failed (at once on evidence from the server's process \(smbd\[\d+\] stopped "
                     r"\(T\) for [0-9.]+ s\) )?after [12]/2 failed probes: stage ", reason[0]), reason[0]
    assert "alert " in reason[0] and "(cause: " in reason[0]
    assert detected <= bound + 1.0
    # The failure stays visible until Pacemaker stops the resource; then 7, and stop is idempotent.
    assert run_agent(agents, "samba", "monitor", env).returncode == 1
    assert run_agent(agents, "samba", "stop", env).returncode == 0
    assert run_agent(agents, "samba", "monitor", env).returncode == 7
    assert run_agent(agents, "samba", "stop", env).returncode == 0


def test_start_fails_with_a_reason_for_a_missing_share(agents, runtime, samba_server):
    env = agent_env(runtime, "fsw-noshare", share="nosuchshare", port=str(samba_server.port),
                    interval="1", retries="1", timeout="1")
    start = run_agent(agents, "samba", "start", env)
    assert start.returncode == 1
    assert "stage tree_connect, alert 62:" in start.stderr
    assert run_agent(agents, "samba", "monitor", env).returncode == 1
    assert run_agent(agents, "samba", "stop", env).returncode == 0
    assert run_agent(agents, "samba", "monitor", env).returncode == 7


def test_deep_monitor_runs_a_live_probe_within_the_action_timeout(agents, runtime, fresh_samba_server):
    env = agent_env(runtime, "fsw-deep", share="public", port=str(fresh_samba_server.port),
                    interval="30", retries="5", timeout="60")
    assert run_agent(agents, "samba", "start", env).returncode == 0
    try:
        deep = dict(env, OCF_CHECK_LEVEL="10", OCF_RESKEY_CRM_meta_timeout="3000")
        assert run_agent(agents, "samba", "monitor", deep).returncode == 0
        fresh_samba_server.stall_all()
        began = time.monotonic()
        mon = run_agent(agents, "samba", "monitor", deep)
        took = time.monotonic() - began
    finally:
        fresh_samba_server.resume_all()
        run_agent(agents, "samba", "stop", env)
    # The watch (interval 30 s) has not noticed; the live probe has, before Pacemaker's 3 s.
    assert mon.returncode == 1, mon.stderr
    assert "ocf-exit-reason:live probe" in mon.stderr and "alert " in mon.stderr
    assert took < 3.0, took


def test_validate_all_refuses_bad_settings_with_fswatch_s_reasons(agents, runtime):
    cases = {
        (("share", "x"), ("port", "0")): "alert 11: port must be 1..65535, not 0",
        (("port", "445"),): "alert 12: --share is required",
        (("share", "x"), ("interval", "abc")): "alert 11: interval must be a whole number 1..10000, not 'abc'",
        (("share", "x"), ("address", "bad_host!")): "alert 11: address 'bad_host!' is neither an IP address nor a host",
        (("share", "x"), ("password_file", "/nonexistent/pw")): "password file /nonexistent/pw does not exist",
        (("share", "x"), ("watch_id", "-bad")): "alert 11: invalid identifier '-bad'",
        (("share", "x"), ("attribute", "a b")): "alert 11: invalid attribute name 'a b'",
    }
    for params, expected in cases.items():
        env = agent_env(runtime, "fsw-bad", **dict(params))
        proc = run_agent(agents, "samba", "validate-all", env)
        assert proc.returncode == 6, (params, proc.stderr)
        assert proc.stderr.startswith("ocf-exit-reason:") and expected in proc.stderr, (params, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1
    # NFSv4 over UDP is refused as `fswatch add` refuses it.
    env = agent_env(runtime, "fsw-bad", export="/x", nfs_version="4", transport="udp")
    proc = run_agent(agents, "nfs", "validate-all", env)
    assert proc.returncode == 6 and "runs over TCP only" in proc.stderr
    # Attribute mode needs attrd_updater (pacemaker-cli-utils): 5, not installed.
    empty = runtime.parent / "empty-path"
    empty.mkdir()
    env = dict(agent_env(runtime, "fsw-noattrd", share="x", attribute="fsw-x"), PATH=str(empty))
    proc = run_agent(agents, "samba", "validate-all", env)
    assert proc.returncode == 5 and "attrd_updater not found" in proc.stderr, proc.stderr
    assert run_agent(agents, "samba", "start", env).returncode == 5
    # A probe (monitor, interval 0) of a resource that was never started: 7 and nothing said.
    env = agent_env(runtime, "fsw-never", share="x")
    env["OCF_RESKEY_CRM_meta_interval"] = "0"
    proc = run_agent(agents, "samba", "monitor", env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, "", "")


def fake_attrd(directory: Path, body: str) -> Path:
    """An attrd_updater that records its arguments (one call per line) and then runs `body`."""
    directory.mkdir(exist_ok=True)
    calls = directory / "calls"
    script = directory / "attrd_updater"
    script.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n{body}\n')
    script.chmod(0o755)
    return calls


def recorded(calls: Path) -> list:
    return calls.read_text().splitlines() if calls.exists() else []


def wait_for(condition, seconds: float) -> bool:
    for _ in range(int(seconds / 0.1) + 1):  # bounded
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_attribute_mode_publishes_each_verdict_and_keeps_probing(agents, runtime, fresh_samba_server, tmp_path):
    calls = fake_attrd(tmp_path / "bin", "exit 0")
    env = agent_env(runtime, "fsw-health:1", share="public", port=str(fresh_samba_server.port),
                    interval="1", retries="1", timeout="1", attribute="fsw-health")
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    assert run_agent(agents, "samba", "validate-all", env).returncode == 0
    start = run_agent(agents, "samba", "start", env)
    assert start.returncode == 0, start.stderr
    try:
        assert wait_for(lambda: recorded(calls) == ["-n fsw-health -U 1"], 3), recorded(calls)
        fresh_samba_server.stall_all()
        stalled = time.monotonic()
        published = wait_for(lambda: recorded(calls)[-1:] == ["-n fsw-health -U 0"], 10)
        detected = time.monotonic() - stalled
        assert published, recorded(calls)
        assert detected <= 1 + 1 + 1 + 0.5 + 0.5  # the bound + slack + polling
        # Declared failed, yet the watch runs on: monitor says 0 (the attribute says 0).
        assert run_agent(agents, "samba", "monitor", env).returncode == 0
        fresh_samba_server.resume_all()
        assert wait_for(lambda: recorded(calls)[-1:] == ["-n fsw-health -U 1"], 5), recorded(calls)
    finally:
        fresh_samba_server.resume_all()
        assert run_agent(agents, "samba", "stop", env).returncode == 0
    print(f"attribute 0 published {detected:.2f} s after the stall")
    assert recorded(calls) == ["-n fsw-health -U 1", "-n fsw-health -U 0", "-n fsw-health -U 1"]
    log = (runtime / "samba" / "fsw-health.log").read_text()
    assert "alert 98:" in log and "alert 6:" not in log and "alert 91:" in log
    assert run_agent(agents, "samba", "monitor", env).returncode == 7


def test_a_hanging_attrd_updater_is_killed_and_reported_and_the_watch_goes_on(agents, runtime, samba_server, tmp_path):
    calls = fake_attrd(tmp_path / "bin", "sleep 600")
    env = agent_env(runtime, "fsw-hang", share="public", port=str(samba_server.port),
                    interval="1", retries="1", timeout="1", attribute="fsw-hang")
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    began = time.monotonic()
    start = run_agent(agents, "samba", "start", env)
    took = time.monotonic() - began
    try:
        assert start.returncode == 0, start.stderr
        assert took < 2.0 + 0.5 + 3.0, took  # one bounded call (2 s + kill) on top of the first probe
        assert wait_for(lambda: len(recorded(calls)) >= 3, 8), recorded(calls)  # retried after each probe
        assert run_agent(agents, "samba", "monitor", env).returncode == 0
    finally:
        assert run_agent(agents, "samba", "stop", env).returncode == 0
    log = (runtime / "samba" / "fsw-hang.log").read_text()
    failed = [line for line in log.splitlines() if "alert 96:" in line]
    assert len(failed) == 1, log  # once per streak of failures
    assert "fsw-hang=1: attrd_updater did not end within 2 s and was killed" in failed[0]
    # no sleep left behind: the whole process group was killed
    sleepers = subprocess.run(["pgrep", "-f", f"{tmp_path}/bin/attrd_updater"], capture_output=True, text=True)
    assert sleepers.stdout == ""


def test_a_frozen_supervised_watch_fails_the_monitor_and_stop_still_ends_it(agents, runtime, samba_server):
    """Without systemd there is no watchdog: the monitor notices a watch that stopped reporting."""
    env = agent_env(runtime, "fsw-frozen", share="public", port=str(samba_server.port),
                    interval="1", retries="1", timeout="1")
    assert run_agent(agents, "samba", "start", env).returncode == 0
    pid = int((runtime / "samba" / "fsw-frozen" / "lock").read_text())
    try:
        os.kill(pid, signal.SIGSTOP)
        frozen = time.monotonic()
        for _ in range(150):  # bounded: 15 s
            mon = run_agent(agents, "samba", "monitor", env)
            if mon.returncode != 0:
                break
            time.sleep(0.1)
        noticed = time.monotonic() - frozen
        assert mon.returncode == 1 and "has not reported for" in mon.stderr, mon.stderr
        assert noticed <= 1 + 1 + 5 + 1.5, noticed  # interval + timeout + 5 s, + polling
        began = time.monotonic()
        assert run_agent(agents, "samba", "stop", env).returncode == 0
        assert time.monotonic() - began < 3
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert run_agent(agents, "samba", "monitor", env).returncode == 7


def test_signals_to_the_agents_watch_never_fail_the_resource(agents, runtime, samba_server):
    """SIGHUP, SIGUSR1 and SIGUSR2 to the watch the agent started (a detached `fswatch run`):
    it lives on, monitor stays 0 (Pacemaker sees no failure), the first two log what it
    runs (alert 160) in its log, and stop still ends it cleanly (alert 3). On the old main
    SIGHUP ended it: monitor 1, a false failover."""
    env = agent_env(runtime, "fsw-sig", share="public", port=str(samba_server.port),
                    interval="1", retries="1", timeout="2")
    log = runtime / "samba" / "fsw-sig.log"
    assert run_agent(agents, "samba", "start", env).returncode == 0
    try:
        pid = int((runtime / "samba" / "fsw-sig" / "lock").read_text().strip())
        for n, sig in enumerate((signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)):
            os.kill(pid, sig)
            for _ in range(50):  # bounded: 5 s for the report, answered within a second
                reports = [line for line in log.read_text().splitlines() if " alert 160: " in line]
                if len(reports) == min(n + 1, 2):
                    break
                time.sleep(0.1)
            mon = run_agent(agents, "samba", "monitor", env)
            assert mon.returncode == 0, (sig, mon.stderr, log.read_text())
        time.sleep(1.5)  # SIGUSR2 says nothing, even after a probe
        assert len([line for line in log.read_text().splitlines() if " alert 160: " in line]) == 2
        assert (runtime / "samba" / "fsw-sig" / "lock").read_text().strip() == str(pid)  # the same watch
    finally:
        assert run_agent(agents, "samba", "stop", env).returncode == 0
    assert run_agent(agents, "samba", "monitor", env).returncode == 7
    events = [line.split(" alert ")[1].split(":")[0] for line in log.read_text().splitlines() if " alert " in line]
    assert events == ["1", "2", "160", "160", "3"], log.read_text()

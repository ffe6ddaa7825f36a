"""Fault injection ("dummy failure") on this host, in-process, against a real smbd that
stays healthy throughout: `fswatch run` + `fswatch inject`, clp_sambamon -inject, and the
OCF agent's monitor. The injected failure is declared within the bound from the inject
instant, says so in every alert, carries the failure timeline, and never outlives its watch."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.fixtures.ocf_agents import agent_env, run_agent
from tests.integration.cli import FswatchCLI, alert_ids, phase, wait_for
from tests.integration.test_clp import Clp, start_samba

pytestmark = pytest.mark.integration
INTERVAL, RETRIES, TIMEOUT = 1, 2, 1
BOUND = INTERVAL + RETRIES * max(INTERVAL, TIMEOUT) + TIMEOUT + 0.5  # SPEC.md section 2, + slack


def add_watch(cli, server, watch_id="w1", retries=RETRIES):
    proc = cli("add", "samba", watch_id, "--share", "public", "--port", str(server.port),
               "--interval", str(INTERVAL), "--retries", str(retries), "--timeout", str(TIMEOUT))
    assert proc.returncode == 0, proc.stderr


def state(cli, watch_id="w1", kind="samba"):
    try:
        return json.loads((cli.runtime / kind / watch_id / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def declared_after_request(final_state):
    """Seconds from the injection request (the instant `fswatch inject` made it, which the
    watch keeps in its state) to the declared failure (the state written with alert 6)."""
    return final_state["updated"] - final_state["injection"]["requested_at"]


def stop(watch):
    if watch.poll() is None:
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=10)
    return watch.stderr.read()


def test_run_inject_declares_within_the_bound_and_says_injected(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, samba_server)
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        injected = time.monotonic()
        proc = cli("inject", "samba", "w1")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("samba watch w1: the next 3 probes (retries + 1) fail at connect (alert 72")
        rc = watch.wait(timeout=15)
        exited = time.monotonic() - injected
    finally:
        stderr = stop(watch)
    assert rc == 1, stderr
    detected = declared_after_request(state(cli))
    print(f"injected failure declared {detected:.2f} s after the request (bound {BOUND} s); "
          f"the watch exited {exited:.2f} s after `fswatch inject` was started")
    assert 0 < detected <= BOUND, (detected, stderr)
    ids = alert_ids(stderr)
    assert ids[:2] == [1, 2] and ids[-5:] == [113, 72, 72, 72, 6], stderr
    assert "alert 72: The clp_sambamon has detected network error(connect error[injected failure])." in stderr
    assert "alert 6: The clp_sambamon will terminate. (injected)" in stderr
    timeline = stderr.split("will terminate. (injected)", 1)[1].splitlines()[1:]
    assert timeline[0].startswith("    TIME (")  # the table, indented under alert 6
    assert [row.split()[2] for row in timeline[-3:]] == ["failed"] * 3
    assert all("connect: injected failure" in row and row.endswith("(injected)") for row in timeline[-3:])
    final = state(cli)
    assert final["phase"] == "failed" and final["last_probe"]["failure"]["injected"] is True
    assert not (cli.runtime / "samba" / "w1" / "inject").exists()  # the end of the watch clears it
    history = cli("status", "samba", "w1", "--history")
    assert history.returncode == 0 and history.stdout.count("(injected)") == 3, history.stdout
    # The server was never touched: a probe of it is healthy.
    assert cli("probe", "samba", "--share", "public", "--port", str(samba_server.port)).returncode == 0


def test_continue_clears_an_injection_and_the_watch_recovers(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, samba_server, retries=5)
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        assert cli("inject", "samba", "w1", "--stage", "session", "--count", "50").returncode == 0
        wait_for(lambda: state(cli).get("phase") == "failing", 3)
        assert state(cli)["injection"]["stage"] == "session"
        status = cli("status", "samba", "w1")
        assert "injected: " in status.stdout and "more probes fail at session" in status.stdout
        assert cli("continue", "samba", "w1").returncode == 0
        assert not (cli.runtime / "samba" / "w1" / "inject").exists()
        wait_for(lambda: state(cli).get("phase") == "healthy", 3)
        assert watch.poll() is None and state(cli)["injection"] is None
    finally:
        stderr = stop(watch)
    assert watch.returncode == 0, stderr
    ids = alert_ids(stderr)
    assert 113 in ids and 64 in ids and 91 in ids and 6 not in ids, stderr


def test_a_killed_watch_s_injection_never_reaches_the_next_watch(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, samba_server)
    first = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        assert cli("inject", "samba", "w1", "--stage", "tree_connect", "--count", "100").returncode == 0
    finally:
        first.kill()  # SIGKILL: nothing of the watch's runs, the request stays behind
        first.wait(timeout=10)
        first.stderr.read()
    assert (cli.runtime / "samba" / "w1" / "inject").exists()
    assert cli("inject", "samba", "w1").returncode == 6  # no watch runs: refused (alert 145)
    second = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: state(cli).get("probes", 0) >= 3 and state(cli).get("pid") == second.pid, 10)
        assert state(cli)["phase"] == "healthy" and state(cli)["failures"] == 0
    finally:
        stderr = stop(second)
    assert 62 not in alert_ids(stderr) and 113 not in alert_ids(stderr), stderr


def test_inject_refusals(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    proc = cli("inject", "samba", "w1", "--stage", "fsstat")
    assert proc.returncode == 2 and "alert 11" in proc.stderr and "tree_connect" in proc.stderr
    proc = cli("inject", "nfs", "w1", "--count", "0")
    assert proc.returncode == 2 and "alert 11" in proc.stderr
    proc = cli("inject", "samba", "w1")
    assert proc.returncode == 6 and "alert 145" in proc.stderr and "not running" in proc.stderr
    add_watch(cli, samba_server)
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        assert cli("pause", "samba", "w1").returncode == 0
        proc = cli("inject", "samba", "w1")
        assert proc.returncode == 7 and "alert 146" in proc.stderr and "paused" in proc.stderr
        assert not (cli.runtime / "samba" / "w1" / "inject").exists()
    finally:
        stop(watch)


def test_clp_inject_ends_the_blocking_start_form_with_exit_1(samba_server, tmp_path):
    clp = Clp(tmp_path)
    watch = start_samba(clp, samba_server, "c1")
    try:
        wait_for(lambda: phase(clp, "samba", "c1") == "healthy", 10)
        refused = clp("clp_sambamon", "c1", "-inject", "compound")
        assert refused.returncode == 2 and "alert 11: Invalid parameter in the clp_sambamon." in refused.stderr
        injected = time.monotonic()
        proc = clp("clp_sambamon", "c1", "-inject", "tree_connect")
        assert proc.returncode == 0, proc.stderr
        rc = watch.wait(timeout=15)
        exited = time.monotonic() - injected
    finally:
        stderr = stop(watch)
    detected = declared_after_request(state(clp, "c1"))
    print(f"clp: declared {detected:.2f} s after the request, exited {exited:.2f} s after -inject was started")
    assert rc == 1 and 0 < detected <= BOUND, (detected, stderr)
    assert alert_ids(stderr)[-5:] == [113, 62, 62, 62, 6], stderr
    assert ("alert 62: The clp_sambamon has detected an error in Samba [public] (tree connect error[injected failure])"
            in stderr)
    assert clp("clp_sambamon", "c1", "-inject").returncode == 6  # it has ended (alert 145)


def test_ocf_monitor_reports_the_injected_failure_like_a_real_one(agents, tmp_path, samba_server):  # noqa: F811
    runtime = tmp_path / "run"
    env = agent_env(runtime, "fsw-inj", share="public", port=str(samba_server.port),
                    interval=str(INTERVAL), retries=str(RETRIES), timeout=str(TIMEOUT))
    cli = FswatchCLI(tmp_path)
    assert run_agent(agents, "samba", "start", env).returncode == 0
    try:
        assert run_agent(agents, "samba", "monitor", env).returncode == 0
        injected = time.monotonic()
        assert cli("inject", "samba", "fsw-inj", "--stage", "negotiate").returncode == 0
        for _ in range(100):  # bounded: 10 s
            mon = run_agent(agents, "samba", "monitor", env)
            if mon.returncode != 0:
                break
            time.sleep(0.1)
        detected = time.monotonic() - injected
    finally:
        run_agent(agents, "samba", "stop", env)
    assert mon.returncode == 1, mon.stderr
    reason = [line for line in mon.stderr.splitlines() if line.startswith("ocf-exit-reason:")]
    assert len(reason) == 1, mon.stderr
    assert "declared failed after 3/3 failed probes: stage negotiate, alert 65:" in reason[0]
    assert "(negotiate error[injected failure])" in reason[0] and "injected failure (fswatch inject)" in reason[0]
    assert detected <= BOUND + 1.0  # + the monitor's own latency, as the stall test allows
    assert run_agent(agents, "samba", "monitor", env).returncode == 7
    assert not os.path.exists(runtime / "samba" / "fsw-inj" / "inject")


def test_nfs_inject_fewer_than_retries_plus_one_then_recovery(nfs_server, tmp_path):
    """clp_nfsmon's alert for the stage, marked injected, against a healthy nfs-ganesha; a
    count below retries + 1 leaves the watch running and the next real probe recovers it."""
    cli = FswatchCLI(tmp_path)
    proc = cli("add", "nfs", "n1", "--export", nfs_server.export_path, "--address", nfs_server.address,
               "--interval", str(INTERVAL), "--retries", str(RETRIES), "--timeout", str(TIMEOUT))
    assert proc.returncode == 0, proc.stderr
    watch = cli.start("run", "nfs", "n1")
    try:
        wait_for(lambda: phase(cli, "nfs", "n1") == "healthy", 10)
        proc = cli("inject", "nfs", "n1", "--stage", "fsstat", "--count", "2")
        assert proc.returncode == 0 and "then the watch recovers at the next probe" in proc.stdout, proc.stdout
        wait_for(lambda: [e["result"] for e in state(cli, "n1", "nfs").get("history", [])][-3:]
                 == ["failed", "failed", "healthy"], 8)
        assert watch.poll() is None
    finally:
        stderr = stop(watch)
    ids = alert_ids(stderr)
    assert ids[ids.index(113):ids.index(113) + 4] == [113, 85, 85, 91], stderr
    assert ("alert 85: clp_nfsmon: injected failure (fsstat: injected failure (fswatch inject): the server was "
            "not contacted) [failed probes 1/3]") in stderr, stderr

"""`fswatch add` + `fswatch run` against a real smbd: detection within the bound, pause,
continue, one watch per ID, stop by SIGTERM."""

from __future__ import annotations

import signal
import time

import pytest

from tests.integration.cli import FswatchCLI, alert_ids, detect_stall, phase, wait_for

pytestmark = pytest.mark.integration
SLACK = 0.5  # SPEC.md section 2: scheduling slack on top of the bound


def add_watch(cli: FswatchCLI, server, watch_id="w1", *extra: str):
    proc = cli(
        "add", "samba", watch_id, "--share", "public", "--port", str(server.port),
        "--interval", "1", "--retries", "2", "--timeout", "1", *extra,
    )
    assert proc.returncode == 0, proc.stderr


def test_stall_declared_within_bound(fresh_samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, fresh_samba_server)
    watch = cli.start("run", "samba", "w1")
    healthy = lambda: phase(cli, "samba", "w1") == "healthy"  # noqa: E731
    rc, detected, stderr = detect_stall(watch, healthy, fresh_samba_server.stall_all, fresh_samba_server.resume_all)
    assert rc == 1, stderr
    bound = 1 + 2 * max(1, 1) + 1
    assert detected <= bound + SLACK, (detected, stderr)
    ids = alert_ids(stderr)
    assert ids[:2] == [1, 2] and ids[-2:] == [74, 6], stderr
    assert "The clp_sambamon will terminate." in stderr
    assert phase(cli, "samba", "w1") == "failed"


def test_pause_then_continue(fresh_samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, fresh_samba_server)
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        assert cli("pause", "samba", "w1").returncode == 0
        wait_for(lambda: phase(cli, "samba", "w1") == "paused", 2.5)  # noticed within one interval
        fresh_samba_server.stall_all()
        time.sleep(6)  # longer than the bound: a paused watch declares nothing
        assert watch.poll() is None
        rc, records, _ = cli.json("status", "samba", "w1", "--json")
        assert records[0]["paused"] is True and records[0]["pid"] == watch.pid
        resumed = time.monotonic()
        assert cli("continue", "samba", "w1").returncode == 0
        rc = watch.wait(timeout=15)
        detected = time.monotonic() - resumed
    finally:
        fresh_samba_server.resume_all()
        if watch.poll() is None:
            watch.kill()
    stderr = watch.stderr.read()
    assert rc == 1
    assert alert_ids(stderr)[:4] == [1, 2, 7, 8], stderr
    assert detected <= 1 + 4 + SLACK  # noticed within one interval, then the bound


def test_second_run_is_refused_and_sigterm_stops(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    add_watch(cli, samba_server)
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        second = cli("run", "samba", "w1", timeout=10)
        assert second.returncode == 3
        assert "alert 14: The specified monitor id is already under use in other processes." in second.stderr
        watch.send_signal(signal.SIGTERM)
        rc = watch.wait(timeout=5)
    finally:
        if watch.poll() is None:
            watch.kill()
    stderr = watch.stderr.read()
    assert rc == 0
    assert alert_ids(stderr) == [1, 2, 3]
    assert "The clp_sambamon will stop watching Samba [public]." in stderr
    # the ID is free again, and a killed watch frees it too
    again = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        again.send_signal(signal.SIGKILL)
        again.wait(timeout=5)
    finally:
        if again.poll() is None:
            again.kill()
    rc, records, _ = cli.json("status", "--json")
    assert records[0]["pid"] is None and records[0]["phase"] == "dead"


def test_user_watch_password_never_in_argv(samba_server, tmp_path):
    cli = FswatchCLI(tmp_path)
    proc = cli(
        "add", "samba", "u1", "--share", "private", "--port", str(samba_server.port), "--user", samba_server.user,
        "--password-file", "-", "--interval", "1", input=samba_server.password + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    pw = cli.config / "samba" / "u1.password"
    assert pw.stat().st_mode & 0o777 == 0o600
    assert samba_server.password not in (cli.config / "samba" / "u1.conf").read_text()
    watch = cli.start("run", "samba", "u1")
    try:
        wait_for(lambda: phase(cli, "samba", "u1") == "healthy", 10)
        with open(f"/proc/{watch.pid}/cmdline", "rb") as f:
            assert samba_server.password.encode() not in f.read()
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=5) == 0
    finally:
        if watch.poll() is None:
            watch.kill()


def test_sigterm_ends_a_probe_stuck_on_a_stalled_server(fresh_samba_server, tmp_path):
    # A stop must not wait for the probe's deadline: during a failover the server being
    # stopped is often the stalled one.
    cli = FswatchCLI(tmp_path)
    proc = cli("add", "samba", "w1", "--share", "public", "--port", str(fresh_samba_server.port),
               "--interval", "1", "--timeout", "30")
    assert proc.returncode == 0
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        fresh_samba_server.stall_all()
        time.sleep(2)  # the next probe is now blocked in negotiate
        t0 = time.monotonic()
        watch.send_signal(signal.SIGTERM)
        rc = watch.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        fresh_samba_server.resume_all()
        if watch.poll() is None:
            watch.kill()
    assert rc == 0 and took < 1.0, took
    assert alert_ids(watch.stderr.read()) == [1, 2, 3]


def test_fswatch_stop_ends_a_watch_that_runs_without_systemd(samba_server, tmp_path):
    """Where systemd is not PID 1, `fswatch stop` stops the watch that holds the lock (a
    `fswatch run` in another terminal) the way clp_*mon -stop and the OCF agent do: the
    watch ends cleanly (alert 3, exit 0). (It used to run systemctl and fail.)"""
    cli = FswatchCLI(tmp_path)
    add_watch(cli, samba_server)
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        stop = cli("stop", "samba", "w1", timeout=70)
        assert stop.returncode == 0 and stop.stderr == "", stop.stderr
        assert watch.wait(timeout=5) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
    assert alert_ids(watch.stderr.read()) == [1, 2, 3]
    rc, records, _ = cli.json("status", "--json")
    assert records[0]["health"] == "stopped" and records[0]["pid"] is None

"""`fswatch add` + `fswatch run` against a real smbd: detection within the bound, pause,
continue, one watch per ID, stop by SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.integration.cli import (
    FswatchCLI,
    alert_ids,
    alert_lines,
    detect_stall,
    logged,
    only_alert_lines,
    phase,
    wait_for,
)

pytestmark = pytest.mark.integration
SLACK = 0.5  # SPEC.md section 2: scheduling slack on top of the bound


def add_watch(cli: FswatchCLI, server, watch_id="w1", *extra: str):
    proc = cli(
        "add", "samba", watch_id, "--share", "public", "--port", str(server.port),
        "--interval", "1", "--retries", "2", "--timeout", "1", *extra,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("evidence", ["stopped", "off"])
def test_stall_declared_within_bound(fresh_samba_server, tmp_path, evidence):
    """Every smbd process stopped: by default the watch sees the process serving it stopped and
    declares after the first failed probe (alert 114, bound interval + timeout); without evidence
    it takes the retries (bound interval + retries x max(interval, timeout) + timeout)."""
    cli = FswatchCLI(tmp_path)
    add_watch(cli, fresh_samba_server, "w1", "--evidence", evidence)
    watch = cli.start("run", "samba", "w1")
    healthy = lambda: phase(cli, "samba", "w1") == "healthy"  # noqa: E731
    rc, detected, stderr = detect_stall(watch, healthy, fresh_samba_server.stall_all, fresh_samba_server.resume_all)
    assert rc == 1, stderr
    bound = 1 + 1 if evidence == "stopped" else 1 + 2 * max(1, 1) + 1  # SPEC.md section 2
    assert detected <= bound + SLACK, (detected, stderr)
    ids = alert_ids(stderr)
    assert ids[:2] == [1, 2], stderr
    assert ids[-3:] == [74, 114, 6] if evidence == "stopped" else ids[-4:] == [74, 74, 74, 6], stderr
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


def _blocked(status: str) -> int:
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)


def test_only_the_main_thread_takes_the_signals_a_watch_answers(samba_server, tmp_path):
    # Python answers a signal in the main thread alone; one the kernel handed another thread
    # waited for the main thread to wake by itself (fswatch.core.threads): after a SIGSTOP,
    # a SIGTERM then took up to a second to end the watch, or the rest of a probe's deadline.
    cli = FswatchCLI(tmp_path)
    add_watch(cli, samba_server)
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)  # the deadlines' thread runs
        masks = {int(task.name): _blocked((task / "status").read_text())
                 for task in Path(f"/proc/{watch.pid}/task").iterdir()}  # fmt: skip
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=10)
    answered = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM]
    bits = sum(1 << (sig - 1) for sig in answered)
    assert masks.pop(watch.pid) & bits == 0, "the main thread must take them"
    assert masks and all(mask & bits == bits for mask in masks.values()), masks


# Signals whose default action ends a process and that a tool may send to a watch by
# convention or by mistake (timers, SIGIO, a UPS daemon's SIGPWR, the resource limits',
# the real-time range): each must leave the watch running, and silent.
QUIET_SIGNALS = (signal.SIGUSR2, signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF, signal.SIGIO, signal.SIGPWR,
                 signal.SIGXCPU, signal.SIGXFSZ, signal.SIGSTKFLT, signal.SIGRTMIN, signal.SIGRTMIN + 1,
                 signal.SIGRTMAX)  # fmt: skip


def test_conventional_signals_never_end_the_watch_and_add_over_it_is_said(samba_server, tmp_path):
    """SIGHUP and SIGUSR1 log what the watch runs (alert 160; 161 once its file says
    otherwise), SIGUSR2 and the other signals a tool may send are ignored, and `add` over the
    running watch writes its file and says in one line that the watch keeps its settings;
    SIGQUIT then ends it cleanly (alert 3). On the old main SIGHUP ended it with exit 129
    and no alert. Alerts go to a file, to be read while the watch runs."""
    cli = FswatchCLI(tmp_path)
    add_watch(cli, samba_server)
    log = tmp_path / "alerts"
    with logged(cli.argv("run", "samba", "w1"), cli.env, log) as watch:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 10)
        for n, sig in enumerate((signal.SIGHUP, signal.SIGUSR1), start=1):
            watch.send_signal(sig)
            wait_for(lambda n=n: len(alert_lines(log.read_text(), 160)) == n or watch.poll() is not None, 10)
            assert watch.poll() is None, (sig, watch.returncode, log.read_text())  # old main: 129, silent
        conf = cli.config / "samba" / "w1.conf"
        assert alert_lines(log.read_text(), 160)[0].endswith(
            f"runs with these settings: interval 1, retries 2, timeout 1, share public, address 127.0.0.1, "
            f"port {samba_server.port}; {conf} says the same.")
        for sig in QUIET_SIGNALS:
            watch.send_signal(sig)
        time.sleep(2.5)  # two probes: the watch lives on and says nothing of them
        assert watch.poll() is None and alert_ids(log.read_text()) == [1, 2, 160, 160]

        changed = cli("add", "samba", "w1", "--share", "public", "--port", str(samba_server.port), "--interval", "5")
        assert changed.returncode == 0 and "interval = 5" in conf.read_text()
        assert changed.stderr.splitlines() == [
            f"fswatch: samba w1: alert 161: The clp_sambamon keeps the settings it started with until it is "
            f"restarted: pid {watch.pid}; {conf} now says interval 5 (runs 1), retries 5 (runs 2), timeout 60 (runs 1)."
        ]
        rc, records, _ = cli.json("status", "samba", "w1", "--json")
        assert records[0]["settings_changed"]["changes"]["interval"] == {"runs": "1", "file": "5"}
        assert records[0]["health"] == "healthy" and records[0]["stale_for"] is None
        assert "the watch keeps what it runs until restarted" in cli("status").stdout
        watch.send_signal(signal.SIGHUP)
        wait_for(lambda: alert_lines(log.read_text(), 161), 10)
        said = alert_lines(log.read_text(), 161)[0]
        assert said.endswith(f"{conf} now says interval 5 (runs 1), retries 5 (runs 2), timeout 60 (runs 1).")
        watch.send_signal(signal.SIGQUIT)
        rc = watch.wait(timeout=5)
    stderr = log.read_text()
    only_alert_lines(stderr)
    assert rc == 0 and alert_ids(stderr) == [1, 2, 160, 160, 161, 3]


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

"""clp_sambamon / clp_nfsmon in-process (no systemd as PID 1): the seed's command lines,
its alerts 11-15, and the blocking start form that CLUSTERPRO's PID monitor watches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fixtures.cgroups import Freezer
from tests.integration.cli import FswatchCLI, alert_ids, detect_stall, phase, wait_for

pytestmark = pytest.mark.integration
BIN = os.path.dirname(sys.executable)


class Clp(FswatchCLI):
    def argv(self, command: str, *args: str):  # type: ignore[override]
        return [os.path.join(BIN, command), *args]


@pytest.fixture
def clp(tmp_path):
    return Clp(tmp_path)


@pytest.mark.parametrize(
    "command, args, alert, text",
    [
        ("clp_sambamon", [], 13, "The monitor id is not specified at the clp_sambamon command."),
        ("clp_sambamon", ["-s", "public"], 13, "The monitor id is not specified at the clp_sambamon command."),
        ("clp_nfsmon", [], 13, "The monitor id is not specified at the clp_nfsmon command."),
        ("clp_sambamon", ["w1"], 12, "'-s' parameter is not specified at the clp_sambamon command."),
        ("clp_nfsmon", ["w1", "-a", "127.0.0.1"], 12, "'-d' parameter is not specified at the clp_nfsmon command."),
        ("clp_sambamon", ["w1", "-s", "p", "-i", "0"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_sambamon", ["w1", "-s", "p", "-c", "10001"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_sambamon", ["w1", "-s", "p", "-r", "ten"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_nfsmon", ["w1", "-d", "/x", "-n", "70000"], 11, "Invalid parameter in the clp_nfsmon."),
        ("clp_nfsmon", ["w1", "-d", "relative"], 11, "Invalid parameter in the clp_nfsmon."),
        ("clp_sambamon", ["a/b", "-s", "p"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_sambamon", ["x" * 201, "-s", "p"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_sambamon", ["w1", "-s", "p", "-x", "1"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_sambamon", ["w1", "-s"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_sambamon", ["w1", "-stop", "0"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_sambamon", ["w1", "-stop", "1", "2"], 11, "Invalid parameter in the clp_sambamon."),
        ("clp_nfsmon", ["w1", "-d", "/x", "-pause"], 11, "Invalid parameter in the clp_nfsmon."),
    ],
)
def test_refusals(clp, command, args, alert, text):
    proc = clp(command, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"alert {alert}: {text}" in lines[0]
    assert not clp.runtime.exists() and not clp.config.exists()


def start_samba(clp, server, watch_id="w1", *extra):
    return clp.start(
        "clp_sambamon", watch_id, "-s", "public", "-a", server.address, "-n", str(server.port),
        "-i", "1", "-c", "2", "-r", "1", *extra,
    )


def disp(clp, command, watch_id):
    proc = clp(command, watch_id, "-disp")
    return int(proc.stdout) if proc.returncode == 0 else None


def test_start_disp_duplicate_pause_continue_stop(clp, samba_server):
    watch = start_samba(clp, samba_server)
    try:
        assert wait_for(lambda: disp(clp, "clp_sambamon", "w1"), 10) == watch.pid
        dup = clp("clp_sambamon", "w1", "-s", "public", "-n", str(samba_server.port))
        assert dup.returncode == 3
        assert "alert 14: The specified monitor id is already under use in other processes." in dup.stderr
        assert clp("clp_sambamon", "w1", "-pause").returncode == 0
        time.sleep(1.5)
        assert clp("clp_sambamon", "w1", "-continue").returncode == 0
        time.sleep(1.5)
        stop = clp("clp_sambamon", "w1", "-stop")
        assert stop.returncode == 0
        assert watch.wait(timeout=5) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
    stderr = watch.stderr.read()
    assert alert_ids(stderr) == [1, 2, 7, 8, 3], stderr
    assert disp(clp, "clp_sambamon", "w1") is None
    again = clp("clp_sambamon", "w1", "-stop")  # nothing to stop: said (alert 145), still success (clp.stop)
    assert again.returncode == 0 and "alert 145: " in again.stderr, again.stderr


def test_stop_that_cannot_finish_gives_15(clp, samba_server):
    # A frozen cgroup (cgroup v1 freezer): its processes handle no signal, not even SIGKILL,
    # until thawed. -stop escalates to SIGKILL, waits its WAIT, and says alert 15.
    watch = start_samba(clp, samba_server)
    freezer = Freezer()
    try:
        wait_for(lambda: phase(clp, "samba", "w1") == "healthy", 10)
        freezer.add([watch.pid])
        freezer.freeze()
        t0 = time.monotonic()
        stop = clp("clp_sambamon", "w1", "-stop", "1")
        waited = time.monotonic() - t0
        assert stop.returncode == 4
        assert "alert 15: The clp_sambamon has not performed end processing." in stop.stderr
        assert 1 <= waited < 3
        freezer.thaw()
        assert watch.wait(timeout=5) != 0  # the SIGKILL it got while frozen ends it now
    finally:
        freezer.close()
        if watch.poll() is None:
            watch.kill()


def test_stop_continues_a_stopped_watch_and_ends_it_cleanly(clp, samba_server):
    # SIGSTOP (a debugger, a job-control accident): -stop sends SIGCONT after SIGTERM, so the
    # watch ends as asked (alert 3, exit 0) instead of -stop timing out (alert 15).
    watch = start_samba(clp, samba_server)
    try:
        wait_for(lambda: phase(clp, "samba", "w1") == "healthy", 10)
        os.kill(watch.pid, signal.SIGSTOP)
        stop = clp("clp_sambamon", "w1", "-stop", "5")
        assert stop.returncode == 0, stop.stderr
        assert watch.wait(timeout=5) == 0
        assert alert_ids(watch.stderr.read())[-1] == 3
    finally:
        if watch.poll() is None:
            watch.kill()


def test_kill_9_then_the_same_identifier_again(clp, samba_server):
    watch = start_samba(clp, samba_server)
    wait_for(lambda: disp(clp, "clp_sambamon", "w1"), 10)
    watch.kill()
    watch.wait(timeout=5)
    assert disp(clp, "clp_sambamon", "w1") is None  # stale state is detected
    assert clp("clp_sambamon", "w1", "-del").returncode == 0
    assert not (clp.runtime / "samba" / "w1").exists()
    again = start_samba(clp, samba_server)
    try:
        assert wait_for(lambda: disp(clp, "clp_sambamon", "w1"), 10) == again.pid
        assert clp("clp_sambamon", "w1", "-del").returncode == 3  # not for a live watch
    finally:
        clp("clp_sambamon", "w1", "-stop")
        again.wait(timeout=5)


def test_reset_forgets_what_a_clp_watch_left_as_del_does(clp, samba_server):
    """`fswatch reset` and -del are one forget: the runtime settings and password a clp start
    wrote go too (reset used to leave them)."""
    watch = clp.start("clp_sambamon", "w1", "-s", "public", "-a", samba_server.address, "-n", str(samba_server.port),
                      "-u", samba_server.user, "-p", samba_server.password, "-i", "1")  # fmt: skip
    wait_for(lambda: phase(clp, "samba", "w1") == "healthy", 10)
    watch.kill()
    watch.wait(timeout=5)
    assert (clp.runtime / "samba" / "w1.password").exists()
    cli = FswatchCLI(clp.config.parent)  # `fswatch` on the same directories
    rc, records, _ = cli.json("status", "--json")
    assert records[0]["health"] == "dead"
    proc = cli("reset", "samba", "w1")
    assert proc.returncode == 0, proc.stderr
    left = sorted(p.name for p in (clp.runtime / "samba").iterdir())
    assert left == [], left


def test_stall_ends_the_blocking_command_within_the_bound(clp, fresh_samba_server):
    watch = start_samba(clp, fresh_samba_server)
    healthy = lambda: phase(clp, "samba", "w1") == "healthy"  # noqa: E731
    rc, detected, stderr = detect_stall(watch, healthy, fresh_samba_server.stall_all, fresh_samba_server.resume_all)
    assert rc == 1 and detected <= 4 + 0.5, (detected, stderr)
    # the stage's alert, then 6; between them 114 when a failed probe saw smbd (on this node)
    # stopped all through its second half, which declares at once (issue 18)
    ids = alert_ids(stderr)
    assert ids[-2:] == [74, 6] or ids[-3:] == [74, 114, 6], ids


def test_password_moves_out_of_argv(clp, samba_server):
    watch = clp.start(
        "clp_sambamon", "u1", "-s", "private", "-u", samba_server.user, "-p", samba_server.password,
        "-n", str(samba_server.port), "-i", "1",
    )
    try:
        pid = wait_for(lambda: disp(clp, "clp_sambamon", "u1"), 10)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert samba_server.password.encode() not in f.read()
        secret = clp.runtime / "samba" / "u1.password"
        assert secret.stat().st_mode & 0o777 == 0o600
        wait_for(lambda: phase(clp, "samba", "u1") == "healthy", 10)  # its first logon is done
    finally:
        clp("clp_sambamon", "u1", "-stop")
        watch.wait(timeout=5)
    assert alert_ids(watch.stderr.read()) == [1, 2, 3]  # it logged on with the password


def test_nfs_watch_and_stall(clp, fresh_nfs_server):
    watch = clp.start(
        "clp_nfsmon", "n1", "-d", fresh_nfs_server.export_path, "-a", fresh_nfs_server.address,
        "-i", "1", "-c", "2", "-r", "1",
    )
    healthy = lambda: phase(clp, "nfs", "n1") == "healthy"  # noqa: E731
    rc, detected, stderr = detect_stall(watch, healthy, fresh_nfs_server.stall_ganesha, fresh_nfs_server.resume_ganesha)
    assert rc == 1 and detected <= 4 + 0.5, (detected, stderr)
    assert alert_ids(stderr)[:2] == [1, 2] and alert_ids(stderr)[-3:] == [84, 66, 6]


def test_in_process_is_the_default_without_systemd(clp):
    # The test machine's PID 1 is not systemd: the start form must not try systemctl.
    assert not os.path.isdir("/run/systemd/system")
    code = "from fswatch.host.supervisor import supervision_mode; print(supervision_mode())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clp.env)
    assert out.stdout.strip() == "inprocess"


def test_signals_to_the_in_process_start_form_never_end_it(clp, samba_server, tmp_path):
    """In-process, the start form is the watch: SIGHUP logs its settings (from the command
    line: no settings file, alert 160), SIGUSR2 is ignored, neither ends the PID CLUSTERPRO
    watches; -stop then ends it (alert 3, exit 0)."""
    from tests.integration.cli import alert_lines, logged

    clp.env["FSWATCH_SUPERVISION"] = "inprocess"  # the mode under test, whatever this host runs
    log = tmp_path / "alerts"
    argv = clp.argv("clp_sambamon", "w1", "-s", "public", "-a", samba_server.address, "-n", str(samba_server.port),
                    "-i", "1", "-c", "2", "-r", "1")  # fmt: skip
    with logged(argv, clp.env, log) as watch:
        wait_for(lambda: phase(clp, "samba", "w1") == "healthy", 10)
        watch.send_signal(signal.SIGHUP)
        wait_for(lambda: alert_lines(log.read_text(), 160) or watch.poll() is not None, 10)
        watch.send_signal(signal.SIGUSR2)
        time.sleep(1.5)
        assert watch.poll() is None, log.read_text()
        assert alert_lines(log.read_text(), 160)[0].endswith(
            f"interval 1, retries 2, timeout 1, share public, address {samba_server.address}, "
            f"port {samba_server.port}; from its command line, no settings file.")
        assert clp("clp_sambamon", "w1", "-stop").returncode == 0
        rc = watch.wait(timeout=10)
    assert rc == 0 and alert_ids(log.read_text()) == [1, 2, 160, 3]

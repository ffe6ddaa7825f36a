"""fswatch.host.supervisor: the one stop-and-wait and the one forget, against real processes that
hold a watch's instance lock, and systemctl scripted (the real one: tests/integration)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.core.errors import NotEnded, SystemFault, WatchBusy
from fswatch.host import supervisor
from fswatch.host.control import Control
from fswatch.host.store import SettingsStore
from fswatch.host.supervisor import Supervisor, supervision_mode
from fswatch.host.systemctl import Systemctl
from fswatch.kinds import NFS, SAMBA, build

# A stand-in for a watch: takes the instance lock as `fswatch run` does, says so, then
# handles SIGTERM as the watch does (ends, exit 0) or, with "ignore", not at all.
HOLDER = """
import signal, sys, time
from fswatch.host.control import Control, InstanceLock
lock = InstanceLock(Control.of(sys.argv[1], sys.argv[2]))
lock.acquire()
if sys.argv[3] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("locked", flush=True)
for _ in range(600):
    time.sleep(0.1)
"""


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_METRICS_DIR", str(tmp_path / "textfile"))
    monkeypatch.setenv("FSWATCH_SUPERVISION", "inprocess")
    monkeypatch.setattr(supervisor, "DROPIN_DIR", tmp_path / "systemd")
    (tmp_path / "systemd").mkdir()
    (tmp_path / "textfile").mkdir()
    return tmp_path


def hold(kind, watch_id, on_term="exit"):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, kind.name, watch_id, on_term], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ), cwd=os.getcwd())  # fmt: skip
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_the_mode_switch_and_its_old_names():
    assert supervision_mode({"FSWATCH_SUPERVISION": "systemd"}) == "systemd"
    assert supervision_mode({"FSWATCH_CLP_MODE": "systemd"}) == "systemd"  # the clp commands' old name
    assert supervision_mode({"FSWATCH_OCF_MODE": "inprocess", "FSWATCH_SUPERVISION": "systemd"}) == "systemd"
    assert supervision_mode({"FSWATCH_SUPERVISION": "bogus"}) == ("systemd" if os.path.isdir("/run/systemd/system")
                                                                 else "inprocess")  # fmt: skip


def test_stop_ends_a_watch_with_sigterm(runtime):
    proc = hold(SAMBA, "w1")
    t0 = time.monotonic()
    assert Supervisor(SAMBA, "w1").stop(Deadline.after(10)) is True
    assert proc.wait(timeout=5) == 0 and time.monotonic() - t0 < 2


def test_stop_continues_a_stopped_watch(runtime):
    proc = hold(SAMBA, "w1")
    os.kill(proc.pid, signal.SIGSTOP)  # a SIGTERM alone would wait in the queue for ever
    assert Supervisor(SAMBA, "w1").stop(Deadline.after(10)) is True
    assert proc.wait(timeout=5) == 0  # its SIGTERM handler ran: a clean end, not SIGKILL


def test_stop_kills_what_does_not_end_before_the_wait_is_over(runtime):
    proc = hold(NFS, "n1", "ignore")
    t0 = time.monotonic()
    assert Supervisor(NFS, "n1").stop(Deadline.after(2)) is True
    took = time.monotonic() - t0
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert 2 - supervisor.KILL_GRACE - 0.1 <= took <= 2 + 0.5, took  # SIGKILL once the grace began


def test_stop_of_nothing_is_nothing(runtime):
    assert Supervisor(SAMBA, "w1").stop(Deadline.after(1)) is False


def test_stop_that_cannot_see_the_end_is_alert_15(runtime, monkeypatch):
    sup = Supervisor(SAMBA, "w1")
    monkeypatch.setattr(sup, "running", lambda: True)  # as a frozen cgroup's process (integration: test_clp)
    t0 = time.monotonic()
    with pytest.raises(NotEnded) as info:
        sup.stop(Deadline.after(1))
    assert info.value.alert == 15 and info.value.exit_code == 4 and time.monotonic() - t0 < 1.5


def test_forget_removes_everything_a_dead_watch_left_and_nothing_else(runtime):
    from fswatch.host import metrics_files

    settings = build(SAMBA, "w1", {"share": "s"})
    SettingsStore.runtime().write(settings, "pw")
    SettingsStore.config().write(settings, "pw")  # fswatch add's: not the supervisor's to remove
    control = Control.of("samba", "w1")
    control.write_state('{"phase": "failed"}\n')
    control.request_pause()
    metrics_files.runtime_file("samba", "w1").write_text("fswatch_watch_state 1\n")
    assert metrics_files.publish("samba", "w1", metrics_files.metrics_dir()) is None
    other = Control.of("samba", "w2")
    other.write_state('{"phase": "failed"}\n')

    Supervisor(SAMBA, "w1").forget()
    assert not (runtime / "run" / "samba" / "w1").exists()
    assert not list((runtime / "textfile").iterdir())  # no link left to dangle
    assert not SettingsStore.runtime().exists("samba", "w1")
    assert SettingsStore.config().exists("samba", "w1") and other.read_state() == {"phase": "failed"}
    Supervisor(SAMBA, "w1").forget()  # nothing left: not an error


def test_forget_refuses_a_running_watch(runtime):
    proc = hold(SAMBA, "w1")
    try:
        with pytest.raises(WatchBusy) as info:
            Supervisor(SAMBA, "w1").forget("-del is only for a dead watch")
        assert info.value.alert == 14 and str(info.value).endswith("-del is only for a dead watch")
    finally:
        proc.kill()
        proc.wait()


class FakeSystemctl(Systemctl):
    def __init__(self, active="inactive"):
        self.calls = []
        self.active = active
        super().__init__(self.run)

    def run(self, argv):
        self.calls.append(argv[1:])
        out = f"ActiveState={self.active}\nLoadState=loaded\n" if argv[1] == "show" else ""
        return subprocess.CompletedProcess(argv, 0, out, "")


def test_under_systemd_a_runtime_watch_is_its_unit_with_a_drop_in(runtime, monkeypatch):
    monkeypatch.setenv("FSWATCH_SUPERVISION", "systemd")
    systemctl = FakeSystemctl()
    sup = Supervisor(SAMBA, "w1", systemctl=systemctl)
    settings = build(SAMBA, "w1", {"share": "s", "user": "u"})
    sup.start_unit(settings, "pw", writer="clp_sambamon/clp_nfsmon", until=supervisor.QUEUED)
    dropin = supervisor.dropin_path("samba", "w1").read_text()
    password = SettingsStore.runtime().password_path("samba", "w1")
    assert f"Environment=FSWATCH_CONFIG_DIR={runtime / 'run'}" in dropin
    assert f"LoadCredential=password:{password}" in dropin and password.read_text() == "pw\n"
    assert systemctl.calls[-3:] == [["daemon-reload"], ["reset-failed", sup.unit],
                                    ["start", "--no-block", sup.unit]]  # fmt: skip
    systemctl.calls.clear()
    sup.forget()
    assert not supervisor.dropin_path("samba", "w1").exists() and not password.exists()
    assert ["daemon-reload"] in systemctl.calls and ["reset-failed", sup.unit] in systemctl.calls
    # Pacemaker's stop forgets without reloading systemd (issue 18: it is on the failover path);
    # the next start writes the drop-in again and reloads.
    sup.start_unit(settings, "pw", until=supervisor.QUEUED)
    systemctl.calls.clear()
    sup.forget(reload=False)
    assert not supervisor.dropin_path("samba", "w1").exists() and ["daemon-reload"] not in systemctl.calls
    assert ["reset-failed", sup.unit] in systemctl.calls


def test_a_forced_systemd_mode_never_makes_the_directory_that_says_systemd_runs(runtime, monkeypatch):
    """/run/systemd/system is how every command tells that systemd is PID 1 (sd_booted): a
    drop-in written where it does not exist must fail, not create it and mislead them all."""
    monkeypatch.setenv("FSWATCH_SUPERVISION", "systemd")
    (runtime / "systemd").rmdir()
    with pytest.raises(SystemFault):
        Supervisor(SAMBA, "w1", systemctl=FakeSystemctl()).start_unit(build(SAMBA, "w1", {"share": "s"}))
    assert not (runtime / "systemd").exists()


def test_without_systemd_there_is_no_unit_to_start(runtime):
    with pytest.raises(SystemFault) as info:
        Supervisor(NFS, "n1").start_unit()
    assert info.value.alert == 42 and "systemd is not running" in str(info.value)
    assert "fswatch run nfs n1" in str(info.value)

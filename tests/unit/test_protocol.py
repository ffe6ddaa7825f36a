"""The control protocol between a running watch and the commands (fswatch.core.protocol): every
release's watch is seen and never doubled, and what a command writes to a running watch is
what that watch's release reads. The releases themselves are exercised in a booted Debian by
tests/integration/test_upgrade.py; here, each release's side is played by the system calls and
files it used (git show 03fd184:fswatch/control.py, 23f6984:fswatch/control.py and inject.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fswatch import __version__
from fswatch.core import protocol
from fswatch.core.errors import NotRunning, NotTaken, WatchBusy
from fswatch.core.protocol import CURRENT, FLOCK, OFD, VERSIONS
from fswatch.host import supervisor
from fswatch.host.control import Control, InstanceLock, held, holder
from fswatch.host.supervisor import Supervisor
from fswatch.kinds import SAMBA, build
from fswatch.watch import inject, status
from fswatch.watch.status import Health, WatchStatus, WatchView

ROOT = Path(__file__).resolve().parents[2]

# A watch of an earlier release, by its lock: 0.1.0 as first released (03fd184) took an flock
# and wrote "PID\n"; as last released (23f6984) an OFD lock and a 16-byte right-aligned PID.
OLD_WATCH = """
import fcntl, os, struct, sys, time
path, lock = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(path), exist_ok=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
if lock == "flock":
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\\n".encode())
else:
    fcntl.fcntl(fd, 37, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0).ljust(32, b"\\0"))  # F_OFD_SETLK
    os.pwrite(fd, f"{os.getpid()}\\n".rjust(16).encode(), 0)
    os.ftruncate(fd, 16)
print("locked", flush=True)
time.sleep(60)
"""

# The state files those releases wrote (trimmed to what matters: the fields they had).
STATE_03FD184 = {"kind": "samba", "id": "w1", "target": "public", "pid": 0, "phase": "healthy",
                 "status": "healthy: 36.8 ms, 0/2 failed probes", "started": 1.0, "updated": 2.0, "failures": 0,
                 "attempts": 2, "probes": 3, "paused_until": None,
                 "schedule": {"interval": 1, "retries": 1, "timeout": 2, "detection_bound": 5},
                 "last_probe": {"ok": True, "started": 1.5, "total_ms": 36.8,
                                "stages": [{"stage": "connect", "ms": 0.2, "ok": True}]}}  # fmt: skip
STATE_23F6984 = {**STATE_03FD184, "slow": False, "slow_stage": None, "history": [], "injection": None,
                 "attribute": None, "degraded": None}  # fmt: skip


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("FSWATCH_SUPERVISION", "inprocess")
    monkeypatch.setattr(supervisor, "DROPIN_DIR", tmp_path / "systemd")
    return tmp_path


@pytest.fixture
def old_watch(runtime):
    """start(lock): a process holding the watch samba w1's lock as an earlier release did."""
    procs = []

    def start(lock: str) -> subprocess.Popen:
        control = Control.of("samba", "w1")
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(OLD_WATCH), str(control.lock_file), lock],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_the_versions_as_released():
    assert CURRENT.number == max(VERSIONS) and CURRENT.locks == (OFD, FLOCK)
    assert protocol.release_tuple(CURRENT.release) <= protocol.release_tuple(__version__)
    assert (VERSIONS[1].locks, VERSIONS[2].locks) == ((FLOCK,), (OFD,))
    assert not VERSIONS[1].reads(protocol.INJECT) and VERSIONS[2].reads(protocol.INJECT)
    assert protocol.DROPINS == ("50-clp.conf", "50-runtime.conf")  # 03fd184's clp_*mon, then everyone's
    assert protocol.release_tuple("0.10.0") > protocol.release_tuple("0.9.1") > protocol.release_tuple("0.9")


@pytest.mark.parametrize("stated, lock, number", [
    (None, FLOCK, 1),  # 0.1.0 as first released: the flock alone, a state file without a version
    (None, OFD, 2),  # 0.1.0 as last released
    (3, OFD, 3),
    (99, OFD, CURRENT.number),  # a later release (after a downgrade) reads what we write
])  # fmt: skip
def test_a_watchs_version_is_what_it_states_else_what_its_lock_tells(stated, lock, number):
    assert protocol.of_watch(stated, lock).number == number


def test_a_request_is_written_as_the_watchs_version_reads_it(runtime):
    control = Control.of("samba", "w1")
    for version, extra in ((VERSIONS[1], set()), (VERSIONS[2], set()), (CURRENT, {"protocol"})):
        control.request_pause(30, version)
        record = json.loads((control.directory / "pause").read_text())
        assert set(record) == {"requested_at", "seconds", "until_boottime"} | extra, version
        assert record["seconds"] == 30 and control.pause_state().until == record["until_boottime"]
    control.request_injection({"nonce": "n", "stage": "connect", "count": 1, "pid": 7, "requested_at": 1.0},
                              VERSIONS[2])  # fmt: skip
    assert set(json.loads((control.directory / "inject").read_text())) == {"nonce", "stage", "count", "pid",
                                                                          "requested_at"}  # fmt: skip


@pytest.mark.parametrize("lock, number", [(FLOCK, 1), (OFD, 2)])
def test_a_watch_of_either_0_1_0_is_seen_and_never_doubled(old_watch, lock, number):
    proc = old_watch(lock)
    control = Control.of("samba", "w1")
    assert (holder(control), held(control).lock) == (proc.pid, lock)
    with pytest.raises(WatchBusy) as busy:
        InstanceLock(control).acquire()
    assert busy.value.alert == 14 and f"(pid {proc.pid})" in str(busy.value)
    assert holder(control) == proc.pid  # the refused start wrote nothing over it
    with pytest.raises(WatchBusy):
        control.forget()
    assert status.look("samba", "w1").protocol.number == number
    proc.kill()
    proc.wait()
    assert holder(control) is None  # the kernel dropped it with the process
    lock_ = InstanceLock(control)
    lock_.acquire()
    lock_.release()


def test_a_watch_of_this_release_is_seen_by_either_0_1_0(runtime):
    """Both locks: 0.1.0 as first released looked with flock(LOCK_SH | LOCK_NB), as last
    released with F_OFD_GETLK; each sees a watch of this release (a downgrade keeps seeing it)."""
    control = Control.of("samba", "w1")
    lock = InstanceLock(control)
    lock.acquire()
    try:
        looker = os.open(control.lock_file, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(looker, fcntl.LOCK_SH | fcntl.LOCK_NB)
            assert os.pread(looker, 32, 0).decode().strip() == str(os.getpid())
        finally:
            os.close(looker)
        assert held(control).lock == OFD and holder(control) == os.getpid()
    finally:
        lock.release()


def test_a_flock_release_watch_takes_no_injection_and_a_pause_it_reads(old_watch):
    proc = old_watch(FLOCK)
    control = Control.of("samba", "w1")
    control.write_state(json.dumps({**STATE_03FD184, "pid": proc.pid}) + "\n")
    with pytest.raises(NotTaken) as refused:
        inject.request(SAMBA, "w1", None, None, control)
    assert refused.value.alert == 146 and refused.value.exit_code == 7
    assert "fswatch 0.1.0 (control protocol 1)" in str(refused.value)
    assert not (control.directory / "inject").exists()
    view = status.running("samba", "w1", "pause")
    assert (view.pid, view.release, view.outdated, view.health) == (proc.pid, "0.1.0", True, Health.HEALTHY)
    control.request_pause(version=view.protocol)
    assert "protocol" not in json.loads((control.directory / "pause").read_text())


def test_a_request_for_no_watch_is_said_not_left(runtime):
    with pytest.raises(NotRunning) as none:
        status.running("samba", "w1", "continue")
    assert (none.value.alert, none.value.exit_code) == (145, 6)
    assert "nothing to continue" in str(none.value)
    with pytest.raises(NotRunning):
        inject.request(SAMBA, "w1", None, None, Control.of("samba", "w1"))
    assert not Control.of("samba", "w1").directory.exists()


def test_old_state_files_still_read_and_say_their_release():
    for raw in (STATE_03FD184, STATE_23F6984):
        old, wrong = WatchStatus.parse(raw)
        assert wrong == "" and (old.version, old.protocol, old.phase) == ("0.1.0", None, "healthy")
    view = WatchView("samba", "w1", 4242, WatchStatus.parse({**STATE_23F6984, "pid": 4242})[0])
    assert (view.protocol.number, view.release, view.outdated) == (2, "0.1.0", True)
    now = WatchView("samba", "w1", 4242, WatchStatus.parse({**STATE_23F6984, "pid": 4242, "version": __version__,
                                                          "protocol": CURRENT.number})[0])  # fmt: skip
    assert (now.protocol, now.release, now.outdated) == (CURRENT, __version__, False)
    starting = WatchView("samba", "w1", 4242, None)  # this release's, before its first state: not said yet
    assert (starting.release, starting.outdated) == ("", False)
    assert WatchView("samba", "w1", 4242, None, lock=FLOCK).release == "0.1.0"
    ended = WatchView("samba", "w1", None, WatchStatus.parse({**STATE_03FD184, "phase": "stopped"})[0])
    assert (ended.release, ended.outdated) == ("0.1.0", False)  # it ran 0.1.0; nothing runs it now


def test_forget_removes_the_drop_in_as_every_release_named_it(runtime, monkeypatch):
    monkeypatch.setenv("FSWATCH_SUPERVISION", "systemd")
    calls = []
    from fswatch.host.systemctl import Systemctl

    def run(argv):
        calls.append(argv[1:])
        return subprocess.CompletedProcess(argv, 0, "ActiveState=inactive\n" if argv[1] == "show" else "", "")

    sup = Supervisor(SAMBA, "w1", systemctl=Systemctl(run))
    old = supervisor.dropin_path("samba", "w1", "50-clp.conf")  # clp_sambamon of 0.1.0 as first released
    old.parent.mkdir(parents=True)
    old.write_text("[Service]\nEnvironment=FSWATCH_CONFIG_DIR=/run/fswatch\n")
    sup.start_unit(build(SAMBA, "w1", {"share": "s"}), None, until=supervisor.QUEUED)
    assert not old.exists() and supervisor.dropin_path("samba", "w1").exists()  # one drop-in, this release's
    assert f"({CURRENT.name})" in supervisor.dropin_path("samba", "w1").read_text()
    old.write_text("[Service]\n")
    sup.forget()
    assert not old.parent.exists() and ["daemon-reload"] in calls


def test_a_watch_of_this_release_says_its_release_in_the_state_file_and_the_journal(runtime):
    from fswatch.core.settings import Schedule
    from fswatch.host.notify import Notifier
    from fswatch.host.sinks import JournalSink
    from fswatch.watch.reporter import Reporter

    sent = []
    control = Control.of("samba", "w1")
    reporter = Reporter(SAMBA, "w1", "public", Schedule(1, 1, 1), JournalSink(lambda **f: sent.append(f)),
                        Notifier(None), control)  # fmt: skip
    reporter.started()
    assert sent[0]["FSWATCH_VERSION"] == __version__ and sent[0]["FSWATCH_EVENT"] == "1"
    written, wrong = WatchStatus.parse(control.read_state())
    assert (written.version, written.protocol, wrong) == (__version__, CURRENT.number, "")

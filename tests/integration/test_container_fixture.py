"""Self-test of tests/fixtures/container.py: a real systemd does what fswatch relies on.

Inside a booted container: the system is running; a templated Type=notify unit with
WatchdogSec= blocks ``systemctl start`` until READY=1, shows its STATUS=, and ends with
Result=watchdog once it stops pinging; custom journal fields and a catalog entry reach
``journalctl``; smbprotocol imports in the system python3; a host loopback server is
reachable. On the host: ``systemd-analyze verify`` and ``security --offline``. And teardown
leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures.container import (
    PROPAGATE_DIR,
    BootedContainer,
    analyze_security,
    analyze_verify,
    mounts_under,
    reap_orphaned_containers,
)

pytestmark = pytest.mark.integration

DEMO_MESSAGE_ID = "3c2b9a4f6d1e4b7a8f0c5e2d9b7a6c41"  # ready message, explained by the catalog
READY_DELAY = 1.0  # seconds the demo sleeps before READY=1; `systemctl start` must wait
PING_PERIOD = 0.5  # seconds between WATCHDOG=1 pings
PINGS = 8  # 4 s of pinging: twice WatchdogSec, so pings demonstrably keep the unit alive
WATCHDOG_SEC = 2
POLL = 0.1  # seconds between checks in bounded waits

DEMO_SCRIPT = f'''\
"""Type=notify demo: STATUS, READY after a delay, {PINGS + 1} watchdog pings, then silence."""
import sys
import time

from systemd import daemon, journal

instance = sys.argv[1]
daemon.notify(f"STATUS=starting {{instance}}")
time.sleep({READY_DELAY})
journal.send(MESSAGE=f"demo {{instance}} ready", MESSAGE_ID="{DEMO_MESSAGE_ID}",
             PRIORITY=5, FOO_BAR=f"bar-{{instance}}")
daemon.notify(f"READY=1\\nSTATUS=pinging {{instance}}")
for _ in range({PINGS}):
    daemon.notify("WATCHDOG=1")
    time.sleep({PING_PERIOD})
daemon.notify("WATCHDOG=1")
journal.send(MESSAGE=f"demo {{instance}} last ping", DEMO_EVENT="last-ping")
daemon.notify(f"STATUS=stopped pinging {{instance}}")
time.sleep(3600)
'''

DEMO_UNIT = f"""\
[Unit]
Description=fswatch container self-test demo %i

[Service]
Type=notify
ExecStart=/usr/bin/python3 /opt/demo/notify_demo.py %i
WatchdogSec={WATCHDOG_SEC}
Restart=no
"""

# What fswatch's units will look like: the same service, hardened.
HARDENING = """\
DynamicUser=yes
CapabilityBoundingSet=
NoNewPrivileges=yes
PrivateDevices=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
UMask=0077
"""
HARDENED_UNIT = DEMO_UNIT + HARDENING

CATALOG = f"""\
-- {DEMO_MESSAGE_ID}
Subject: fswatch demo @FOO_BAR@ is ready
Defined-By: fswatch container self-test

The demo service @FOO_BAR@ sent READY=1. This explanation comes from the catalog.
"""


def install_demo(container: BootedContainer, unit_name: str = "demo@.service", unit: str = DEMO_UNIT) -> None:
    container.write_text("/opt/demo/notify_demo.py", DEMO_SCRIPT)
    container.write_text(f"/etc/systemd/system/{unit_name}", unit)
    container.systemctl("daemon-reload")


def running(pid: int) -> bool:
    """True while ``pid`` lives; a zombie waiting for a slow reaper (our PID 1) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_for(what: str, check, timeout: float):
    """Poll ``check()`` until it returns something truthy; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL)


def test_system_is_running(booted_container):
    assert booted_container.systemctl("is-system-running").stdout.strip() == "running"
    assert booted_container.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    assert booted_container.run(["hostname"]).stdout.strip() == booted_container.name
    assert booted_container.boot_seconds < 5


def test_notify_status_and_watchdog(booted_container):
    c = booted_container
    install_demo(c)

    started = time.monotonic()
    c.systemctl("start", "demo@x.service")
    took = time.monotonic() - started
    assert took >= READY_DELAY, f"systemctl start returned after {took:.2f} s, before READY=1"

    state = c.show("demo@x.service", "ActiveState", "SubState", "StatusText", "WatchdogUSec")
    assert state == {
        "ActiveState": "active", "SubState": "running", "StatusText": "pinging x", "WatchdogUSec": "2s",
    }
    # Past WatchdogSec, still alive: the pings count.
    time.sleep(WATCHDOG_SEC + PING_PERIOD)
    assert c.show("demo@x.service", "ActiveState")["ActiveState"] == "active"

    bound = READY_DELAY + PINGS * PING_PERIOD + WATCHDOG_SEC + 5
    # Result= turns "watchdog" at the timeout, while the unit is still deactivating (SIGABRT).
    final = wait_for(
        "ActiveState=failed",
        lambda: (s := c.show("demo@x.service", "Result", "ActiveState", "StatusText"))["ActiveState"]
        == "failed" and s,
        bound,
    )
    assert final == {"ActiveState": "failed", "Result": "watchdog", "StatusText": "stopped pinging x"}

    # systemd kills it WatchdogSec after the last ping (measured on the journal's clock).
    entries = c.journal("demo@x.service")
    last_ping = next(e for e in entries if e.get("DEMO_EVENT") == "last-ping")
    timeout_entry = next(e for e in entries if "Watchdog timeout" in e.get("MESSAGE", ""))
    gap = (int(timeout_entry["__REALTIME_TIMESTAMP"]) - int(last_ping["__REALTIME_TIMESTAMP"])) / 1e6
    assert WATCHDOG_SEC - 0.05 <= gap <= WATCHDOG_SEC + 0.5, gap


def test_journal_custom_fields(booted_container):
    c = booted_container
    install_demo(c)
    c.systemctl("start", "demo@j.service")

    def ready_entries():
        return [e for e in c.journal("demo@j.service") if e.get("MESSAGE_ID") == DEMO_MESSAGE_ID]

    (entry,) = wait_for("the demo's journal entry", ready_entries, 10)
    assert entry["MESSAGE"] == "demo j ready"
    assert entry["FOO_BAR"] == "bar-j"
    assert entry["PRIORITY"] == "5"
    assert entry["_SYSTEMD_UNIT"] == "demo@j.service"
    c.systemctl("stop", "demo@j.service")


def test_catalog_explains_message(booted_container):
    c = booted_container
    c.write_text("/usr/lib/systemd/catalog/fswatch-demo.catalog", CATALOG)
    c.run(["journalctl", "--update-catalog"])
    send = (
        "from systemd import journal; "
        f"journal.send(MESSAGE='demo cat ready', MESSAGE_ID='{DEMO_MESSAGE_ID}', FOO_BAR='bar-cat')"
    )
    c.run(["python3", "-c", send])

    def explained():
        out = c.run(["journalctl", "-x", "--no-pager", f"MESSAGE_ID={DEMO_MESSAGE_ID}"]).stdout
        return out if "demo cat ready" in out else ""

    out = wait_for("the catalog-explained entry", explained, 10)
    assert "Subject: fswatch demo bar-cat is ready" in out
    assert "The demo service bar-cat sent READY=1. This explanation comes from the catalog." in out


def test_smbprotocol_imports_in_system_python(booted_container):
    code = (
        "import sys, smbprotocol, smbprotocol.connection, spnego, systemd.daemon\n"
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
        "key = AESGCM.generate_key(128)\n"
        "assert AESGCM(key).decrypt(b'0' * 12, AESGCM(key).encrypt(b'0' * 12, b'ok', None), None) == b'ok'\n"
        "print(sys.executable, sys.version_info[:2], smbprotocol.__file__, systemd.daemon.__file__)\n"
    )
    out = booted_container.run(["python3", "-c", code]).stdout.split()
    assert out[0] == "/usr/bin/python3"
    assert out[3].startswith("/opt/fswatch-test/site-packages/smbprotocol/")
    assert out[4].startswith("/usr/lib/python3/dist-packages/systemd/")  # Debian's python3-systemd


@pytest.fixture
def host_loopback_server():
    """A TCP server on the host's 127.0.0.1 that greets each client; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"hello from the host\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


CONNECT = (
    "import socket, sys\n"
    "with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5) as s:\n"
    "    print(s.recv(100).decode().strip())\n"
)


def test_host_loopback_reachable(booted_container, host_loopback_server):
    out = booted_container.run(["python3", "-c", CONNECT, str(host_loopback_server)]).stdout
    assert out.strip() == "hello from the host"


def test_private_network_cannot_reach_host(container_base_root, host_loopback_server):
    with BootedContainer(container_base_root, private_network=True) as c:
        proc = c.run(["python3", "-c", CONNECT, str(host_loopback_server)], check=False)
    assert proc.returncode != 0
    assert "ConnectionRefusedError" in proc.stderr


def test_bind_ro_and_python_path(container_base_root, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "fswatch_probe_demo.py").write_text("VALUE = 'from the host'\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "hello.txt").write_text("hi\n")
    with BootedContainer(
        container_base_root, bind_ro=[(tmp_path / "data", "/srv/data")], python_path=[tmp_path / "pkg"]
    ) as c:
        out = c.run(["python3", "-c", "import fswatch_probe_demo as m; print(m.VALUE)"]).stdout
        assert out.strip() == "from the host"
        assert c.run(["cat", "/srv/data/hello.txt"]).stdout == "hi\n"
        denied = c.run(["touch", "/srv/data/new"], check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr
        with pytest.raises(ValueError):
            c.path("/srv/data/hello.txt")  # a bind mount: not in the overlay
        with pytest.raises(ValueError):
            c.path("/tmp/x")  # nspawn's tmpfs
        copied = c.copy_in(tmp_path / "data" / "hello.txt", "/var/tmp/copied.txt")
        assert copied == c.root / "var/tmp/copied.txt"
        assert c.run(["cat", "/var/tmp/copied.txt"]).stdout == "hi\n"


def test_hardened_unit_runs(booted_container):
    c = booted_container
    install_demo(c, "demo-hardened@.service", HARDENED_UNIT)
    c.systemctl("start", "demo-hardened@h.service")
    state = c.show("demo-hardened@h.service", "ActiveState", "StatusText")
    assert state == {"ActiveState": "active", "StatusText": "pinging h"}
    user = c.run(["ps", "-o", "user=", "-C", "python3"]).stdout.split()
    assert user and "root" not in user  # DynamicUser
    c.systemctl("stop", "demo-hardened@h.service")


def test_analyze_verify(tmp_path):
    good = tmp_path / "demo@.service"
    good.write_text(DEMO_UNIT)
    hardened = tmp_path / "demo-hardened@.service"
    hardened.write_text(HARDENED_UNIT)
    assert analyze_verify([good, hardened]) == ""

    bad = tmp_path / "bad@.service"
    bad.write_text(DEMO_UNIT.replace("WatchdogSec", "WatchdogSek").replace("/usr/bin/python3", "/no/python3"))
    out = analyze_verify([bad])
    assert "Unknown key 'WatchdogSek'" in out
    assert "/no/python3 is not executable" in out


def test_analyze_security(booted_container):
    c = booted_container
    c.write_text("/etc/systemd/system/demo@.service", DEMO_UNIT)
    c.write_text("/etc/systemd/system/demo-hardened@.service", HARDENED_UNIT)
    plain = analyze_security(c.root, "demo@x.service")
    hardened = analyze_security(c.root, "demo-hardened@x.service")
    assert plain > 9.0
    assert hardened < 3.0, hardened


def test_teardown_leaves_nothing_behind(container_base_root):
    c = BootedContainer(container_base_root)
    with c:
        nspawn_pid, leader_pid, workdir = c.nspawn_pid, c.leader_pid, c.workdir
        inside = c.run(["pgrep", "-c", "."]).stdout.strip()
        assert int(inside) > 3  # systemd, journald, dbus, logind, ...
        assert mounts_under(workdir) == [str(c.root)]
        assert all(cg.is_dir() for cg in c.cgroups)
    assert c.exit_status == 0, c.nspawn_output()  # a clean poweroff, not a kill
    assert "Halting system." in c.nspawn_output()
    assert not running(nspawn_pid) and not running(leader_pid)
    assert mounts_under(workdir) == []
    assert not workdir.exists()
    assert not any(cg.exists() for cg in c.cgroups)
    assert not (PROPAGATE_DIR / c.name).exists()
    assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if c.name in line]
    assert c.teardown_seconds < 5


ORPHAN_MAKER = """\
import json, sys, time
from pathlib import Path
from tests.fixtures.container import BootedContainer
c = BootedContainer(Path(sys.argv[1]))
c.start()
print(json.dumps({"name": c.name, "workdir": str(c.workdir), "nspawn": c.nspawn_pid,
                  "leader": c.leader_pid, "cgroups": [str(g) for g in c.cgroups]}), flush=True)
time.sleep(60)
"""


def test_run_timeout_kills_command_and_poweroff_stays_clean(container_base_root):
    """Regression: killing nsenter with its command left a zombie that stalled poweroff 90 s."""
    c = BootedContainer(container_base_root)
    with c:
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            c.run(["sh", "-c", "sleep 30 & sleep 30"], timeout=1)
        assert time.monotonic() - started < 3
        wait_for("no sleep left", lambda: c.run(["pgrep", "sleep"], check=False).returncode == 1, 5)
    assert c.exit_status == 0, c.nspawn_output()
    assert c.teardown_seconds < 5


def test_reap_container_of_killed_test_process(container_base_root):
    """A test process killed mid-test (CI timeout) leaves a running container; the reaper removes it."""
    repo = Path(__file__).resolve().parents[2]
    maker = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER, str(container_base_root)],
        stdout=subprocess.PIPE, text=True, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        line = maker.stdout.readline()  # bounded: the child's boot times out after BOOT_TIMEOUT
    finally:
        maker.kill()
        maker.wait(10)
        maker.stdout.close()
    info = json.loads(line)
    assert running(info["nspawn"]), "the container must outlive its owner"

    assert info["name"] in reap_orphaned_containers()

    assert not running(info["nspawn"]) and not running(info["leader"])
    assert mounts_under(Path(info["workdir"])) == [] and not os.path.exists(info["workdir"])
    assert not any(os.path.exists(g) for g in info["cgroups"])
    assert not (PROPAGATE_DIR / info["name"]).exists()


def test_reaper_spares_live_containers(booted_container):
    assert booted_container.name not in reap_orphaned_containers()
    assert booted_container.systemctl("is-system-running").stdout.strip() == "running"

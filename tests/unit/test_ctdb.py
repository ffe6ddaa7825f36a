"""CTDB (issue 20): the `ctdb` watch setting, CTDB's public addresses, and the event script's
answers (fswatch.surfaces.ctdb) from the status model. The real thing is tests/cluster/test_ctdb.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fswatch.core.errors import UsageError
from fswatch.core.settings import parse_conf
from fswatch.host import ctdb as host_ctdb
from fswatch.host.store import SettingsStore
from fswatch.kinds import NFS, SAMBA, build
from fswatch.kinds.settings import CTDB_ADDRESS
from fswatch.surfaces import ctdb
from fswatch.watch.status import WatchStatus, WatchView

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "ctdb" / "45.fswatch.script"


# -- the setting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, target", [(SAMBA, {"share": "data"}), (NFS, {"export": "/srv/x"})])
def test_a_watch_for_ctdb_probes_its_own_node_and_keeps_probing(kind, target):
    settings = build(kind, "w1", {**target, "ctdb": True})
    assert settings.ctdb and settings.keeps_probing
    assert settings.target["address"] == CTDB_ADDRESS == "127.0.0.1"
    # written as `ctdb = yes` and read back the same
    values = parse_conf(settings.to_conf(), "w1.conf")
    assert values["ctdb"] == "yes" and values["address"] == "127.0.0.1"
    assert build(kind, "w1", {k: v for k, v in values.items() if k not in ("kind", "id")}) == settings
    # an address of the node's own, given, is kept
    assert build(kind, "w1", {**target, "ctdb": "yes", "address": "10.0.0.11"}).target["address"] == "10.0.0.11"


def test_without_ctdb_nothing_changes():
    plain = build(NFS, "w1", {"export": "/srv/x"})
    assert not plain.ctdb and not plain.keeps_probing and plain.target["address"] is None
    assert "ctdb" not in plain.to_conf()
    assert build(SAMBA, "w1", {"share": "s", "ctdb": "no"}).ctdb is False
    assert build(SAMBA, "w1", {"share": "s", "attribute": "a"}).keeps_probing


def test_a_ctdb_value_that_is_not_yes_or_no_is_refused():
    with pytest.raises(UsageError, match="ctdb must be yes or no, not 'maybe'"):
        build(SAMBA, "w1", {"share": "s", "ctdb": "maybe"})


# -- CTDB's public addresses ---------------------------------------------------------------------


def test_public_addresses_are_read_from_ctdbs_file(tmp_path):
    text = (
        "# CTDB's public addresses\n"
        "10.0.0.100/24 eth1\n"
        "10.0.0.101/24 eth1,eth2   # two interfaces\n"
        "\n"
        "fd00::100/64 eth1\n"
        "not-an-address eth1\n"
        "   10.0.0.102/24\n"
    )
    assert host_ctdb.parse_public_addresses(text) == {"10.0.0.100", "10.0.0.101", "fd00::100", "10.0.0.102"}
    (tmp_path / "public_addresses").write_text(text)
    assert host_ctdb.public_addresses({"CTDB_BASE": str(tmp_path)}) == {"10.0.0.100", "10.0.0.101", "fd00::100",
                                                                        "10.0.0.102"}
    assert host_ctdb.public_addresses({"CTDB_BASE": str(tmp_path / "none")}) == frozenset()  # no CTDB here
    assert host_ctdb.base({}) == Path("/etc/ctdb")


def test_a_watch_for_ctdb_never_probes_a_public_address():
    settings = build(SAMBA, "w1", {"share": "s", "ctdb": True, "address": "10.0.0.100"})
    with pytest.raises(UsageError, match="probes 10.0.0.100, one of CTDB's public addresses"):
        ctdb.admit(settings, {"10.0.0.100"})
    ctdb.admit(settings, {"10.0.0.101"})
    ctdb.admit(build(SAMBA, "w1", {"share": "s", "ctdb": True}), {"10.0.0.100"})


def test_fswatch_add_ctdb_refuses_a_public_address(tmp_path, monkeypatch, capsys):
    from fswatch.surfaces.cli import main

    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("CTDB_BASE", str(tmp_path / "ctdb"))
    (tmp_path / "ctdb").mkdir()
    (tmp_path / "ctdb" / "public_addresses").write_text("10.0.0.100/24 eth0\n")
    assert main(["add", "samba", "w1", "--share", "data", "--ctdb", "--address", "10.0.0.100"]) == 2
    err = capsys.readouterr().err
    assert "alert 11" in err and "one of CTDB's public addresses" in err
    assert not (tmp_path / "etc" / "samba" / "w1.conf").exists()
    assert main(["add", "samba", "w1", "--share", "data", "--ctdb"]) == 0
    assert "ctdb event script enable legacy 45.fswatch" in capsys.readouterr().out
    assert "ctdb = yes\n" in (tmp_path / "etc" / "samba" / "w1.conf").read_text()


# -- the monitor event's answer ------------------------------------------------------------------

FAILURE = {"alert": 74, "stage": "tree_connect", "reason": "no answer within the deadline during tree connect",
           "detail": "110"}


def view(pid, phase=None, watch_id="w1", **extra):
    state = None
    if phase is not None:
        raw = {"kind": "samba", "id": watch_id, "target": "data", "pid": 4242 if pid is None else pid,
               "phase": phase, "status": f"{phase}: ...", "failures": 2, "attempts": 2,
               "schedule": {"interval": 1, "retries": 1, "timeout": 2}, **extra}  # fmt: skip
        state = WatchStatus.parse(raw)[0]
    return WatchView("samba", watch_id, pid, state)


def test_monitor_fails_only_for_a_declared_failure_naming_watch_stage_alert_and_cause():
    last = {"started": 1.0, "total_ms": 2000.0, "stages": [], "failure": FAILURE}
    answer = ctdb.judge([view(4242, "healthy", "ok"), view(4242, "failed", "bad", last_probe=last)])
    assert answer.code == 1
    assert answer.failed == (
        "fswatch: samba bad: declared failed after 2/2 failed probes: stage tree_connect, alert 74: The "
        "clp_sambamon has detected network error(select error[110]). (cause: no answer within the deadline "
        "during tree connect)",
    )
    assert answer.notes == () and answer.start == ()


@pytest.mark.parametrize("phase, extra", [
    ("starting", {}), ("healthy", {}), ("healthy", {"slow": True}), ("failing", {}), ("paused", {}),
    ("degraded", {"degraded": {"cause": "grace period", "reason": "x"}}), ("stopped", {}),
])  # fmt: skip
def test_monitor_passes_while_a_live_watch_has_not_declared(phase, extra):
    answer = ctdb.judge([view(4242, phase, **extra)])
    assert (answer.code, answer.failed, answer.notes, answer.start) == (0, (), (), ())


def test_a_watch_that_is_not_running_is_started_and_fails_nothing():
    answer = ctdb.judge([view(None), view(None, "stopped", "w2"), view(None, "healthy", "w3")])
    assert answer.code == 0 and answer.failed == ()
    assert answer.start == (("samba", "w1"), ("samba", "w2"), ("samba", "w3"))
    assert answer.notes[0] == "fswatch: samba w1: not running (inactive); starting it"
    assert answer.notes[1] == "fswatch: samba w2: not running (stopped); starting it"
    assert answer.notes[2].startswith("fswatch: samba w3: the watch ended without a verdict")
    assert answer.notes[2].endswith("; starting it again")
    # one that ended after declaring (not a watch for CTDB when it ran) fails, and is started again
    ended = ctdb.judge([view(None, "failed")])
    assert ended.code == 1 and ended.start == (("samba", "w1"),) and ended.notes == ()


# -- the events, on files ------------------------------------------------------------------------


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A config dir with a watch for CTDB (w1) and a plain watch (w2); starts and stops
    recorded instead of done."""
    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("CTDB_BASE", str(tmp_path / "ctdb"))
    store = SettingsStore(tmp_path / "etc")
    store.write(build(SAMBA, "w1", {"share": "data", "ctdb": True}))
    store.write(build(SAMBA, "w2", {"share": "data"}))
    calls = []
    monkeypatch.setattr(ctdb, "_start", lambda settings, password, deadline: calls.append(("start", settings.watch_id)))

    class Recorder:
        def __init__(self, kind, watch_id, deadline=None):
            self.watch_id = watch_id

        def stop(self, deadline):
            calls.append(("stop", self.watch_id))
            return True

    monkeypatch.setattr(ctdb, "Supervisor", Recorder)
    return tmp_path, calls


def test_the_events_act_on_the_watches_for_ctdb_only(node):
    tmp_path, calls = node
    lines = []
    assert ctdb.monitor(lines.append) == 0
    assert calls == [("start", "w1")] and lines == ["fswatch: samba w1: not running (inactive); starting it"]
    calls.clear()
    lines.clear()
    # startup runs before 50.samba and 60.nfs start the servers: it checks, it starts nothing
    assert ctdb.startup(lines.append) == 0 and calls == [] and lines == []
    assert ctdb.shutdown(lines.append) == 0 and calls == [("stop", "w1")] and lines == []


def test_startup_refuses_a_watch_of_a_public_address_and_a_settings_file_it_cannot_read(node):
    tmp_path, calls = node
    (tmp_path / "ctdb").mkdir()
    (tmp_path / "ctdb" / "public_addresses").write_text("127.0.0.1/8 lo\n")
    lines = []
    assert ctdb.startup(lines.append) == 1 and calls == []
    assert "one of CTDB's public addresses" in lines[0]
    (tmp_path / "ctdb" / "public_addresses").unlink()
    (tmp_path / "etc" / "samba" / "w3.conf").write_text("[watch]\nkind = samba\nid = w3\nctdb = perhaps\n")
    lines.clear()
    assert ctdb.startup(lines.append) == 1 and calls == []
    assert lines == ["fswatch: samba w3: alert 11: ctdb must be yes or no, not 'perhaps'"]
    # monitor says so too, but a settings file is not a verdict on the server: it passes
    lines.clear()
    assert ctdb.monitor(lines.append) == 0
    assert lines[-1] == "fswatch: samba w3: alert 11: ctdb must be yes or no, not 'perhaps'"


def test_the_event_script_hands_startup_shutdown_and_monitor_to_fswatch_and_ignores_the_rest():
    text = SCRIPT.read_text()
    assert text.startswith("#!/bin/sh\n") and 'exec /usr/bin/fswatch ctdb "$1"' in text
    assert SCRIPT.stat().st_mode & 0o111  # CTDB runs executable scripts only
    for event in ("init", "setup", "takeip", "releaseip", "ipreallocated", "startrecovery", "recovered"):
        proc = subprocess.run(["sh", str(SCRIPT), event, "eth0", "10.0.0.100", "24"], capture_output=True, text=True)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), event


def test_monitor_says_why_it_cannot_start_a_watch_and_still_passes(node, monkeypatch):
    from fswatch.host.systemctl import UnitFailed

    tmp_path, calls = node

    def refused(settings, password, deadline):
        raise UnitFailed("fswatch-samba@w1.service", "start", "Unit fswatch-samba@.service not found.")

    monkeypatch.setattr(ctdb, "_start", refused)
    lines = []
    assert ctdb.monitor(lines.append) == 0  # no verdict on the server: the node stays in service
    assert lines[-1].startswith("fswatch: samba w1: cannot start: systemctl start fswatch-samba@w1.service failed")
    (tmp_path / "ctdb").mkdir()
    (tmp_path / "ctdb" / "public_addresses").write_text("127.0.0.1/8 lo\n")
    lines.clear()
    assert ctdb.monitor(lines.append) == 0
    assert "cannot start: alert 11:" in lines[-1] and "one of CTDB's public addresses" in lines[-1]

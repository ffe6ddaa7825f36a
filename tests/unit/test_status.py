"""fswatch.watch.status: the state file's one schema and the one health verdict every surface maps."""

from __future__ import annotations

import json

import pytest

from fswatch.host.control import Control, InstanceLock
from fswatch.watch.status import Health, WatchStatus, WatchView, look


def state(phase, **extra):
    out = {"kind": "samba", "id": "w1", "target": "public", "pid": 4242, "phase": phase, "status": f"{phase}: ...",
           "failures": 0, "attempts": 2, "schedule": {"interval": 1, "retries": 1, "timeout": 2}}  # fmt: skip
    out.update(extra)
    return WatchStatus.parse(out)[0]


FAILURE = {"alert": 62, "stage": "tree_connect", "reason": "STATUS_BAD_NETWORK_NAME", "detail": "0xc00000cc"}


@pytest.mark.parametrize("pid, st, paused, health", [
    (None, None, False, Health.INACTIVE),
    (None, state("stopped"), False, Health.STOPPED),
    (None, state("failed"), False, Health.FAILED),
    (None, state("healthy"), False, Health.DEAD),  # killed: no verdict
    (None, state("paused"), False, Health.DEAD),
    (4242, None, False, Health.STARTING),  # lock taken, first state not written yet
    (-1, None, False, Health.STARTING),
    (4242, state("starting"), False, Health.STARTING),
    (4242, state("resuming"), False, Health.STARTING),
    (4242, state("healthy"), False, Health.HEALTHY),
    (4242, state("healthy", slow=True), False, Health.SLOW),
    (4242, state("degraded", degraded={"cause": "grace period", "reason": "x"}), False, Health.DEGRADED),
    (4242, state("failing", failures=1), False, Health.FAILING),
    (4242, state("failed"), False, Health.FAILED),  # still exiting, or health attribute mode
    (4242, state("paused"), False, Health.PAUSED),
    (4242, state("healthy"), True, Health.PAUSED),  # asked to pause, not yet seen by the watch
    (4242, state("stopped"), False, Health.STOPPING),
    (None, state("stopped"), True, Health.STOPPED),
])  # fmt: skip
def test_every_state_has_one_health(pid, st, paused, health):
    assert WatchView("samba", "w1", pid, st, paused).health is health


def test_a_state_left_by_an_earlier_watch_answers_nothing_for_a_live_one():
    old = state("failed", last_probe={"started": 1.0, "total_ms": 1.0, "stages": [], "failure": FAILURE})
    view = WatchView("samba", "w1", 5151, old)  # a new watch (pid 5151) holds the lock
    assert view.current is None and view.health is Health.STARTING
    assert WatchView("samba", "w1", 4242, old).health is Health.FAILED  # its own


def test_reasons_say_why_on_one_line():
    last = {"started": 1.0, "total_ms": 1.0, "stages": [], "failure": FAILURE}
    failed = WatchView("samba", "w1", None, state("failed", failures=2, last_probe=last))
    assert failed.reason == (
        "declared failed after 2/2 failed probes: stage tree_connect, alert 62: The clp_sambamon has detected an "
        "error in Samba [public] (tree connect error[0xc00000cc]). (cause: STATUS_BAD_NETWORK_NAME)"
    )
    dead = WatchView("samba", "w1", None, state("healthy"))
    assert dead.reason.startswith("the watch ended without a verdict (last phase 'healthy', pid 4242)")
    slow = state("healthy", slow=True, slow_stage={"stage": "session", "ms": 900.0, "budget_ms": 500.0,
                                                  "total_ms": 950.0})  # fmt: skip
    expected = "slow: session 900 ms of 500 ms budget (probe 950 ms, alert 92)"
    assert WatchView("samba", "w1", 4242, slow).reason == expected
    failing = WatchView("samba", "w1", 4242, state("failing", status="failing: 1/2 failed probes;\n connect: x"))
    assert failing.reason == "failing: 1/2 failed probes; connect: x"
    assert all("\n" not in v.reason for v in (failed, dead, failing))


def test_an_old_state_file_still_reads_and_a_wrong_field_is_named_not_fatal():
    # A release that wrote fewer fields (no history, no slow_stage, no degraded): the rest defaults.
    old, wrong = WatchStatus.parse({"kind": "nfs", "id": "n1", "pid": 7, "phase": "healthy", "failures": 0})
    assert wrong == "" and old.phase == "healthy" and old.history == [] and old.degraded is None
    bad, wrong = WatchStatus.parse({"phase": "exploded", "failures": -1, "updated": float("inf"), "pid": True})
    assert wrong == "unexpected values for failures, pid, updated, phase" and bad == WatchStatus()
    assert WatchStatus.parse([1, 2]) == (WatchStatus(), "not a JSON object")


def test_what_the_reporter_writes_reads_back_the_same():
    history = [{"started": 1.0, "total_ms": 2.0, "stages": [], "result": "healthy"}]
    written = state("healthy", history=history)
    again, wrong = WatchStatus.parse(json.loads(written.to_json()))
    assert (again, wrong) == (written, "")
    # The reporter hands the history over as JSON already (fswatch.watch.history): the same file.
    assert json.loads(written.to_json(json.dumps(history))) == json.loads(written.to_json())


@pytest.mark.parametrize("phase, age, silent", [
    ("healthy", 8.0, None),  # interval 1 + timeout 2 + 5 s of slack
    ("healthy", 18.0, 18.0),
    ("failing", 18.0, 18.0),
    ("paused", 900.0, None),  # a paused watch writes nothing, by design
    ("stopped", 900.0, None),
])  # fmt: skip
def test_a_live_watch_that_stopped_writing_is_silent(phase, age, silent):
    assert WatchView("samba", "w1", 4242, state(phase, updated=1000.0)).silent_for(1000.0 + age) == silent
    assert WatchView("samba", "w1", None, state(phase, updated=1000.0)).silent_for(1000.0 + age) is None


def test_look_reads_the_lock_the_state_and_the_pause(tmp_path, monkeypatch):
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path))
    assert look("samba", "w1") == WatchView("samba", "w1", None, None)
    control = Control.of("samba", "w1")
    lock = InstanceLock(control)
    lock.acquire()
    try:
        import os

        control.write_state(state("healthy", pid=os.getpid()).to_json())
        control.request_pause()
        view = look("samba", "w1")
        assert view.pid == os.getpid() and view.paused and view.health is Health.PAUSED and view.error == ""
    finally:
        lock.release()
    control.write_state('{"phase": 7}\n')
    view = look("samba", "w1")
    assert view.state is None and view.health is Health.INACTIVE and "unexpected values for phase" in view.error


def test_the_settings_file_compared_with_what_the_watch_runs(tmp_path, monkeypatch):
    """settings_drift: the same, changed, a key left out (back to its default), unreadable
    or gone; nothing to compare for a watch from a command line or an old state file."""
    from fswatch.host.store import CONFIG, RUNTIME, SettingsStore
    from fswatch.kinds import NFS, build
    from fswatch.watch.status import settings_drift, settings_record

    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    running = build(NFS, "n1", {"export": "/x", "address": "127.0.0.1", "interval": "2"})
    conf = SettingsStore.config().write(running)
    record = settings_record(running, CONFIG)
    same = settings_drift("nfs", "n1", record)
    assert not same.differs and same.text() == f"{conf} says the same"
    conf.write_text(conf.read_text().replace("interval = 2", "interval = 3").replace("address = 127.0.0.1\n", ""))
    changed = settings_drift("nfs", "n1", record)
    assert changed.changes == (("address", "127.0.0.1", None), ("interval", "2", "3"))
    assert changed.text() == f"{conf} now says address (not set) (runs 127.0.0.1), interval 3 (runs 2)"
    conf.write_text("[watch]\nexport = /x\ninterval = 0\n")
    assert "interval" in settings_drift("nfs", "n1", record).error  # a restart would be refused
    conf.unlink()
    assert "does not exist" in settings_drift("nfs", "n1", record).error
    assert settings_drift("nfs", "n1", {**record, "source": RUNTIME}).file == str(tmp_path / "run/nfs/n1.conf")
    assert settings_drift("nfs", "n1", settings_record(running, None)) is None  # clp_*mon in-process
    assert settings_drift("nfs", "n1", None) is None  # a state file from before issue 26
    parsed, wrong = WatchStatus.parse({"phase": "healthy", "settings": {"source": "config", "values": {"a": 1}}})
    assert parsed.settings is None and wrong == "unexpected values for settings"

"""Refused input: one line naming the alert, exit 2, nothing written."""

from __future__ import annotations

import pytest

from fswatch.surfaces.cli import main


def written(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "argv, alert",
    [
        (["add", "samba", "../x", "--share", "s"], 11),
        (["add", "samba", "", "--share", "s"], 13),
        (["add", "samba", "x" * 201, "--share", "s"], 11),
        (["add", "samba", "wé", "--share", "s"], 11),
        (["add", "samba", "w", "--share", "s", "--interval", "0"], 11),
        (["add", "samba", "w", "--share", "s", "--retries", "10001"], 11),
        (["add", "samba", "w", "--share", "s", "--timeout", "abc"], 11),
        (["add", "samba", "w", "--share", "s", "--port", "0"], 11),
        (["add", "samba", "w", "--share", "s", "--password-file", "/nonexistent"], 11),
        (["add", "samba", "w"], 12),
        (["add", "nfs", "w"], 12),
        (["add", "nfs", "w", "--export", "/x", "--nfs-version", "2"], 11),
        (["add", "samba", "w", "--share", "s", "--bogus"], 11),
        (["add", "samba", "w", "--share", "s", "--require-signing"], 11),  # a guest session cannot sign
        (["add", "samba", "w", "--share", "s", "--min-dialect", "4.0"], 11),
        (["probe", "samba", "--share", "s", "--timeout", "0"], 11),
        (["pause", "samba", "w", "--for", "forever"], 11),
        (["pause", "nfs", "w", "--for", "0s"], 11),
        (["run", "samba", "nosuch"], 11),
        (["frobnicate"], 11),
    ],
)
def test_refused_input(dirs, capsys, argv, alert):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"alert {alert}:" in err
    assert written(dirs) == []


def test_nfs_texts_for_nfs_errors(dirs, capsys):
    main(["add", "nfs", "w", "--export", "/x", "--interval", "0"])
    assert "Invalid parameter in the clp_nfsmon." in capsys.readouterr().err


def test_add_then_remove(dirs, capsys):
    assert main(["add", "samba", "w1", "--share", "共有データ", "--interval", "5"]) == 0
    # a guest watch gets an empty 0600 password file: the unit's LoadCredential= needs one
    assert written(dirs) == ["etc/samba/w1.conf", "etc/samba/w1.password"]
    assert (dirs / "etc/samba/w1.password").stat().st_mode & 0o777 == 0o600
    assert "共有データ" in (dirs / "etc/samba/w1.conf").read_text(encoding="utf-8")
    assert main(["remove", "samba", "w1"]) == 0
    assert written(dirs) == []
    assert main(["remove", "samba", "w1"]) == 2


def test_malformed_config_is_refused_by_run(dirs, capsys):
    conf = dirs / "etc/samba/w1.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[watch]\nshare = s\ninterval = 99999\n")
    assert main(["run", "samba", "w1"]) == 2
    assert "alert 11" in capsys.readouterr().err


def test_status_empty(dirs, capsys):
    assert main(["status"]) == 0
    assert "no watches" in capsys.readouterr().out


def test_help_everywhere(capsys):
    for argv, expected in (
        (["--help"], "exit status"),
        (["probe", "samba", "--help"], "--password-file"),
        (["add", "nfs", "--help"], "--mount-port"),
        (["pause", "--help"], "--for"),
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert expected in capsys.readouterr().out


def test_nfs_v4_over_udp_is_refused_at_add(dirs, capsys):
    assert main(["add", "nfs", "w", "--export", "/x", "--nfs-version", "4", "--transport", "udp"]) == 2
    assert "alert 11" in capsys.readouterr().err
    assert written(dirs) == []


@pytest.mark.parametrize("argv", [
    ["pause", "samba", "w1"],
    ["continue", "samba", "w1"],
    ["inject", "samba", "w1"],
    ["stop", "samba", "w1"],
    ["clp", "w1", "-pause"],
    ["clp", "w1", "-continue"],
    ["clp", "w1", "-inject"],
])  # fmt: skip
def test_a_request_for_a_watch_that_is_not_running_says_so(dirs, capsys, monkeypatch, argv):
    """Nothing silently not applied (alert 145, exit 6), and nothing written."""
    from fswatch.surfaces import clp

    monkeypatch.setenv("FSWATCH_SUPERVISION", "inprocess")
    code = clp.main("samba", argv[1:]) if argv[0] == "clp" else main(argv)
    err = capsys.readouterr().err
    assert code == 6 and err.count("\n") == 1 and "alert 145: " in err and "w1 is not running" in err, err
    assert written(dirs) == []


def test_clp_stop_of_a_watch_that_is_not_running_says_so_and_succeeds(dirs, capsys, monkeypatch):
    """The seed's stop.sh runs -stop after the watch has ended, on every failover (clp.stop)."""
    from fswatch.surfaces import clp

    monkeypatch.setenv("FSWATCH_SUPERVISION", "inprocess")
    assert clp.main("samba", ["w1", "-stop"]) == 0
    err = capsys.readouterr().err
    assert "alert 145: " in err and "nothing to stop" in err and err.count("\n") == 1


def test_version_names_the_release_and_its_control_protocol(capsys):
    from fswatch import __version__
    from fswatch.core.protocol import CURRENT

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fswatch {__version__} (control protocol {CURRENT.number})"
def test_add_over_a_running_watch_writes_and_says_in_one_line_that_it_keeps_its_settings(dirs, capsys):
    """`add` on an ID whose watch runs writes the file (the next start uses it) and says, in
    one line, that the running watch keeps the settings it started with (alert 161);
    `status` shows the difference from then on."""
    import json
    import os

    from fswatch.host.control import Control, InstanceLock
    from fswatch.host.store import CONFIG, SettingsStore
    from fswatch.kinds import SAMBA
    from fswatch.watch.status import WatchStatus, settings_record

    assert main(["add", "samba", "w1", "--share", "s", "--interval", "1", "--retries", "1", "--timeout", "2"]) == 0
    running, _ = SettingsStore.config().load(SAMBA, "w1")
    control = Control.of("samba", "w1")
    lock = InstanceLock(control)
    lock.acquire()  # the watch, as others see it: its lock held, its state written
    try:
        control.write_state(WatchStatus(kind="samba", id="w1", pid=os.getpid(), phase="healthy",
                                        settings=settings_record(running, CONFIG)).to_json())
        capsys.readouterr()
        assert main(["status", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["settings_changed"] is None  # the file says the same
        assert main(["add", "samba", "w1", "--share", "s", "--interval", "5"]) == 0
        out, err = capsys.readouterr()
        conf = dirs / "etc/samba/w1.conf"
        assert out.startswith(f"{conf}: samba watch w1 (s)") and "interval = 5" in conf.read_text()
        assert err.splitlines() == [
            f"fswatch: samba w1: alert 161: The clp_sambamon keeps the settings it started with until it is "
            f"restarted: pid {os.getpid()}; {conf} now says interval 5 (runs 1), retries 5 (runs 1), "
            f"timeout 60 (runs 2)."
        ]
        assert main(["status", "--json"]) == 0
        changed = json.loads(capsys.readouterr().out)[0]["settings_changed"]
        assert changed["file"] == str(conf)
        assert changed["changes"] == {"interval": {"runs": "1", "file": "5"}, "retries": {"runs": "1", "file": "5"},
                                      "timeout": {"runs": "2", "file": "60"}}
        assert main(["status"]) == 0
        assert f"settings: {conf} now says interval 5 (runs 1)" in capsys.readouterr().out
    finally:
        lock.release()
    assert main(["add", "samba", "w1", "--share", "s", "--interval", "7"]) == 0  # nothing runs: no notice
    assert capsys.readouterr().err == ""


def test_status_marks_the_state_of_a_live_watch_that_stopped_writing_it_as_stale(dirs, capsys):
    """A live watch whose state is older than interval + timeout + 5 s (its runtime directory
    full: alert 42) is shown as it last was, marked stale; a dead one's state is final, never stale."""
    import json
    import os
    import time

    from fswatch.host.control import Control, InstanceLock
    from fswatch.watch.status import WatchStatus

    control = Control.of("samba", "w1")
    old = time.time() - 60
    state = WatchStatus(kind="samba", id="w1", pid=os.getpid(), phase="healthy", updated=old,
                        schedule={"interval": 1, "retries": 1, "timeout": 2})
    lock = InstanceLock(control)
    lock.acquire()
    try:
        control.write_state(state.to_json())
        assert main(["status", "--json"]) == 0
        record = json.loads(capsys.readouterr().out)[0]
        assert record["health"] == "healthy" and 59 <= record["stale_for"] <= 70
        assert main(["status"]) == 0
        assert "stale: the watch has not written its state for 6" in capsys.readouterr().out
    finally:
        lock.release()
    assert main(["status", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["health"] == "dead" and record["stale_for"] is None

"""A watch's process ends at once after its verdict (fswatch.watch.runner.exit_now): the exit is
what systemd and CLUSTERPRO's PID monitor act on, and interpreter teardown took 0.2-0.5 s
of the bound's 0.5 s slack on a loaded node."""

from __future__ import annotations

import io
import sys

import pytest

from fswatch.host import supervisor
from fswatch.surfaces import cli, clp
from fswatch.watch import runner


class Exited(Exception):
    """Stands in for os._exit, which would end the test runner."""


@pytest.fixture
def exits(tmp_path, monkeypatch):
    monkeypatch.setenv("FSWATCH_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv(supervisor.MODE_ENV, "inprocess")
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    codes = []

    def fake_exit(code):
        codes.append(code)
        raise Exited(code)

    monkeypatch.setattr(runner.os, "_exit", fake_exit)
    return codes


def test_exit_now_flushes_the_streams_first(exits, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    flushed = []
    monkeypatch.setattr(out, "flush", lambda: flushed.append(True))
    with pytest.raises(Exited):
        runner.exit_now(1)
    assert exits == [1] and flushed


@pytest.mark.parametrize("status", [0, 1])
def test_fswatch_run_ends_the_process_with_the_watchs_status(exits, monkeypatch, status):
    assert cli.main(["add", "samba", "w1", "--share", "s"]) == 0
    monkeypatch.setattr(runner, "run_watch", lambda settings, password, **_: status)
    for argv in (["run", "samba", "w1"], ["run", "samba", "--", "w1"]):  # the units' line, and one for the grammar
        with pytest.raises(Exited):
            cli.main(argv)
    assert exits == [status, status]


@pytest.mark.parametrize("status", [0, 1])
def test_clp_start_ends_the_process_with_the_watchs_status(exits, monkeypatch, status):
    monkeypatch.setattr(clp, "run_watch", lambda settings, password, **_: status)
    with pytest.raises(Exited):
        clp.main("samba", ["w1", "-s", "public", "-i", "1"])
    assert exits == [status]

"""fswatch.host.systemctl.Systemctl against a scripted systemctl (the real one runs in the booted
containers of tests/integration)."""

from __future__ import annotations

import subprocess

import pytest

from fswatch.host.systemctl import Systemctl


def shown(text):
    def runner(argv):
        assert argv[:2] == ["systemctl", "show"] and argv[-1] == "--property=ActiveState,Job", argv
        return subprocess.CompletedProcess(argv, 0, text, "")
    return Systemctl(runner)


@pytest.mark.parametrize("text, running", [
    ("ActiveState=active\n", True),
    ("ActiveState=activating\nJob=84\n", True),
    ("ActiveState=deactivating\n", True),
    # `systemctl start --no-block` returned: the job is queued, not yet dispatched.
    ("ActiveState=inactive\nJob=91\n", True),
    ("ActiveState=failed\nJob=91\n", True),
    ("ActiveState=inactive\n", False),
    ("ActiveState=failed\n", False),
    ("", False),
])
def test_a_queued_job_counts_as_on_its_way(text, running):
    assert shown(text).running("fswatch-nfs@x.service") is running

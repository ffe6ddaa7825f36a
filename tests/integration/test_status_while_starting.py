"""Looking never blocks starting: real watches of a real smbd start and stop again and
again while pollers hammer the instance lock (holder(), what status, -disp, pause and
-stop ask) and `fswatch status` runs in a loop. No start may fail with alert 14."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.integration.cli import FswatchCLI, alert_ids, wait_for

pytestmark = pytest.mark.integration
STARTS = 8

POLLER = """
    import sys, time
    from pathlib import Path
    from fswatch.host.control import Control, holder
    control = Control(Path(sys.argv[1]))
    end = time.monotonic() + float(sys.argv[2])
    looks = 0
    while time.monotonic() < end and looks < 5_000_000:
        holder(control)
        looks += 1
    print(looks)
"""


def test_starts_never_fail_while_others_look(tmp_path, samba_server):
    cli = FswatchCLI(tmp_path)
    add = cli("add", "samba", "w1", "--share", "public", "--address", samba_server.address,
              "--port", str(samba_server.port), "--interval", "1", "--timeout", "2")  # fmt: skip
    assert add.returncode == 0, add.stderr
    directory = cli.runtime / "samba" / "w1"
    env = dict(cli.env, PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    pollers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(POLLER), str(directory), "60"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(3)
    ]
    statuses = 0
    refused = []
    try:
        for _ in range(STARTS):
            watch = cli.start("run", "samba", "w1")
            try:
                # Healthy (its first probe passed) or ended: whichever comes first, bounded.
                wait_for(lambda: watch.poll() is not None or _phase(directory) == "healthy", 15)  # noqa: B023
                assert cli("status", "--json").returncode == 0  # and `fswatch status`, as a script runs it
                statuses += 1
                if watch.poll() is None:
                    watch.send_signal(signal.SIGTERM)
                rc = watch.wait(timeout=10)
            finally:
                if watch.poll() is None:
                    watch.kill()
                    watch.wait()
            stderr = watch.stderr.read()
            if rc == 3:
                refused.append(stderr.strip())
            else:
                assert rc == 0 and alert_ids(stderr)[-1] == 3, stderr
            _forget_state(directory)
    finally:
        for poller in pollers:
            poller.kill()
            poller.communicate(timeout=10)
    assert not refused, f"{len(refused)} of {STARTS} starts refused while nothing ran: {refused[0]}"
    assert statuses == STARTS


def _phase(directory) -> str:
    try:
        return json.loads((directory / "state.json").read_text()).get("phase", "")
    except (OSError, ValueError):
        return ""


def _forget_state(directory) -> None:
    (directory / "state.json").unlink(missing_ok=True)  # the next start's "healthy" is its own

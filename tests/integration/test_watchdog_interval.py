"""A watch whose interval is longer than its watchdog period, under a booted systemd.

`-i 10 -t 2` gives WatchdogSec= timeout + 5 = 7 s, so the 10 s sleep between probes is
longer than the watchdog period: only the WATCHDOG=1 pings sent *while sleeping* keep
systemd from killing a healthy watch (Result=watchdog ~7 s after the first probe). Two
whole intervals are watched, the shortest run that shows the sleep is covered every time.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.fixtures.container import BootedContainer
from tests.integration.node import install_fswatch

pytestmark = pytest.mark.integration

INTERVAL, RETRIES, TIMEOUT = 10, 1, 2
WATCHDOG_SEC = TIMEOUT + 5  # the units' documented WatchdogSec= rule, written out here


@pytest.fixture(scope="module")
def node(container_base_root):
    with BootedContainer(container_base_root) as container:
        install_fswatch(container)
        yield container


def probes_done(node, watch_id):
    raw = node.run(["cat", f"/run/fswatch/samba/{watch_id}/state.json"], check=False).stdout
    try:
        return json.loads(raw).get("probes", 0)
    except ValueError:
        return 0  # between the write and the rename nothing is missing, but be safe


def test_interval_longer_than_the_watchdog_period_stays_active(node, samba_server):
    assert INTERVAL > WATCHDOG_SEC
    node.run(["fswatch", "add", "samba", "long1", "--share", "public", "--port", str(samba_server.port),
              "--interval", str(INTERVAL), "--retries", str(RETRIES), "--timeout", str(TIMEOUT)])
    unit = "fswatch-samba@long1.service"
    node.systemctl("start", unit)  # returns at READY=1, after the first healthy probe
    started = time.monotonic()
    try:
        props = node.show(unit, "WatchdogUSec", "MainPID", "ActiveState")
        assert props["WatchdogUSec"] == f"{WATCHDOG_SEC}s" and props["ActiveState"] == "active"
        pid = props["MainPID"]
        # Bounded wait for the third probe (two whole sleeps of 10 s); each look is cheap.
        for _ in range(int((2 * INTERVAL + TIMEOUT + 3) / 0.5)):
            if probes_done(node, "long1") >= 3:
                break
            now = node.show(unit, "ActiveState", "Result")
            assert now["ActiveState"] == "active", f"ended after {time.monotonic() - started:.1f} s: {now}"
            time.sleep(0.5)
        assert probes_done(node, "long1") >= 3, "the third probe did not come within two intervals"
        props = node.show(unit, "ActiveState", "Result", "MainPID", "StatusText")
        assert props["ActiveState"] == "active" and props["Result"] == "success"
        assert props["MainPID"] == pid and props["StatusText"].startswith("healthy: ")
    finally:
        node.systemctl("stop", unit, check=False)
    props = node.show(unit, "Result", "ExecMainStatus")
    assert (props["Result"], props["ExecMainStatus"]) == ("success", "0")
    ids = [int(e["FSWATCH_EVENT"]) for e in node.journal(unit) if e.get("FSWATCH_EVENT")]
    assert ids == [1, 2, 3]

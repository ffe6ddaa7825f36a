"""Fault injection in a booted systemd (systemd-nspawn container) against a real smbd that
stays healthy: `fswatch inject` fails the unit within the bound (Result=exit-code), and
the journal shows the injected alerts (FSWATCH_INJECTED=1) and alert 6's failure timeline;
clp_sambamon -inject ends the blocking start form that follows the unit."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.fixtures.container import BootedContainer
from tests.integration.node import install_fswatch

pytestmark = pytest.mark.integration
INTERVAL, RETRIES, TIMEOUT = 1, 2, 1
BOUND = INTERVAL + RETRIES * max(INTERVAL, TIMEOUT) + TIMEOUT + 0.5  # SPEC.md section 2, + slack


@pytest.fixture(scope="module")
def node(container_base_root):
    with BootedContainer(container_base_root) as container:
        install_fswatch(container)
        yield container


def wait_ended(node, unit, timeout=15):
    end = time.monotonic() + timeout
    props = {}
    while time.monotonic() < end:
        props = node.show(unit, "ActiveState", "Result", "ExecMainStatus", "ExecMainExitTimestampMonotonic")
        if props.get("ActiveState") in ("failed", "inactive"):
            return props
        time.sleep(0.1)
    raise AssertionError(f"{unit} did not end within {timeout} s: {props}")


def ended_after(props, instant):
    """Seconds from `instant` (host time.monotonic()) to the unit's main process exit, from
    systemd's own CLOCK_MONOTONIC stamp (the container shares the host's clock)."""
    return int(props["ExecMainExitTimestampMonotonic"]) / 1e6 - instant


def declared_after_request(node, watch_id, six):
    """Seconds from the injection request (the instant `fswatch inject` made it, kept in the
    watch's state) to alert 6's journal entry: the bound's t0 and its end."""
    record = json.loads(node.run(["fswatch", "status", "samba", watch_id, "--json"]).stdout)[0]
    return int(six["__REALTIME_TIMESTAMP"]) / 1e6 - record["injection"]["requested_at"]


def alerts(node, unit):
    return [e for e in node.journal(unit) if e.get("FSWATCH_EVENT")]


def test_inject_fails_the_unit_within_the_bound_and_the_journal_says_injected(node, samba_server):
    node.run(["fswatch", "add", "samba", "i1", "--share", "public", "--port", str(samba_server.port),
              "--interval", str(INTERVAL), "--retries", str(RETRIES), "--timeout", str(TIMEOUT)])
    unit = "fswatch-samba@i1.service"
    node.systemctl("start", unit)
    end = time.monotonic() + 10
    while json.loads(node.run(["fswatch", "status", "samba", "i1", "--json"]).stdout)[0].get("probes", 0) < 3:
        assert time.monotonic() < end, "three healthy probes did not come"  # the timeline then holds 2 + 3
        time.sleep(0.2)
    injected = time.monotonic()
    out = node.run(["fswatch", "inject", "samba", "i1"]).stdout
    props = wait_ended(node, unit)
    exited = ended_after(props, injected)
    assert "the next 3 probes (retries + 1) fail at connect" in out
    assert props["ActiveState"] == "failed" and props["Result"] == "exit-code" and props["ExecMainStatus"] == "1"

    entries = alerts(node, unit)
    assert [int(e["FSWATCH_EVENT"]) for e in entries][-5:] == [113, 72, 72, 72, 6]
    marked = [int(e["FSWATCH_EVENT"]) for e in entries if e.get("FSWATCH_INJECTED") == "1"]
    assert marked == [113, 72, 72, 72, 6]
    connect = entries[-2]
    assert connect["MESSAGE"] == "The clp_sambamon has detected network error(connect error[injected failure])."
    assert connect["FSWATCH_STAGE"] == "connect" and connect["PRIORITY"] == "3"
    assert [e["PRIORITY"] for e in entries[-4:-2]] == ["4", "4"]  # warnings until declared, as for a real fault
    assert "injected failure (fswatch inject)" in connect["FSWATCH_REASON"]
    six = entries[-1]
    detected = declared_after_request(node, "i1", six)
    print(f"alert 6 {detected:.2f} s after the request (bound {BOUND} s); unit ended {exited:.2f} s after "
          "`fswatch inject` was started")
    assert 0 < detected <= BOUND
    assert six["MESSAGE"] == "The clp_sambamon will terminate. (injected)"
    assert six["MESSAGE_ID"] == "4db6f7435fc94ddfaab5fe1d633cb832"
    rows = six["FSWATCH_HISTORY"].splitlines()
    assert rows[0].startswith("TIME (") and len(rows) == 1 + 5  # retries + 3 probes
    assert [r.split()[2] for r in rows[-3:]] == ["failed"] * 3 and [r.split()[3] for r in rows[-3:]] == [
        "1/3", "2/3", "3/3"]
    assert all(r.split()[2] == "healthy" for r in rows[1:-3])  # healthy at once before: "dead at once"
    timeline = [json.loads(line) for line in six["FSWATCH_HISTORY_JSON"].splitlines()]
    assert timeline[-1]["failure"] == {"alert": 72, "stage": "connect", "reason": timeline[-1]["failure"]["reason"],
                                       "detail": "injected failure", "injected": True}
    assert timeline[0]["stages"][0]["stage"] == "connect" and timeline[0]["stages"][0]["ms"] > 0  # a real probe

    explained = node.run(["journalctl", "-x", "--no-pager", "-u", unit]).stdout
    assert "A failure was injected into a watch (fswatch inject)" in explained
    status = node.run(["fswatch", "status", "samba", "i1", "--history"]).stdout
    assert status.count("(injected)") == 3, status
    record = json.loads(node.run(["fswatch", "status", "samba", "i1", "--json"]).stdout)[0]
    assert record["phase"] == "failed" and record["history"][-1]["failure"]["injected"] is True
    assert node.run(["test", "-e", "/run/fswatch/samba/i1/inject"], check=False).returncode == 1

    # reset clears the dead watch; the next start probes for real and stays healthy.
    node.run(["fswatch", "reset", "samba", "i1"])
    node.systemctl("start", unit)
    time.sleep(2 * INTERVAL + 0.5)
    assert node.show(unit, "ActiveState")["ActiveState"] == "active"
    node.systemctl("stop", unit)
    assert [int(e["FSWATCH_EVENT"]) for e in alerts(node, unit)][-3:] == [1, 2, 3]


def test_clp_inject_ends_the_unit_and_the_start_form(node, samba_server):
    unit = "fswatch-samba@ci1.service"
    clp = subprocess.Popen(
        ["nsenter", "-t", str(node.leader_pid), "-a", "clp_sambamon", "ci1", "-s", "public", "-n",
         str(samba_server.port), "-i", str(INTERVAL), "-c", str(RETRIES), "-r", str(TIMEOUT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        end = time.monotonic() + 10
        while node.show(unit, "ActiveState")["ActiveState"] != "active":
            assert time.monotonic() < end, "the unit did not start"
            time.sleep(0.1)
        injected = time.monotonic()
        node.run(["clp_sambamon", "ci1", "-inject", "session"])
        rc = clp.wait(timeout=15)
    finally:
        if clp.poll() is None:
            node.run(["clp_sambamon", "ci1", "-stop"], check=False)
            clp.wait(timeout=15)
    props = node.show(unit, "ActiveState", "Result", "ExecMainExitTimestampMonotonic")
    assert rc == 1 and props["Result"] == "exit-code"
    entries = alerts(node, unit)
    detected = declared_after_request(node, "ci1", entries[-1])
    print(f"clp: alert 6 {detected:.2f} s after the request; unit ended {ended_after(props, injected):.2f} s after "
          "-inject was started")
    assert 0 < detected <= BOUND
    assert [(int(e["FSWATCH_EVENT"]), e.get("FSWATCH_INJECTED")) for e in entries][-3:] == [
        (64, "1"), (64, "1"), (6, "1")]
    assert entries[-2]["MESSAGE"] == (
        "The clp_sambamon has detected an error in Samba [public] (connect error[injected failure])."
    )

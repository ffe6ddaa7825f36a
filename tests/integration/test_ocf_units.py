"""The OCF agents where systemd is PID 1 (a booted nspawn container, installed by
tests/integration/node.py as a cluster node has them): start runs fswatch-KIND@ID from
runtime settings, monitor reads the unit's watch, stop leaves nothing behind.

smbd and ganesha run on the host's loopback; the container shares the host's network.
"""

from __future__ import annotations

import time

import pytest

from tests.fixtures.container import BootedContainer
from tests.integration.node import OCF_DIR, install_fswatch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(container_base_root):
    with BootedContainer(container_base_root) as container:
        install_fswatch(container)
        yield container


def agent(node, kind, action, check_level=None, timeout_ms="20000", **params):
    env = {
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RESOURCE_INSTANCE": params.pop("instance"),
        "OCF_RESKEY_CRM_meta_timeout": timeout_ms,
        "OCF_RESKEY_CRM_meta_interval": "10000",
        **{f"OCF_RESKEY_{k}": v for k, v in params.items()},
    }
    if check_level is not None:
        env["OCF_CHECK_LEVEL"] = str(check_level)
    return node.run([f"{OCF_DIR}/{kind}", action], check=False, env=env, timeout=40)


def why(node, proc, unit):
    """The agent's exit reason and the unit's journal: what an administrator would read."""
    lines = node.run(["journalctl", "--no-pager", "-o", "short-monotonic", "-u", unit, "-u", "fswatch-settle@*"],
                     check=False).stdout
    return f"{proc.stderr}\n{lines[-6000:]}"


def test_agents_installed_and_meta_data(node):
    for kind in ("samba", "nfs"):
        proc = agent(node, kind, "meta-data", instance="x")
        assert proc.returncode == 0 and f'<resource-agent name="{kind}"' in proc.stdout
        mode = node.run(["stat", "-c", "%a", f"{OCF_DIR}/{kind}"]).stdout.strip()
        assert mode == "755"


def test_samba_agent_runs_the_unit_and_reports_its_verdict(node, fresh_samba_server):
    params = dict(instance="smbwatch:0", share="public", port=str(fresh_samba_server.port),
                  interval="1", retries="1", timeout="1")
    unit = "fswatch-samba@smbwatch.service"
    start = agent(node, "samba", "start", **params)
    assert start.returncode == 0, why(node, start, unit)
    props = node.show(unit, "ActiveState", "StatusText", "DropInPaths")
    assert props["ActiveState"] == "active" and props["StatusText"].startswith("healthy")
    assert "/run/systemd/system/fswatch-samba@smbwatch.service.d/50-runtime.conf" in props["DropInPaths"]
    assert agent(node, "samba", "monitor", **params).returncode == 0
    assert agent(node, "samba", "start", **params).returncode == 0  # idempotent
    try:
        fresh_samba_server.stall_all()
        stalled = time.monotonic()
        for _ in range(100):  # bounded: 10 s
            mon = agent(node, "samba", "monitor", **params)
            if mon.returncode != 0:
                break
            time.sleep(0.1)
        detected = time.monotonic() - stalled
    finally:
        fresh_samba_server.resume_all()
    assert mon.returncode == 1, mon.stderr
    assert mon.stderr.startswith("ocf-exit-reason:declared failed after 2/2 failed probes: stage ")
    assert detected <= 3 + 0.5 + 1.0
    for _ in range(30):  # bounded: the state is written just before the watch exits
        if node.show(unit, "ActiveState")["ActiveState"] == "failed":
            break
        time.sleep(0.1)
    assert node.show(unit, "ActiveState")["ActiveState"] == "failed"
    # The alerts went to the journal with their fields, from the unit.
    events = [int(e["FSWATCH_EVENT"]) for e in node.journal(unit) if e.get("FSWATCH_EVENT")]
    assert events[:2] == [1, 2] and events[-1] == 6
    stop = agent(node, "samba", "stop", **params)
    assert stop.returncode == 0, stop.stderr
    assert node.show(unit, "ActiveState")["ActiveState"] == "inactive"
    assert agent(node, "samba", "monitor", **params).returncode == 7
    assert agent(node, "samba", "stop", **params).returncode == 0
    leftovers = node.run(["sh", "-c", "ls -laR /run/fswatch/samba /run/systemd/system 2>/dev/null"]).stdout
    assert "smbwatch" not in leftovers, leftovers


def test_nfs_agent_deep_monitor_and_stop(node, nfs_server):
    params = dict(instance="nfswatch", export=nfs_server.export_path, address=nfs_server.address,
                  interval="1", retries="1", timeout="2")
    unit = "fswatch-nfs@nfswatch.service"
    try:
        start = agent(node, "nfs", "start", **params)
        assert start.returncode == 0, why(node, start, unit)
        assert node.show(unit, "ActiveState")["ActiveState"] == "active"
        assert agent(node, "nfs", "monitor", check_level=10, timeout_ms="5000", **params).returncode == 0
    finally:
        assert agent(node, "nfs", "stop", **params).returncode == 0
    assert node.show(unit, "ActiveState")["ActiveState"] == "inactive"
    assert agent(node, "nfs", "monitor", **params).returncode == 7


def test_attribute_mode_under_systemd_publishes_from_the_hardened_unit(node, fresh_samba_server):
    """The unit's attribute-mode drop-in lets the watch run attrd_updater with the haclient
    group and the host's /dev/shm (where pacemaker-attrd's IPC lives); the stand-in records
    its calls there."""
    node.run(["sh", "-c", "getent group haclient >/dev/null || groupadd -r haclient"])
    node.write_text("/usr/local/sbin/attrd_updater",
                    '#!/bin/sh\nid -Gn | grep -qw haclient || exit 9\necho "$*" >> /dev/shm/attrd-calls\n', mode=0o755)
    params = dict(instance="smbhealth:0", share="public", port=str(fresh_samba_server.port),
                  interval="1", retries="1", timeout="1", attribute="fsw-smb")
    unit = "fswatch-samba@smbhealth.service"

    def calls():
        return node.run(["sh", "-c", "cat /dev/shm/attrd-calls 2>/dev/null || true"]).stdout.splitlines()

    def wait_calls(expected, seconds):
        for _ in range(int(seconds / 0.1)):  # bounded
            if calls() == expected:
                return True
            time.sleep(0.1)
        return calls() == expected

    start = agent(node, "samba", "start", **params)
    assert start.returncode == 0, why(node, start, unit)
    try:
        assert node.show(unit, "ActiveState")["ActiveState"] == "active"
        assert wait_calls(["-n fsw-smb -U 1"], 3), calls()
        fresh_samba_server.stall_all()
        assert wait_calls(["-n fsw-smb -U 1", "-n fsw-smb -U 0"], 10), calls()
        assert node.show(unit, "ActiveState")["ActiveState"] == "active"  # still watching
        assert agent(node, "samba", "monitor", **params).returncode == 0
        fresh_samba_server.resume_all()
        assert wait_calls(["-n fsw-smb -U 1", "-n fsw-smb -U 0", "-n fsw-smb -U 1"], 5), calls()
    finally:
        fresh_samba_server.resume_all()
        assert agent(node, "samba", "stop", **params).returncode == 0
    events = [int(e["FSWATCH_EVENT"]) for e in node.journal(unit) if e.get("FSWATCH_EVENT")]
    assert 98 in events and 6 not in events and events.count(97) == 3
    assert 96 not in events


def test_stop_leaves_no_metrics_link_into_a_runtime_directory_that_is_gone(node, samba_server):
    """node_exporter counts a dangling link in its textfile directory as a scrape error: the
    agent's stop forgets the watch's published metrics with the rest (fswatch.host.supervisor)."""
    textfile = "/var/lib/prometheus/node-exporter"
    node.run(["mkdir", "-p", textfile])
    link = f"{textfile}/fswatch_samba_metricswatch.prom"
    params = dict(instance="metricswatch", share="public", port=str(samba_server.port),
                  interval="1", retries="1", timeout="2")
    unit = "fswatch-samba@metricswatch.service"
    start = agent(node, "samba", "start", **params)
    assert start.returncode == 0, why(node, start, unit)
    assert node.run(["test", "-L", link], check=False).returncode == 0  # published by the unit
    stop = agent(node, "samba", "stop", **params)
    assert stop.returncode == 0, stop.stderr
    left = node.run(["sh", "-c", f"ls -la {textfile}; ls -la /run/fswatch/samba"], check=False).stdout
    assert "metricswatch" not in left, left


def test_signals_to_the_agents_unit_never_fail_the_resource(node, samba_server):
    """SIGHUP, SIGUSR1 and SIGUSR2 to the watch of a running ocf:fswatch:samba (its unit's
    main process): the unit stays active, monitor stays 0, HUP and USR1 log what it runs
    from its runtime settings (alert 160), and stop ends it cleanly (alert 3). On the old
    main SIGHUP failed the unit, and monitor returned 1: a false failover."""
    params = dict(instance="sigwatch", share="public", port=str(samba_server.port),
                  interval="1", retries="1", timeout="2")
    unit = "fswatch-samba@sigwatch.service"
    start = agent(node, "samba", "start", **params)
    assert start.returncode == 0, why(node, start, unit)
    try:
        pid = node.show(unit, "MainPID")["MainPID"]
        reports = 0
        for sig in ("HUP", "USR1", "USR2"):
            node.run(["kill", f"-{sig}", pid])
            reports += sig != "USR2"
            for _ in range(50):  # bounded: 5 s; a report comes within a second
                events = [e for e in node.journal(unit) if e.get("FSWATCH_EVENT") == "160"]
                if len(events) == reports:
                    break
                time.sleep(0.1)
            mon = agent(node, "samba", "monitor", **params)
            assert mon.returncode == 0, (sig, why(node, mon, unit))
        assert node.show(unit, "ActiveState", "MainPID") == {"ActiveState": "active", "MainPID": pid}
        assert events[0]["FSWATCH_SETTINGS_FILE"] == "/run/fswatch/samba/sigwatch.conf"  # the agent's settings
        assert events[0]["MESSAGE"].endswith("/run/fswatch/samba/sigwatch.conf says the same.")
    finally:
        stop = agent(node, "samba", "stop", **params)
        assert stop.returncode == 0, stop.stderr
    ids = [int(e["FSWATCH_EVENT"]) for e in node.journal(unit) if e.get("FSWATCH_EVENT")]
    assert ids == [1, 2, 160, 160, 3]

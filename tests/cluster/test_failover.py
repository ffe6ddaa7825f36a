"""Cluster tier (issue 10): fswatch makes a real Pacemaker cluster fail a file service over.

Three booted nodes (tests/fixtures/cluster.py), booted once for this module; each scenario
loads its resources, stalls the daemon on the node that runs them, measures from the stall
until a client on the bridge is served on the floating IP again, and removes its resources.

In scenarios a-c the watch's verdict (its alert 6 or 98 in the stalled node's journal) must
come within fswatch's own bound (SPEC section 2, computed from the watch's settings), and the
client must be served again within that bound plus PACEMAKER_ALLOWANCE for Pacemaker's
recovery. Scenario d shows that the stock monitor alone does not see the same stall, so the
tier tells fswatch from it.

FENCING IS OFF in this test cluster only (stonith-enabled=false): containers have no
fencing device.
"""

from __future__ import annotations

import time

import pytest

from tests.cluster import scenarios as sc
from tests.fixtures import cluster as cl

# The integration tier's per-test limit (tests/conftest.py) applies to the test bodies; the
# module fixture (node root build, three boots) bounds itself.
pytestmark = pytest.mark.integration

SCHEDULE = sc.Schedule(interval=1, retries=1, timeout=2)
# Pacemaker's part, after fswatch's verdict (which is held to SPEC's bound on its own, from
# the watch's alert in the node's journal): up to one monitor interval until the agent's
# monitor reports it (1 s), then stopping the group on the stalled node (the agent, the
# daemon, the IP) and starting the IP and the daemon on another one. Measured here 1.4-8.8 s
# at load averages of 30-40 on the shared 2 cores (the agent stop 1.9 s, smbd stop 2.3 s and
# start 3.0 s at the worst; TESTING.md: 3.4-3.9 s on an idle machine, monitor 2 s).
PACEMAKER_ALLOWANCE = 1.0 + 11.0
STOCK_CAP = 30.0  # scenario d: the stock monitor must not notice the stall within this


report = sc.report


@pytest.fixture(scope="module")
def cluster():
    started = time.monotonic()
    root, built, log_dir = sc.tier_prologue()
    with cl.Cluster(root, log_dir=log_dir) as c:
        report("FENCING IS OFF (stonith-enabled=false) in this test cluster only: containers have no fencing device")
        report(f"node root ready in {built:.1f} s; 3 nodes booted, online with quorum in {c.boot_seconds:.1f} s; "
               f"logs kept in {log_dir}")
        yield c
    report(f"tier total: {time.monotonic() - started:.1f} s (node root, boot, scenarios, teardown)")


def _require_agents(cluster: cl.Cluster) -> None:
    assert cluster.agents_installed, cluster.agent_problem


def _fswatch_failover(cluster: cl.Cluster, setup: sc.Setup, service: sc.Service, label: str,
                      failed_op: str | None) -> None:
    limit = SCHEDULE.bound() + PACEMAKER_ALLOWANCE
    sc.load(cluster, setup, service)
    try:
        tr = sc.trial(cluster, setup, service, "SIGSTOP", cap=limit + 10)  # a late figure is still reported
        served = "not served" if tr.served_seconds is None else f"served again after {tr.served_seconds:.2f} s"
        report(f"{label}: SIGSTOP {service.unit} on {tr.from_node} -> {served} from {tr.moved_to} (limit "
               f"{limit:.1f} s = fswatch bound {SCHEDULE.bound():.1f} s + Pacemaker {PACEMAKER_ALLOWANCE:.0f} s)")
        if tr.declared_seconds is not None and tr.served_seconds is not None:
            report(f"   fswatch's verdict after {tr.declared_seconds:.2f} s (bound {SCHEDULE.bound():.1f} s), "
                   f"Pacemaker's part {tr.served_seconds - tr.declared_seconds:.2f} s "
                   f"(allowance {PACEMAKER_ALLOWANCE:.0f} s)")
        assert tr.declared_seconds is not None, f"{label}: the watch logged no verdict (alert 6/98) on {tr.from_node}"
        assert tr.declared_seconds <= SCHEDULE.bound(), f"{label}: verdict later than SPEC's bound: {tr}"
        assert tr.detected, f"{label}: client not served within {limit + 10:.0f} s; failures: {tr.failures}"
        assert tr.moved_to not in (None, tr.from_node), tr
        assert tr.served_seconds <= limit, tr
        if failed_op is not None:  # fswatch saw it: the failure recorded on the stalled node is the watch's
            theirs = [f for f in tr.failures if f["op_key"].startswith(failed_op) and f["node"] == tr.from_node]
            assert theirs, tr.failures
            report(f"   Pacemaker recorded {theirs[0]['op_key']} on {tr.from_node}: {theirs[0].get('exitreason')!r}")
            assert theirs[0].get("exitreason"), "the agent's failure carries no ocf-exit-reason"
    finally:
        sc.unload(cluster, setup)


def test_a_samba_stall_fails_the_group_over(cluster):
    _require_agents(cluster)
    setup = sc.group_setup(sc.SAMBA, SCHEDULE, with_agent=True)
    _fswatch_failover(cluster, setup, sc.SAMBA, "a. samba group, ocf:fswatch:samba", "watch_monitor")


def test_b_nfs_stall_fails_the_group_over(cluster):
    _require_agents(cluster)
    setup = sc.group_setup(sc.NFS, SCHEDULE, with_agent=True)
    _fswatch_failover(cluster, setup, sc.NFS, "b. nfs group, ocf:fswatch:nfs", "watch_monitor")


def test_c_attribute_mode_moves_the_floating_ip(cluster):
    _require_agents(cluster)
    setup = sc.attribute_setup(sc.SAMBA, SCHEDULE, "fswatch-smb")
    # Nothing fails in attribute mode: the agent keeps running and publishes 0; the location
    # rule moves the IP. So no failed action is expected, only the move.
    _fswatch_failover(cluster, setup, sc.SAMBA, "c. samba attribute mode, location rule on fswatch-smb", None)


def test_d_stock_monitor_misses_the_stall(cluster):
    setup = sc.group_setup(sc.SAMBA, SCHEDULE, with_agent=False)
    sc.load(cluster, setup, sc.SAMBA)
    try:
        started = time.monotonic()
        tr = sc.trial(cluster, setup, sc.SAMBA, "SIGSTOP", cap=STOCK_CAP)
        report(f"d. samba group, systemd:smbd only: SIGSTOP smbd on {tr.from_node} -> "
               f"{'not noticed' if not tr.failures else 'noticed'} in {time.monotonic() - started:.1f} s, group on "
               f"{tr.moved_to}, {tr.client_failures} failed client probes, "
               f"{'none' if tr.served_seconds is None else 'some'} served")
        assert tr.served_seconds is None, f"the client was served during the stall: {tr}"
        assert tr.client_failures > 0, tr
        assert tr.moved_to == tr.from_node, tr
        assert tr.failures == [], tr.failures
    finally:
        sc.unload(cluster, setup)

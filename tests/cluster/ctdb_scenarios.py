"""Failover trials on the CTDB tier's three nodes: the stall, the stopwatch, the recovery.

Shared by tests/cluster/test_ctdb.py (one trial per scenario, with bounds) and bench/failover
(five trials per row, figures). A trial: find the node that hosts a public address, start the
client's probes of that address, inject the fault into that node's server (SIGSTOP every
process of its unit, or SIGKILL its main process: smbd by default), and time from that instant until the node is
UNHEALTHY, the address hosted by another node, and a tree connect from the client on the
address succeeds again (a probe that started after a failed one).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import List, Optional

from tests.cluster import scenarios as sc
from tests.fixtures import cluster as cl
from tests.fixtures import ctdb_cluster as cc

RECOVER_TIMEOUT = 90.0  # s for a node to be healthy again, its watch too, and every address served


@dataclass
class CtdbTrial:
    monitor: str  # "fswatch": 45.fswatch enabled beside the stock scripts; "stock": the stock scripts only
    fault: str  # "SIGSTOP" or "SIGKILL"
    address: str
    from_node: str
    service: sc.Service = sc.SAMBA  # the server stalled or killed, and the client's probe
    pids: List[int] = field(default_factory=list)
    unhealthy_seconds: Optional[float] = None  # fault -> CTDB flags the node UNHEALTHY
    moved_seconds: Optional[float] = None  # fault -> the address hosted by another node
    served_seconds: Optional[float] = None  # fault -> the end of the client's first tree connect served again
    moved_to: Optional[str] = None
    declared_seconds: Optional[float] = None  # fault -> the watch's verdict (alert 98) in from_node's journal
    client_failures: int = 0  # failed client probes after the fault

    @property
    def detected(self) -> bool:
        return self.served_seconds is not None


def inject(cluster: cc.CtdbCluster, node_name: str, fault: str, service: sc.Service = sc.SAMBA) -> List[int]:
    """SIGSTOP every process of the server's unit, or SIGKILL its main process, by PID."""
    node = cluster.node(node_name)
    unit = f"{service.unit}.service"
    if fault == "SIGSTOP":
        pids = cluster.signal_unit(node, unit, signal.SIGSTOP)
    else:
        pids = cluster.signal_unit(node, unit, signal.SIGKILL, main_only=True)
    if not pids:
        raise cc.CtdbError(f"no {service.unit} process on {node_name} to {fault}")
    return pids


def trial(cluster: cc.CtdbCluster, address: str, fault: str, cap: float, monitor: str = "fswatch",
          service: sc.Service = sc.SAMBA) -> CtdbTrial:
    """One fault on the node hosting ``address``; watches CTDB and the client for at most
    ``cap`` s. The fault is left in place: release() ends it."""
    from_node = cluster.holder(address)
    pnn = cluster.pnn(from_node)
    tr = CtdbTrial(monitor, fault, address, from_node, service=service)
    with cl.Poller(cluster, service.kind, address, max_seconds=cap + 60, **service.poll_target()) as poller:
        if poller.wait_ok_after(0.0, sc.SERVED_TIMEOUT) is None:
            raise cc.CtdbError(f"the client is not served on {address} before the fault: {poller.lines()[-3:]}")
        t0, t0_wall = time.monotonic(), time.time()
        tr.pids = inject(cluster, from_node, fault, service)
        end = t0 + cap
        while time.monotonic() < end:
            try:
                st = cluster.ctdb_state()
            except cc.CtdbError:
                st = None
            now = time.monotonic() - t0
            if st is not None:
                if tr.unhealthy_seconds is None and st.unhealthy(pnn):
                    tr.unhealthy_seconds = now
                holder = st.ips.get(address, -1)
                if tr.moved_seconds is None and holder not in (pnn, -1):
                    tr.moved_seconds, tr.moved_to = now, cluster.names[holder]
            served = poller.first_ok_after(t0, after_failure=True)
            if served is not None and tr.served_seconds is None:
                tr.served_seconds = served["end"] - t0
            if tr.served_seconds is not None and tr.moved_seconds is not None:
                break
            time.sleep(cc.POLL)
        tr.client_failures = sum(1 for ln in poller.lines() if ln["start"] >= t0 and not ln["ok"])
    tr.declared_seconds = sc.declared_after(cluster.node(from_node), t0_wall)
    return tr


def release(cluster: cc.CtdbCluster, tr: CtdbTrial) -> None:
    """End the fault: SIGCONT the stopped PIDs that are still the server's (never a reused
    PID), or start it again after a SIGKILL (CTDB restarts nothing on an unhealthy node)."""
    node = cluster.node(tr.from_node)
    unit = f"{tr.service.unit}.service"
    if tr.fault == "SIGSTOP":
        still = sorted(set(tr.pids) & set(cluster.service_pids(node, unit)))
        if still:
            node.run(["kill", "-CONT", *map(str, still)], check=False)
    else:
        node.systemctl("restart", unit, timeout=60)


def wait_recovered(cluster: cc.CtdbCluster, node_name: str, timeout: float = RECOVER_TIMEOUT,
                   service: sc.Service = sc.SAMBA) -> dict:
    """After release(): seconds until the node's watch is healthy again, CTDB flags the node
    OK, and the node hosts a public address again (CTDB's own rules rebalance three addresses
    over three healthy nodes: one each); then every address is served."""
    started = time.monotonic()
    node, pnn = cluster.node(node_name), cluster.pnn(node_name)
    times = {}
    deadline = started + timeout
    cluster.wait_watch(node, "healthy", timeout, service.kind)
    times["watch_healthy"] = time.monotonic() - started
    cluster.wait(lambda st: st.healthy(pnn), max(deadline - time.monotonic(), 1.0), f"{node_name} OK again")
    times["node_ok"] = time.monotonic() - started
    cluster.wait(lambda st: st.hosted() and st.addresses_of(pnn), max(deadline - time.monotonic(), 1.0),
                 f"{node_name} hosting an address again")
    times["address_back"] = time.monotonic() - started
    for address in cc.PUBLIC_ADDRESSES:
        cluster.wait_served(address, sc.SERVED_TIMEOUT, service.kind, **service.poll_target())
    return times

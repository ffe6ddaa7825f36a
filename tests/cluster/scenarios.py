"""Failover scenarios on the cluster tier's three nodes: resources, the stall, the stopwatch.

Shared by tests/cluster/test_failover.py (one trial per scenario, with bounds) and
bench/failover (many trials, figures). A trial: find the node running the service, start the
client's probes of the floating IP, inject the fault into the daemon there (SIGSTOP every
process of its unit, or SIGKILL its main process), and time from that instant until a probe
started after it succeeds — the service answering on the floating IP from another node.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import Sequence

from tests.fixtures import cluster as cl
from tests.fixtures import container as ct

VIP = cl.FLOATING_IP
MONITOR_INTERVAL = 1  # s: every recurring monitor op, the agent's and the stock ones alike
SETTLE_TIMEOUT = 60.0  # s for a group to start, or a reset to finish
SERVED_TIMEOUT = 20.0  # s for the client's first healthy probe of a freshly started group

TIER_REPORT: list = []  # lines printed at the end of the test run (tests/cluster/conftest.py)


def report(line: str) -> None:
    """A measured figure of a tier: printed now and again at the end of the run."""
    TIER_REPORT.append(line)
    print(line)


def tier_prologue() -> tuple:
    """What a tier does before it boots: remove what killed runs left, get the node root (built
    at most once per machine), make a fresh log dir. (root, seconds it took, log dir)."""
    started = time.monotonic()
    ct.reap_orphaned_containers()
    root = cl.build_node_root()
    return root, time.monotonic() - started, cl.new_log_dir()


@dataclass(frozen=True)
class Service:
    """A file service as the cluster runs it: the fswatch kind (= the OCF agent's name),
    the daemon's systemd unit (= the stock resource systemd:UNIT), the watch's target."""

    kind: str
    unit: str
    target: tuple  # ((name, value), ...) for the agent, the poller and `fswatch probe`

    @property
    def stock(self) -> str:
        return f"systemd:{self.unit}"

    def poll_target(self) -> dict:
        return dict(self.target)


SAMBA = Service("samba", "smbd", (("share", cl.SHARE),))
NFS = Service("nfs", "nfs-ganesha", (("export", cl.EXPORT),))


@dataclass(frozen=True)
class Schedule:
    """The watch's settings (fswatch's interval / retries / timeout, in seconds)."""

    interval: int = 1
    retries: int = 1
    timeout: int = 2

    def bound(self) -> float:
        """SPEC section 2: a fault at t0 is declared by t0 + interval + retries x
        max(interval, timeout) + timeout, plus at most 0.5 s of scheduling slack."""
        return self.interval + self.retries * max(self.interval, self.timeout) + self.timeout + 0.5


# -- CIB fragments --------------------------------------------------------------------------


def _nvpairs(owner: str, kind: str, values: dict) -> str:
    if not values:
        return ""
    pairs = "".join(f'<nvpair id="{owner}-{kind}-{k}" name="{k}" value="{v}"/>' for k, v in values.items())
    tag = "instance_attributes" if kind == "ia" else "meta_attributes"
    return f'<{tag} id="{owner}-{kind}">{pairs}</{tag}>'


def primitive(rid: str, agent: str, params: dict | None = None, meta: dict | None = None,
              ops: Sequence[tuple[str, int, int]] = ()) -> str:
    """``agent``: class:provider:type or class:type; ``ops``: (name, interval s, timeout s)."""
    parts = agent.split(":")
    cls, provider, type_ = (parts[0], None, parts[1]) if len(parts) == 2 else parts
    prov = f' provider="{provider}"' if provider else ""
    op_xml = "".join(f'<op id="{rid}-{n}-{i}" name="{n}" interval="{i}s" timeout="{t}s"/>' for n, i, t in ops)
    return (f'<primitive id="{rid}" class="{cls}"{prov} type="{type_}">{_nvpairs(rid, "ia", params or {})}'
            f'{_nvpairs(rid, "meta", meta or {})}<operations>{op_xml}</operations></primitive>')


def vip(meta: dict | None = None) -> str:
    return primitive("vip", "ocf:heartbeat:IPaddr2", {"ip": VIP, "cidr_netmask": 24, "nic": "eth0"}, meta,
                     ops=[("monitor", MONITOR_INTERVAL * 2, 10)])


def daemon(service: Service, rid: str = "daemon") -> str:
    # systemd: resources re-check a start or stop after min(2 s, timeout/10) (TESTING.md): short
    # timeouts. Measured (issue 18): stopping a SIGSTOPped smbd took 2.1 s with stop timeout 15 s,
    # most of it waiting for that re-check; smbd and ganesha end ~10 ms after systemd's SIGTERM +
    # SIGCONT, so 5 s is ample and the re-check comes after 0.5 s.
    return primitive(rid, service.stock, ops=[("monitor", MONITOR_INTERVAL, 10), ("start", 0, 5), ("stop", 0, 5)])


def agent(service: Service, schedule: Schedule, address: str, rid: str = "watch", attribute: str = "",
          extra: dict | None = None) -> str:
    params = {**service.poll_target(), "address": address, "interval": schedule.interval,
              "retries": schedule.retries, "timeout": schedule.timeout, **(extra or {})}
    if attribute:
        params["attribute"] = attribute
    return primitive(rid, f"ocf:fswatch:{service.kind}", params,
                     ops=[("monitor", MONITOR_INTERVAL, 10), ("start", 0, 20), ("stop", 0, 20)])


@dataclass
class Setup:
    """A configuration to load: resources, constraints, and which resources must share a node
    (``members``: the group's members, or just the floating IP in attribute mode)."""

    name: str
    resources: str
    members: list[str]
    constraints: str = ""
    attribute: str = ""
    start_after_constraints: list[str] = field(default_factory=list)


# The agent's settings for issue 18's paths: evidence from the server's process and the verdict
# pushed at once (the defaults), or today's retry rule with the monitor as the only messenger.
EVIDENCE_AND_PUSH: dict = {}
RETRIES_ONLY = {"evidence": "off", "push": "false"}


def group_setup(service: Service, schedule: Schedule, with_agent: bool, agent_params: dict | None = None,
                label: str = "fswatch agent") -> Setup:
    """Resource mode: floating IP + the daemon + (fswatch's agent probing the floating IP)."""
    members = [vip(), daemon(service)]
    ids = ["vip", "daemon"]
    if with_agent:
        members.append(agent(service, schedule, VIP, extra=agent_params))
        ids.append("watch")
    name = f"{service.kind}: " + (label if with_agent else f"stock {service.stock} only")
    return Setup(name, f'<group id="g">{"".join(members)}</group>', ids)


def attribute_setup(service: Service, schedule: Schedule, attribute: str) -> Setup:
    """Attribute mode: the daemon and the agent (probing its local daemon) cloned on every node,
    the floating IP placed by a location rule on the health attribute."""
    def clone_meta(cid: str) -> str:
        return _nvpairs(cid, "meta", {"interleave": "true"})

    resources = (
        f'<clone id="daemon-clone">{daemon(service)}{clone_meta("daemon-clone")}</clone>'
        f'<clone id="watch-clone">{agent(service, schedule, "127.0.0.1", attribute=attribute)}'
        f'{clone_meta("watch-clone")}</clone>'
        f'{vip(meta={"target-role": "Stopped"})}'
    )
    constraints = (
        '<rsc_order id="daemon-then-watch" first="daemon-clone" then="watch-clone" kind="Mandatory"/>'
        '<rsc_location id="vip-on-healthy" rsc="vip">'
        '<rule id="vip-on-healthy-rule" score="-INFINITY" boolean-op="or">'
        f'<expression id="vip-on-healthy-undef" attribute="{attribute}" operation="not_defined"/>'
        f'<expression id="vip-on-healthy-lt" attribute="{attribute}" operation="lt" value="1" type="integer"/>'
        '</rule></rsc_location>'
    )
    return Setup(f"{service.kind}: attribute mode", resources, ["vip"], constraints, attribute, ["vip"])


# -- driving one setup -----------------------------------------------------------------------


def load(cluster: cl.Cluster, setup: Setup, service: Service) -> tuple[str, float]:
    """Load ``setup`` and wait until it runs and the client is served; (node, seconds)."""
    started = time.monotonic()
    node0 = cluster.nodes[0]
    node0.run(["cibadmin", "--replace", "-o", "resources", "--xml-text", f"<resources>{setup.resources}</resources>"])
    if setup.constraints:
        node0.run(["cibadmin", "--replace", "-o", "constraints", "--xml-text",
                   f"<constraints>{setup.constraints}</constraints>"])
    for rid in setup.start_after_constraints:
        node0.run(["crm_resource", "-r", rid, "--meta", "-d", "target-role"])
    node, _ = cluster.wait_for(lambda st: st.group_node(setup.members), SETTLE_TIMEOUT, f"{setup.name} start")
    with cl.Poller(cluster, service.kind, VIP, **service.poll_target()) as poller:
        if poller.wait_ok_after(0.0, SERVED_TIMEOUT) is None:
            raise cl.ClusterError(f"{setup.name}: client not served on {VIP} within {SERVED_TIMEOUT:.0f} s: "
                                  f"{poller.lines()[-3:]}")
    return node, time.monotonic() - started


@dataclass
class Trial:
    setup: str
    fault: str  # "SIGSTOP" or "SIGKILL"
    from_node: str
    served_seconds: float | None  # stall -> first healthy client probe started after it; None: not within cap
    moved_to: str | None  # where the members run at the end of the trial
    failures: list = field(default_factory=list)  # crm_mon's failed actions at the end
    client_failures: int = 0  # failed client probes after the fault
    declared_seconds: float | None = None  # fault -> the watch's verdict (alert 6 / 98 in from_node's journal)
    alerts: list = field(default_factory=list)  # the watch's alert ids on from_node after the fault
    evidence: str = ""  # FSWATCH_EVIDENCE_TEXT of the declaring evidence (alert 114/115), if any
    pushed: str = ""  # FSWATCH_PUSH of alert 116 (told the cluster at once), if any

    @property
    def detected(self) -> bool:
        return self.served_seconds is not None


def inject(cluster: cl.Cluster, node_name: str, service: Service, fault: str) -> list[int]:
    """SIGSTOP every process of the daemon's unit, or SIGKILL its main process, by PID."""
    node = cluster.node(node_name)
    if fault == "SIGSTOP":
        pids = cluster.signal_unit(node, f"{service.unit}.service", signal.SIGSTOP)
    else:
        pids = cluster.signal_unit(node, f"{service.unit}.service", signal.SIGKILL, main_only=True)
    if not pids:
        raise cl.ClusterError(f"no {service.unit} process on {node_name} to {fault}")
    return pids


def release(cluster: cl.Cluster, node_name: str, service: Service, pids: list[int]) -> None:
    """SIGCONT the stalled PIDs that are still processes of the unit (never a reused PID)."""
    node = cluster.node(node_name)
    still = sorted(set(pids) & set(cluster.service_pids(node, f"{service.unit}.service")))
    if still:
        node.run(["kill", "-CONT", *map(str, still)], check=False)


def trial(cluster: cl.Cluster, setup: Setup, service: Service, fault: str, cap: float) -> Trial:
    """One fault on the node running ``setup``; waits at most ``cap`` s for the client to be served."""
    from_node = cluster.wait_for(lambda st: st.group_node(setup.members), SETTLE_TIMEOUT, setup.name)[0]
    with cl.Poller(cluster, service.kind, VIP, max_seconds=cap + 60, **service.poll_target()) as poller:
        if poller.wait_ok_after(0.0, SERVED_TIMEOUT) is None:
            raise cl.ClusterError(f"{setup.name}: client not served before the fault: {poller.lines()[-3:]}")
        t0, t0_wall = time.monotonic(), time.time()
        pids = inject(cluster, from_node, service, fault)
        try:
            served = poller.wait_ok_after(t0, cap, after_failure=True)
        finally:
            if fault == "SIGSTOP":
                release(cluster, from_node, service, pids)
        client_failures = sum(1 for ln in poller.lines() if ln["start"] >= t0 and not ln["ok"])
    st = cluster.state()
    moved_to = st.group_node(setup.members)
    if served is not None and moved_to is None:  # served before crm_mon shows every member started
        moved_to = cluster.wait_for(lambda st: st.group_node(setup.members), SETTLE_TIMEOUT, setup.name)[0]
    node = cluster.node(from_node)
    tr = Trial(setup.name, fault, from_node, None if served is None else served["end"] - t0,
               moved_to, st.failures(), client_failures, declared_after(node, t0_wall))
    entries = node.journal(args=[f"--since=@{int(t0_wall) - 1}", "SYSLOG_IDENTIFIER=fswatch"])
    entries = [e for e in entries if int(e["__REALTIME_TIMESTAMP"]) / 1e6 >= t0_wall and e.get("FSWATCH_EVENT")]
    tr.alerts = [int(e["FSWATCH_EVENT"]) for e in entries]
    early = [e for e in entries if e["FSWATCH_EVENT"] in ("114", "115")]
    tr.evidence = early[0].get("FSWATCH_EVIDENCE_TEXT", "") if early else ""
    tr.pushed = next((e.get("FSWATCH_PUSH", "") for e in entries if e["FSWATCH_EVENT"] == "116"), "")
    return tr


# The watch's verdict: alert 6 (the watch ends: resource mode) or 98 (it keeps probing and
# publishing: attribute mode), with the journal's microsecond timestamp (one realtime clock
# for the host and the containers).
VERDICT_ALERTS = ("6", "98")


def declared_after(node, t0_wall: float) -> float | None:
    """Seconds from ``t0_wall`` to the first verdict a watch on ``node`` logged after it."""
    matches = [f"FSWATCH_EVENT={a}" for a in VERDICT_ALERTS]  # one field twice: either matches
    entries = node.journal(args=[f"--since=@{int(t0_wall) - 1}", *matches])
    stamps = sorted(int(e["__REALTIME_TIMESTAMP"]) / 1e6 for e in entries)
    return next((ts - t0_wall for ts in stamps if ts >= t0_wall), None)


def recover(cluster: cl.Cluster, setup: Setup, service: Service) -> str:
    """After a trial: clear fail counts (migration-threshold=1 bans the failed node), wait until
    the setup runs and a client is served again. A daemon that still does not serve (seen
    once: nfs-ganesha answering GETATTR with NFS3ERR_PERM after a 30 s SIGSTOP and SIGCONT,
    while its stock monitor said it ran) is restarted, so the next trial starts healthy.
    Returns what was done, for the record."""
    cluster.nodes[0].run(["crm_resource", "--cleanup"], timeout=30)
    cluster.settle()
    cluster.wait_for(lambda st: st.group_node(setup.members), SETTLE_TIMEOUT, f"{setup.name} after cleanup")
    if _served(cluster, service, SERVED_TIMEOUT / 2):
        return "cleanup"
    daemon_rid = "daemon-clone" if setup.attribute else "daemon"
    cluster.nodes[0].run(["crm_resource", "--restart", "-r", daemon_rid, f"--timeout={int(SETTLE_TIMEOUT)}s"],
                         timeout=SETTLE_TIMEOUT + 10)
    cluster.settle()
    cluster.wait_for(lambda st: st.group_node(setup.members), SETTLE_TIMEOUT, f"{setup.name} after restart")
    if not _served(cluster, service, SERVED_TIMEOUT):
        raise cl.ClusterError(f"{setup.name}: client not served after cleanup and a restart of {daemon_rid}")
    return f"cleanup, then restart of {daemon_rid} (not serving)"


def _served(cluster: cl.Cluster, service: Service, timeout: float) -> bool:
    with cl.Poller(cluster, service.kind, VIP, max_seconds=timeout + 5, **service.poll_target()) as poller:
        return poller.wait_ok_after(0.0, timeout) is not None


def unload(cluster: cl.Cluster, setup: Setup) -> None:
    cluster.reset()
    if setup.attribute:
        for node in cluster.nodes:
            node.run(["attrd_updater", "-n", setup.attribute, "-D"], check=False)

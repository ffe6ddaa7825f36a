"""bench/failover's CTDB rows: a stalled or killed smbd in a 3-node CTDB cluster, fswatch's event
script 45.fswatch beside CTDB's stock scripts against the stock scripts alone; and the same of
nfs-ganesha run by systemd beside CTDB, with 45.fswatch.

Run through `bench/failover` (`--engine ctdb` for these rows alone). It boots the CTDB tier's
three nodes once (tests/fixtures/ctdb_cluster.py), then for each monitor configuration and
fault repeats trials (tests/cluster/ctdb_scenarios.py: `trial`): the fault on the node that
hosts the first public address, timed from the signal until a client on the bridge is served
on that address again; then the fault is ended (SIGCONT, or smbd restarted) and the node waits
until it is healthy and every address served. Writes failover-ctdb.json and the "Failover,
CTDB" section of RESULTS.md.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List

import sections

from tests.cluster import ctdb_scenarios as cs
from tests.cluster import scenarios as sc
from tests.fixtures import ctdb_cluster as cc

FAULTS = ("SIGSTOP", "SIGKILL")
MONITORS = ("fswatch", "stock")  # 45.fswatch enabled beside the stock scripts, or the stock scripts alone
SECTION = "## Failover, CTDB"
SCHEDULE = sc.Schedule(**cc.WATCH_SCHEDULE)


def run(run_info: dict, trials: int, cap: float, out_dir: Path, say: Callable[[str], None]) -> str:
    """Every row's trials; returns the markdown section (also written into RESULTS.md)."""
    began = time.monotonic()
    info = {**run_info, "trials": trials, "cap_s": cap, "schedule": SCHEDULE.__dict__,
            "fswatch_bound_s": SCHEDULE.bound(), "monitor_interval_s": cc.MONITOR_INTERVAL}
    results: List[dict] = []
    address = cc.PUBLIC_ADDRESSES[0]
    root, _, log_dir = sc.tier_prologue()
    with cc.CtdbCluster(root, log_dir=log_dir) as cluster:
        say(f"CTDB: 3 nodes OK, every public address served, {cluster.boot_seconds:.1f} s after the start "
            f"(NO CLUSTER LOCK: test cluster only); logs in {log_dir}")
        rows = [(sc.SAMBA, monitor) for monitor in MONITORS] + [(sc.NFS, "fswatch")]
        for service, monitor in rows:
            cluster.scripts("enable" if monitor == "fswatch" else "disable", cc.FSWATCH_SCRIPT)
            if service is sc.NFS:
                cluster.serve_nfs(SCHEDULE.__dict__)  # its watches are started by 45.fswatch's next monitor event
            for fault in FAULTS:
                for i in range(trials):
                    results.append(one(cluster, service, monitor, fault, cap, address, say, f"#{i + 1}"))
                    save(out_dir, info, results)  # a crash later loses nothing measured
        cluster.scripts("enable", cc.FSWATCH_SCRIPT)
    info["total_s"] = round(time.monotonic() - began, 1)
    save(out_dir, info, results)
    section = markdown(info, results)
    sections.replace(out_dir / "RESULTS.md", "failoverctdb", section)
    return section


def one(cluster: cc.CtdbCluster, service: sc.Service, monitor: str, fault: str, cap: float, address: str,
        say: Callable[[str], None], label: str) -> dict:
    """One trial, then the fault ended and the cluster back to every node OK and every address served."""
    load = os.getloadavg()[0]
    tr = cs.trial(cluster, address, fault, cap, monitor=monitor, service=service)
    served = "not served" if tr.served_seconds is None else f"{tr.served_seconds:.2f} s"
    say(f"  CTDB {service.kind} {monitor} {fault} {label}: {tr.from_node} -> {tr.moved_to}: {served} "
        f"(load {load:.1f})")
    result = {
        "service": service.kind, "monitor": monitor, "fault": fault, "address": address,
        "from": tr.from_node, "to": tr.moved_to, "served_s": tr.served_seconds,
        "unhealthy_s": tr.unhealthy_seconds, "moved_s": tr.moved_seconds,
        "declared_s": tr.declared_seconds, "client_failures": tr.client_failures,
        "loadavg_1min": round(load, 1),
    }
    cs.release(cluster, tr)
    try:
        recovered = cs.wait_recovered(cluster, tr.from_node, service=service)
    except cc.CtdbError as exc:
        # Seen with nfs-ganesha after a long SIGSTOP in the Pacemaker bench (tests/cluster/scenarios.py,
        # recover): a server that does not serve again is restarted, so the next trial starts healthy.
        say(f"    not recovered ({str(exc).splitlines()[0]}): restarting {service.unit} on {tr.from_node}")
        cluster.node(tr.from_node).systemctl("restart", f"{service.unit}.service", timeout=60)
        recovered = cs.wait_recovered(cluster, tr.from_node, service=service)
        result["restarted"] = True
    result["recovered"] = {k: round(v, 2) for k, v in recovered.items()}
    return result


def save(out_dir: Path, info: dict, results: List[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "failover-ctdb.json").write_text(json.dumps({"run": info, "trials": results}, indent=2) + "\n")


def _median(values: List[float]):
    return statistics.median(values) if values else None


def summarize(results: List[dict]) -> List[Dict[str, object]]:
    rows = []
    for service, monitor, fault in dict.fromkeys((r["service"], r["monitor"], r["fault"]) for r in results):
        runs = [r for r in results if (r["service"], r["monitor"], r["fault"]) == (service, monitor, fault)]
        served = [r["served_s"] for r in runs if r["served_s"] is not None]
        rows.append({
            "service": service, "monitor": monitor, "fault": fault, "trials": len(runs), "served": len(served),
            "min": min(served) if served else None, "median": _median(served),
            "max": max(served) if served else None,
            "unhealthy": _median([r["unhealthy_s"] for r in runs if r["unhealthy_s"] is not None]),
            "moved": _median([r["moved_s"] for r in runs if r["moved_s"] is not None]),
            "verdict": _median([r["declared_s"] for r in runs if r["declared_s"] is not None]),
            "verdicts": sum(1 for r in runs if r["declared_s"] is not None),
        })
    return rows


def _s(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown(info: dict, results: List[dict]) -> str:
    git = info["git"]
    commit = f"`{git['commit']}`" + (" (dirty tree)" if git["dirty"] else " (clean tree)")
    sched = info["schedule"]
    loads = [r["loadavg_1min"] for r in results] or [0.0]
    labels = {"fswatch": "45.fswatch + stock", "stock": "stock scripts only"}
    servers = {"samba": "smbd", "nfs": "nfs-ganesha (systemd)"}
    lines = [
        SECTION,
        "",
        f"Written by `bench/failover --engine ctdb` on {info['date']} in {info['total_s']} s ({info['mode']} run), "
        f"commit {commit}, {info['machine']['cpu_model']}, {info['machine']['cores']} cores, shared: 1-min load "
        f"average {min(loads):.1f}-{max(loads):.1f} at the trials' starts. Raw data: `failover-ctdb.json` beside "
        "this file.",
        "",
        "A real 3-node CTDB 4.17 cluster of booted nspawn containers on a private bridge "
        "(tests/fixtures/ctdb_cluster.py; **no cluster lock: test cluster only**): ctdbd on the nodes' private "
        f"addresses, three public addresses, MonitorInterval {info['monitor_interval_s']} s (CTDB's default is "
        f"15 s), RerecoveryTimeout {cc.RERECOVERY_TIMEOUT} s (10 s; only the boot waits for it), the other "
        "tunables at their defaults; smbd with `clustering = yes` on every node, started by "
        "CTDB's `50.samba`. Stock scripts: 00.ctdb, 01.reclock, 05.system, 10.interface, 50.samba. The fswatch "
        f"rows add `45.fswatch` and a watch for CTDB on every node probing its own smbd (127.0.0.1) with "
        f"interval={sched['interval']} retries={sched['retries']} timeout={sched['timeout']} (SPEC §2 bound "
        f"{info['fswatch_bound_s']:.1f} s). The nfs-ganesha rows: nfs-ganesha started by systemd on every node "
        "beside CTDB, not by `60.nfs` (CTDB's ganesha callout needs GPFS or GlusterFS: README, CTDB), and a second "
        "watch for CTDB on every node probing its own ganesha (NFSv3 MNT + GETATTR + FSSTAT at 127.0.0.1); no "
        "stock script checks ganesha there, so there are no stock rows for it.",
        "",
        "Fault on the node hosting the first public address: **SIGSTOP** of every process of `smbd.service`, or "
        "**SIGKILL** of its main process (and the same of `nfs-ganesha.service`). Served again: from the signal "
        "until a client tree connect (NFS: MNT + GETATTR) from a netns on the bridge (fswatch's own probe, deadline "
        "1 s, every 0.1 s) that started after the first failed one "
        "succeeds on that address, served by another node. Not served within "
        f"{info['cap_s']:.0f} s = not detected (the address stays on the stalled node). UNHEALTHY and moved: "
        "from the signal until `ctdb status` flags the node and `ctdb ip all` shows the address on another node "
        f"(read every {cc.POLL} s). fswatch verdict: to the watch's alert 98 in the node's journal (in the stock "
        "rows the watch runs too, but its script is disabled: CTDB does not hear it).",
        "",
        "| server | monitor | fault | served again | min (s) | median (s) | max (s) | UNHEALTHY, median (s) "
        "| moved, median (s) | fswatch verdict, median (s) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in summarize(results):
        served = f"{row['served']}/{row['trials']}"
        if row["served"] == 0:
            served += f" (not within {info['cap_s']:.0f} s)"
        verdict = "–" if row["verdict"] is None else f"{row['verdict']:.2f} ({row['verdicts']}/{row['trials']})"
        lines.append(f"| {servers[row['service']]} | {labels[row['monitor']]} | {row['fault']} | {served} | "
                     f"{_s(row['min'])} | {_s(row['median'])} | {_s(row['max'])} | {_s(row['unhealthy'])} | "
                     f"{_s(row['moved'])} | {verdict} |")
    restarted = sum(1 for r in results if r.get("restarted"))
    back = [r["recovered"]["address_back"] for r in results if r.get("recovered")]
    if back:
        lines += ["", "After each trial the fault was ended (SIGCONT, or `systemctl restart` of the server): the node "
                  f"was OK and hosted an address again after {min(back):.1f}-{max(back):.1f} s (median "
                  f"{statistics.median(back):.1f} s); a server that did not serve again was restarted: "
                  f"{restarted} time(s)."]
    return "\n".join(lines) + "\n"

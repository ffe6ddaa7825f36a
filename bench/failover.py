"""Failover time in a real 3-node Pacemaker cluster: fswatch's OCF agent vs the stock monitors
(and in a 3-node CTDB cluster: fswatch's event script vs CTDB's stock scripts, bench/failover_ctdb.py).

Run through `bench/failover` (sets the machine up first). It boots the cluster tier's three
nodes once (tests/fixtures/cluster.py), then for each file service and each way of
monitoring it loads a group (floating IP + the daemon as `systemd:UNIT`, plus
`ocf:fswatch:KIND` probing the floating IP for the fswatch configuration), and repeats
trials: a fault on the node running the group (SIGSTOP of every process of the daemon's
unit, or SIGKILL of its main process), timed from that instant until a client on the bridge
is served on the floating IP again (tests/cluster/scenarios.py: `trial`). Writes
failover.json and the "Failover" section of RESULTS.md in bench/ (a --quick run: bench/quick/).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import failover_ctdb  # noqa: E402
import procfs  # noqa: E402
import sections  # noqa: E402

from tests.cluster import scenarios as sc  # noqa: E402
from tests.fixtures import cluster as cl  # noqa: E402
from tests.fixtures import container as ct  # noqa: E402

SCHEDULE = sc.Schedule(interval=1, retries=1, timeout=2)
FAULTS = ("SIGSTOP", "SIGKILL")
SECTION = "## Failover"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/failover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 trials each instead of 5; writes bench/quick/")
    parser.add_argument("--trials", type=int, default=None, help="trials per configuration and fault (5)")
    parser.add_argument("--cap", type=float, default=30.0, help="seconds to wait for the client to be served (30)")
    parser.add_argument("--output-dir", type=Path, default=None, help="default bench/ (full) or bench/quick/")
    parser.add_argument("--engine", choices=("all", "pacemaker", "ctdb"), default="all",
                        help="the Pacemaker rows, the CTDB rows (bench/failover_ctdb.py), or both (default)")
    args = parser.parse_args(argv)
    trials = args.trials or (2 if args.quick else 5)
    out_dir = args.output_dir or (HERE / "quick" if args.quick else HERE)
    began = time.monotonic()
    run = {
        "mode": "quick" if args.quick else "full",
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": procfs.machine(),
        "trials": trials,
        "cap_s": args.cap,
        "schedule": SCHEDULE.__dict__,
        "fswatch_bound_s": SCHEDULE.bound(),
        "monitor_interval_s": sc.MONITOR_INTERVAL,
    }
    if args.engine == "ctdb":
        return run_ctdb(run, trials, args.cap, out_dir)
    results: List[dict] = []
    ct.reap_orphaned_containers()
    say("node root ...")
    root = cl.build_node_root()
    log_dir = cl.new_log_dir()
    with cl.Cluster(root, log_dir=log_dir) as cluster:
        say(f"3 nodes online with quorum in {cluster.boot_seconds:.1f} s (FENCING OFF: test cluster only); "
            f"logs in {log_dir}")
        if not cluster.agents_installed:
            raise SystemExit(f"bench/failover: {cluster.agent_problem}")
        for service in (sc.SAMBA, sc.NFS):
            for with_agent in (True, False):
                setup = sc.group_setup(service, SCHEDULE, with_agent)
                say(f"{setup.name}: loading")
                sc.load(cluster, setup, service)
                try:
                    for fault in FAULTS:
                        for i in range(trials):
                            load = os.getloadavg()[0]
                            tr = sc.trial(cluster, setup, service, fault, args.cap)
                            served = "not served" if tr.served_seconds is None else f"{tr.served_seconds:.2f} s"
                            say(f"  {fault} #{i + 1}: {tr.from_node} -> {tr.moved_to}: {served} (load {load:.1f})")
                            results.append({
                                "service": service.kind, "monitor": "fswatch" if with_agent else service.stock,
                                "fault": fault, "served_s": tr.served_seconds, "from": tr.from_node,
                                "to": tr.moved_to, "failed_ops": sorted({f["op_key"] for f in tr.failures}),
                                "loadavg_1min": round(load, 1), "declared_s": tr.declared_seconds,
                            })
                            results[-1]["after"] = sc.recover(cluster, setup, service)
                            if results[-1]["after"] != "cleanup":
                                say(f"    {results[-1]['after']}")
                            save(out_dir, run, results)  # a crash later loses nothing measured
                finally:
                    sc.unload(cluster, setup)
    run["total_s"] = round(time.monotonic() - began, 1)
    save(out_dir, run, results)
    section = markdown(run, results)
    write_section(out_dir / "RESULTS.md", section)
    print()
    print(section)
    say(f"{run['mode']} run: {run['total_s']} s; wrote {out_dir / 'failover.json'} and the Failover "
        f"section of {out_dir / 'RESULTS.md'}")
    if args.engine == "all":
        return run_ctdb(run, trials, args.cap, out_dir)
    return 0


def run_ctdb(run: dict, trials: int, cap: float, out_dir: Path) -> int:
    """The CTDB rows (bench/failover_ctdb.py), in a section of RESULTS.md of their own."""
    began = time.monotonic()
    section = failover_ctdb.run({k: run[k] for k in ("mode", "date", "git", "machine")}, trials, cap, out_dir, say)
    print()
    print(section)
    say(f"CTDB rows: {time.monotonic() - began:.1f} s; wrote {out_dir / 'failover-ctdb.json'} and the "
        f"'Failover, CTDB' section of {out_dir / 'RESULTS.md'}")
    return 0


def save(out_dir: Path, run: dict, results: List[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "failover.json").write_text(json.dumps({"run": run, "trials": results}, indent=2) + "\n")


def summarize(results: List[dict]) -> List[Dict[str, object]]:
    rows = []
    seen = []
    for r in results:
        key = (r["service"], r["monitor"], r["fault"])
        if key not in seen:
            seen.append(key)
    for service, monitor, fault in seen:
        runs = [r for r in results if (r["service"], r["monitor"], r["fault"]) == (service, monitor, fault)]
        times = [r["served_s"] for r in runs if r["served_s"] is not None]
        verdicts = [r["declared_s"] for r in runs if r.get("declared_s") is not None]
        rows.append({
            "service": service, "monitor": monitor, "fault": fault, "trials": len(runs), "served": len(times),
            "min": min(times) if times else None, "median": statistics.median(times) if times else None,
            "max": max(times) if times else None,
            "verdict": statistics.median(verdicts) if verdicts else None, "verdicts": len(verdicts),
        })
    return rows


def _s(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown(run: dict, results: List[dict]) -> str:
    git = run["git"]
    commit = f"`{git['commit']}`" + (" (dirty tree)" if git["dirty"] else " (clean tree)")
    sched = run["schedule"]
    loads = [r["loadavg_1min"] for r in results] or [0.0]
    lines = [
        SECTION,
        "",
        f"Written by `bench/failover` on {run['date']} in {run['total_s']} s ({run['mode']} run), commit {commit}, "
        f"{run['machine']['cpu_model']}, {run['machine']['cores']} cores, shared: 1-min load average "
        f"{min(loads):.1f}-{max(loads):.1f} at the trials' starts. Raw data: `failover.json` beside this file.",
        "",
        "A real 3-node cluster (Pacemaker 2.1.5, Corosync 3.1.7 knet, token 1000 ms) of booted nspawn containers "
        "on a private bridge (tests/fixtures/cluster.py; **fencing off: test cluster only**). Group = "
        "`ocf:heartbeat:IPaddr2` floating IP + the daemon as `systemd:smbd` / `systemd:nfs-ganesha` (resource-agents "
        "4.12 has no ganesha agent: the systemd unit is what a Pacemaker user runs) + for the fswatch rows "
        f"`ocf:fswatch:KIND` probing the floating IP with interval={sched['interval']} retries={sched['retries']} "
        f"timeout={sched['timeout']} (SPEC §2 bound {run['fswatch_bound_s']:.1f} s). Every recurring monitor op "
        f"(the agent's and the stock `systemd:` one) at interval {run['monitor_interval_s']} s; "
        "migration-threshold=1, stickiness 100.",
        "",
        "Fault on the node running the group: **SIGSTOP** of every process of the daemon's unit (a stall: the "
        "process exists, answers nobody), or **SIGKILL** of its main process. Time: from the signal until a client "
        "probe from a netns on the bridge (fswatch's own probe: SMB tree connect / NFS MNT + GETATTR, deadline 1 s, "
        "every 0.1 s) that started after the first failed one succeeds on the floating IP — the service answering "
        f"from another node. Not served within {run['cap_s']:.0f} s = not detected (the group stays put). "
        "fswatch verdict: from the signal to the watch's alert 6 in the node's journal (where it has one before "
        "the failover: after a SIGKILL the stock `systemd:` monitor usually reports first and Pacemaker stops the "
        "watch).",
        "",
        "| service | monitor | fault | served again | min (s) | median (s) | max (s) | fswatch verdict, median (s) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in summarize(results):
        served = f"{row['served']}/{row['trials']}"
        if row["served"] == 0:
            served += f" (not within {run['cap_s']:.0f} s)"
        verdict = "–" if row["verdict"] is None else f"{row['verdict']:.2f} ({row['verdicts']}/{row['trials']})"
        lines.append(f"| {row['service']} | {row['monitor']} | {row['fault']} | {served} | {_s(row['min'])} | "
                     f"{_s(row['median'])} | {_s(row['max'])} | {verdict} |")
    lines += ["", "Failed operations Pacemaker recorded (which monitor saw the fault):", ""]
    seen = {}
    for r in results:
        seen.setdefault((r["service"], r["monitor"], r["fault"]), set()).update(r["failed_ops"])
    for (service, monitor, fault), ops in seen.items():
        lines.append(f"- {service}, {monitor}, {fault}: {', '.join(sorted(ops)) or 'none'}")
    restarts = [r for r in results if r.get("after", "cleanup") != "cleanup"]
    lines += ["", "Between trials: `crm_resource --cleanup`, then a client probe; a daemon that did not serve "
              f"then was restarted (`crm_resource --restart`): {len(restarts)} time(s)" + (":" if restarts else ".")]
    lines += [f"- after {r['service']}, {r['monitor']}, {r['fault']} on {r['from']}: {r['after']}" for r in restarts]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace RESULTS.md's Failover section (or append it), keeping bench/run's sections."""
    sections.replace(path, "failover", section)


def git_state() -> dict:
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "fswatch",
                                                                             "tests", "bench", "packaging"))}


if __name__ == "__main__":
    sys.exit(main())

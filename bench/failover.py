"""Failover time in a real 3-node Pacemaker cluster: fswatch's OCF agent vs the stock monitors
(and in a 3-node CTDB cluster: fswatch's event script vs CTDB's stock scripts, bench/failover_ctdb.py).

Run through `bench/failover` (sets the machine up first). It boots the cluster tier's three
nodes once (tests/fixtures/cluster.py), then for each file service, each way of monitoring it
and each load (the machine as it is, then with stress-ng on both cores) loads a group
(floating IP + the daemon as `systemd:UNIT`, plus `ocf:fswatch:KIND` probing the floating IP
for the fswatch rows) and repeats trials: a fault on the node running the group (SIGSTOP of
every process of the daemon's unit, or SIGKILL of its main process), timed from that instant
until a client on the bridge is served on the floating IP again (tests/cluster/scenarios.py:
`trial`). The fswatch rows: the agent as it is now (evidence from the server's process, the
verdict pushed to Pacemaker: issue 18) and as it was (evidence=off push=false: the retry rule,
the monitor as the only messenger).

Then the push candidates (issue 18, point 2): with the group's daemon SIGSTOPped, the command
that tells Pacemaker, run on that node at the same instant — `crm_resource --fail` for the
resource, or a `#health-*` node attribute set red with node-health-strategy=migrate-on-red —
timed until the client is served again: Pacemaker's part alone, the same for every watch.

Writes failover.json and the "Failover" section of RESULTS.md in bench/ (a --quick run:
bench/quick/).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import failover_ctdb  # noqa: E402
import procfs  # noqa: E402
import sections  # noqa: E402
import soakload  # noqa: E402

from tests.cluster import scenarios as sc  # noqa: E402
from tests.fixtures import cluster as cl  # noqa: E402
from tests.fixtures import container as ct  # noqa: E402

SCHEDULE = sc.Schedule(interval=1, retries=2, timeout=2)  # issue 18's
FAULTS = ("SIGSTOP", "SIGKILL")
# (row label, the agent's extra parameters; None: the stock monitor alone)
MONITORS = (
    ("fswatch: evidence + push", sc.EVIDENCE_AND_PUSH),
    ("fswatch: retries only", sc.RETRIES_ONLY),
    (None, None),
)
LOADS = ("idle", "load")
LOAD_STRESSORS = ["--cpu", "2"]  # both cores busy, as `make test-under-load` does
CANDIDATES = ("crm_resource --fail", "#health red")
HEALTH_ATTRIBUTE = "#health-fswatch-bench"
SECTION = "## Failover"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/failover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 trials each instead of 5; writes bench/quick/")
    parser.add_argument("--trials", type=int, default=None, help="trials per configuration and fault (5)")
    parser.add_argument("--cap", type=float, default=30.0, help="seconds to wait for the client to be served (30)")
    parser.add_argument("--output-dir", type=Path, default=None, help="default bench/ (full) or bench/quick/")
    parser.add_argument("--loads", default=",".join(LOADS), help="idle,load (default both)")
    parser.add_argument("--engine", choices=("all", "pacemaker", "ctdb"), default="all",
                        help="the Pacemaker rows, the CTDB rows (bench/failover_ctdb.py), or both (default)")
    args = parser.parse_args(argv)
    trials = args.trials or (2 if args.quick else 5)
    out_dir = args.output_dir or (HERE / "quick" if args.quick else HERE)
    loads = [x for x in args.loads.split(",") if x in LOADS]
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
        "stopped_bound_s": SCHEDULE.interval + SCHEDULE.timeout + 0.5,
        "monitor_interval_s": sc.MONITOR_INTERVAL,
        "load_stressors": LOAD_STRESSORS,
    }
    if args.engine == "ctdb":
        return run_ctdb(run, trials, args.cap, out_dir)
    results: List[dict] = []
    candidates: List[dict] = []
    ct.reap_orphaned_containers()
    say("node root ...")
    root = cl.build_node_root()
    log_dir = cl.new_log_dir()
    with cl.Cluster(root, log_dir=log_dir) as cluster:
        say(f"3 nodes online with quorum in {cluster.boot_seconds:.1f} s (FENCING OFF: test cluster only); "
            f"logs in {log_dir}")
        if not cluster.agents_installed:
            raise SystemExit(f"bench/failover: {cluster.agent_problem}")
        for load in loads:
            with loaded(load, out_dir):
                for service in (sc.SAMBA, sc.NFS):
                    for label, params in MONITORS:
                        setup = sc.group_setup(service, SCHEDULE, label is not None, params, label or "")
                        monitor = label or service.stock
                        say(f"{setup.name} ({load}): loading")
                        sc.load(cluster, setup, service)
                        try:
                            for fault in FAULTS:
                                for i in range(trials):
                                    results.append(measure(cluster, setup, service, fault, args.cap, monitor, load))
                                    say(f"  {fault} #{i + 1}: {line(results[-1])}")
                                    results[-1]["after"] = sc.recover(cluster, setup, service)
                                    save(out_dir, run, results, candidates)  # a crash later loses nothing measured
                        finally:
                            sc.unload(cluster, setup)
                    candidates += push_candidates(cluster, service, trials, args.cap, load)
                    save(out_dir, run, results, candidates)
    run["total_s"] = round(time.monotonic() - began, 1)
    save(out_dir, run, results, candidates)
    section = markdown(run, results, candidates)
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


@contextlib.contextmanager
def loaded(load: str, out_dir: Path):
    """The machine as it is ("idle": other users' runs go on), or with stress-ng on both cores."""
    if load == "idle":
        yield
        return
    logs = Path(tempfile.mkdtemp(prefix="fswatch-failover-"))
    stress = soakload.Stress("failover-cpu", LOAD_STRESSORS, 4 * 3600, logs / "stress-ng.log")
    stress.start()
    time.sleep(5)  # the load average climbs
    try:
        yield
    finally:
        stress.stop()
        shutil.rmtree(logs, ignore_errors=True)


def measure(cluster: cl.Cluster, setup: sc.Setup, service: sc.Service, fault: str, cap: float, monitor: str,
            load: str) -> dict:
    loadavg = os.getloadavg()[0]
    tr = sc.trial(cluster, setup, service, fault, cap)
    return {
        "service": service.kind, "monitor": monitor, "fault": fault, "load": load, "served_s": tr.served_seconds,
        "from": tr.from_node, "to": tr.moved_to, "failed_ops": sorted({f["op_key"] for f in tr.failures}),
        "loadavg_1min": round(loadavg, 1), "declared_s": tr.declared_seconds, "alerts": tr.alerts,
        "evidence": tr.evidence, "pushed": tr.pushed,
    }  # fmt: skip


def line(r: dict) -> str:
    served = "not served" if r["served_s"] is None else f"{r['served_s']:.2f} s"
    verdict = "" if r["declared_s"] is None else f", verdict {r['declared_s']:.2f} s"
    early = " (evidence, pushed)" if 114 in r["alerts"] and r["pushed"] else " (evidence)" if 114 in r["alerts"] else ""
    return f"{r['from']} -> {r['to']}: {served}{verdict}{early} (load {r['loadavg_1min']:.1f})"


def push_candidates(cluster: cl.Cluster, service: sc.Service, trials: int, cap: float, load: str) -> List[dict]:
    """Pacemaker's part for each way of telling it: the daemon SIGSTOPped and, at that instant,
    the candidate's command run on its node; until the client is served from another node."""
    setup = sc.group_setup(service, SCHEDULE, with_agent=False)
    sc.load(cluster, setup, service)
    out = []
    try:
        for i in range(trials):
            for candidate in CANDIDATES:
                out.append(push_trial(cluster, setup, service, candidate, cap, load))
                r = out[-1]
                say(f"  push candidate {candidate} #{i + 1} ({service.kind}, {load}): command {r['command_s']:.3f} s, "
                    f"served {r['served_s'] if r['served_s'] is None else round(r['served_s'], 2)} s after it")
                sc.recover(cluster, setup, service)
    finally:
        sc.unload(cluster, setup)
    return out


def push_trial(cluster: cl.Cluster, setup: sc.Setup, service: sc.Service, candidate: str, cap: float,
               load: str) -> dict:
    from_node = cluster.wait_for(lambda st: st.group_node(setup.members), sc.SETTLE_TIMEOUT, setup.name)[0]
    node = cluster.node(from_node)
    if candidate == "#health red":
        cluster.nodes[0].run(["crm_attribute", "--type", "crm_config", "--name", "node-health-strategy",
                              "--update", "migrate-on-red"])  # fmt: skip
    served: Optional[dict] = None
    try:
        with cl.Poller(cluster, service.kind, sc.VIP, max_seconds=cap + 60, **service.poll_target()) as poller:
            if poller.wait_ok_after(0.0, sc.SERVED_TIMEOUT) is None:
                raise cl.ClusterError(f"{setup.name}: client not served before the push trial")
            pids = sc.inject(cluster, from_node, service, "SIGSTOP")
            t0 = time.monotonic()
            if candidate == "crm_resource --fail":
                node.run(["crm_resource", "--fail", "--resource", "daemon", "--node", from_node])
            else:
                node.run(["attrd_updater", "-n", HEALTH_ATTRIBUTE, "-U", "red"])
            command = time.monotonic() - t0
            try:
                served = poller.wait_ok_after(t0, cap, after_failure=True)
            finally:
                sc.release(cluster, from_node, service, pids)
    finally:
        if candidate == "#health red":
            node.run(["attrd_updater", "-n", HEALTH_ATTRIBUTE, "-D"], check=False)
            cluster.nodes[0].run(["crm_attribute", "--type", "crm_config", "--name", "node-health-strategy",
                                  "--delete"], check=False)  # fmt: skip
            cluster.settle()
    moved = cluster.wait_for(lambda st: st.group_node(setup.members), sc.SETTLE_TIMEOUT, setup.name)[0]
    return {"service": service.kind, "candidate": candidate, "load": load, "command_s": round(command, 3),
            "served_s": None if served is None else served["end"] - t0, "from": from_node, "to": moved,
            "loadavg_1min": round(os.getloadavg()[0], 1)}  # fmt: skip


def save(out_dir: Path, run: dict, results: List[dict], candidates: List[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"run": run, "trials": results, "push_candidates": candidates}
    (out_dir / "failover.json").write_text(json.dumps(data, indent=2) + "\n")


def _median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def summarize(results: List[dict]) -> List[Dict[str, object]]:
    rows = []
    seen = []
    for r in results:
        key = (r["service"], r.get("load", "idle"), r["monitor"], r["fault"])
        if key not in seen:
            seen.append(key)
    for service, load, monitor, fault in seen:
        runs = [r for r in results if (r["service"], r.get("load", "idle"), r["monitor"], r["fault"])
                == (service, load, monitor, fault)]  # fmt: skip
        times = [r["served_s"] for r in runs if r["served_s"] is not None]
        verdicts = [r["declared_s"] for r in runs if r.get("declared_s") is not None]
        rows.append({
            "service": service, "load": load, "monitor": monitor, "fault": fault, "trials": len(runs),
            "served": len(times), "min": min(times) if times else None, "median": _median(times),
            "max": max(times) if times else None, "verdict": _median(verdicts), "verdicts": len(verdicts),
            "early": sum(1 for r in runs if 114 in r.get("alerts", [])),
            "pushed": sum(1 for r in runs if r.get("pushed")),
            "pacemaker": _median([r["served_s"] - r["declared_s"] for r in runs
                                  if r["served_s"] is not None and r.get("declared_s") is not None]),
            "loads": [r["loadavg_1min"] for r in runs],
        })  # fmt: skip
    return rows


def _s(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def goals(rows: List[Dict[str, object]]) -> List[str]:
    """Issue 18's goal: a SIGSTOPped server served again no later than the stock monitor's
    SIGKILL row + 1 s (medians, per service and load)."""
    lines = []
    for row in rows:
        if not str(row["monitor"]).startswith("fswatch: evidence") or row["fault"] != "SIGSTOP":
            continue
        stock = next((r for r in rows if r["service"] == row["service"] and r["load"] == row["load"]
                      and str(r["monitor"]).startswith("systemd:") and r["fault"] == "SIGKILL"), None)  # fmt: skip
        if stock is None or row["median"] is None or stock["median"] is None:
            continue
        goal = stock["median"] + 1.0
        met = "met" if row["median"] <= goal else "**not met**"
        lines.append(f"- {row['service']}, {row['load']}: SIGSTOP with evidence + push served again after "
                     f"{row['median']:.2f} s (median) against the stock SIGKILL row's {stock['median']:.2f} s + 1 s "
                     f"= {goal:.2f} s: {met} ({row['median'] - stock['median']:+.2f} s)")
    return lines


def markdown(run: dict, results: List[dict], candidates: List[dict]) -> str:
    git = run["git"]
    commit = f"`{git['commit']}`" + (" (dirty tree)" if git["dirty"] else " (clean tree)")
    sched = run["schedule"]
    rows = summarize(results)
    lines = [
        SECTION,
        "",
        f"Written by `bench/failover` on {run['date']} in {run.get('total_s', '?')} s ({run['mode']} run), commit "
        f"{commit}, {run['machine']['cpu_model']}, {run['machine']['cores']} cores, shared with other users' test "
        "runs. Raw data: `failover.json` beside this file.",
        "",
        "A real 3-node cluster (Pacemaker 2.1.5, Corosync 3.1.7 knet, token 1000 ms) of booted nspawn containers "
        "on a private bridge (tests/fixtures/cluster.py; **fencing off: test cluster only**). Group = "
        "`ocf:heartbeat:IPaddr2` floating IP + the daemon as `systemd:smbd` / `systemd:nfs-ganesha` (resource-agents "
        "4.12 has no ganesha agent: the systemd unit is what a Pacemaker user runs) + for the fswatch rows "
        f"`ocf:fswatch:KIND` probing the floating IP with interval={sched['interval']} retries={sched['retries']} "
        f"timeout={sched['timeout']} (SPEC §2 bound {run['fswatch_bound_s']:.1f} s; for a server seen stopped "
        f"{run['stopped_bound_s']:.1f} s), run as its systemd unit in the node. **fswatch: evidence + push** is "
        "the agent's default since issue 18 (evidence=stopped, push=true: the watch samples the daemon's process and "
        "tells Pacemaker with `crm_resource --fail` the instant it declares); **fswatch: retries only** is the agent "
        "as it was (evidence=off push=false). Every recurring monitor op (the agent's and the stock `systemd:` one) "
        f"at interval {run['monitor_interval_s']} s; migration-threshold=1, stickiness 100. Load: **idle** = the "
        f"machine as it is (other users' runs included); **load** = also `stress-ng {' '.join(run['load_stressors'])}` "
        "on the host for the whole pass; the 1-min load averages at the trials' starts are in the last column.",
        "",
        "Fault on the node running the group: **SIGSTOP** of every process of the daemon's unit (a stall: the "
        "process exists, answers nobody), or **SIGKILL** of its main process. Served again: from the signal until a "
        "client probe from a netns on the bridge (fswatch's own probe: SMB tree connect / NFS MNT + GETATTR, "
        "deadline 1 s, every 0.1 s) that started after the first failed one succeeds on the floating IP — the "
        f"service answering from another node; not served within {run['cap_s']:.0f} s = not detected (the group "
        "stays put). Verdict: from the signal to the watch's alert 6 in the node's journal (after a SIGKILL the "
        "stock `systemd:` monitor usually reports first and Pacemaker stops the watch); Pacemaker: served − verdict; "
        "early: trials declared on evidence (alert 114); pushed: trials told at once (alert 116).",
        "",
        "| service | load | monitor | fault | served again | min (s) | median (s) | max (s) | verdict, median (s) "
        "| early / pushed | Pacemaker, median (s) | load average |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        served = f"{row['served']}/{row['trials']}"
        if row["served"] == 0:
            served += f" (not within {run['cap_s']:.0f} s)"
        verdict = "–" if row["verdict"] is None else f"{row['verdict']:.2f} ({row['verdicts']}/{row['trials']})"
        fswatch = str(row["monitor"]).startswith("fswatch")
        early = f"{row['early']} / {row['pushed']}" if fswatch else "–"
        loads = row["loads"] or [0.0]
        lines.append(f"| {row['service']} | {row['load']} | {row['monitor']} | {row['fault']} | {served} | "
                     f"{_s(row['min'])} | {_s(row['median'])} | {_s(row['max'])} | {verdict} | {early} | "
                     f"{_s(row['pacemaker'])} | {min(loads):.0f}–{max(loads):.0f} |")
    lines += ["", "Issue 18's goal (medians):", ""] + (goals(rows) or ["- (no rows to compare)"])
    if candidates:
        lines += [
            "",
            "### Telling Pacemaker: the candidates",
            "",
            "The daemon SIGSTOPped and, at the same instant, the command run on its node; from the command until the "
            "client is served from another node: Pacemaker's part alone, whatever decides to call it. "
            "`crm_resource --fail --resource daemon --node NODE` fails one resource (recovered as a failed monitor: "
            "fail count, migration-threshold); `attrd_updater -n #health-fswatch-bench -U red` with the property "
            "node-health-strategy=migrate-on-red bans the whole node.",
            "",
            "| service | load | candidate | trials | command, median (s) | served after it: min / median / max (s) |",
            "| --- | --- | --- | ---: | ---: | ---: |",
        ]
        keys = []
        for c in candidates:
            key = (c["service"], c["load"], c["candidate"])
            if key not in keys:
                keys.append(key)
        for service, load, candidate in keys:
            runs = [c for c in candidates if (c["service"], c["load"], c["candidate"]) == (service, load, candidate)]
            times = [c["served_s"] for c in runs if c["served_s"] is not None]
            spread = f"{_s(min(times))} / {_s(statistics.median(times))} / {_s(max(times))}" if times else "–"
            lines.append(f"| {service} | {load} | `{candidate}` | {len(runs)} | "
                         f"{_s(_median([c['command_s'] for c in runs]))} | {spread} |")
    lines += ["", "Failed operations Pacemaker recorded (which monitor saw the fault):", ""]
    seen: Dict[tuple, set] = {}
    for r in results:
        seen.setdefault((r["service"], r.get("load", "idle"), r["monitor"], r["fault"]), set()).update(r["failed_ops"])
    for (service, load, monitor, fault), ops in seen.items():
        lines.append(f"- {service}, {load}, {monitor}, {fault}: {', '.join(sorted(ops)) or 'none'}")
    evidence = sorted({r["evidence"] for r in results if r.get("evidence")})[:4]
    if evidence:
        named = "; ".join(f"`{e}`" for e in evidence)
        lines += ["", f"The evidence the watches named (alert 114), for example: {named}"]
    restarts = [r for r in results if r.get("after", "cleanup") != "cleanup"]
    lines += ["", "Between trials: `crm_resource --cleanup`, then a client probe; a daemon that did not serve "
              f"then was restarted (`crm_resource --restart`): {len(restarts)} time(s)" + (":" if restarts else ".")]
    lines += [f"- after {r['service']}, {r.get('load', 'idle')}, {r['monitor']}, {r['fault']} on {r['from']}: "
              f"{r['after']}" for r in restarts]  # fmt: skip
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

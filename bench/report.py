"""Turning measurements into results.json's figures, the targets, the table and RESULTS.md."""

from __future__ import annotations

import statistics
import textwrap
from typing import Dict, List, Optional

GROWTH_LIMIT = 1.2  # CPU per probe at 50 watches over the lowest level: more is growth, not noise
# Issue 21's targets for the current code beside the previous release (the A/B section):
# CPU per probe with metrics on as a share of the release's, metrics' own cost, memory.
AB_CPU_RATIO = {"nfs": 0.6, "samba": 0.7}
METRICS_COST_MS = 0.2
USS_MB = {"samba": 15.0, "nfs": 9.0}
FLEET_PSS_MB = 600.0
V4_PROBES = {
    "4.0": "one COMPOUND: PUTROOTFH, LOOKUPs, GETATTR",
    "4.1": "EXCHANGE_ID, CREATE_SESSION, SEQUENCE … GETATTR, OPEN, DESTROY_SESSION, DESTROY_CLIENTID",
}
# The canary series (probe_cost's "canary"): the same probe with a canary file, beside it without.
CANARY_PROBES = {"samba": "Samba", "nfs_v3": "NFS v3", "nfs_v4.0": "NFS v4.0", "nfs_v4.1": "NFS v4.1"}


def figures(raw: Dict[str, object]) -> Dict[str, object]:
    """The headline keys of results.json from the phases' raw data."""
    cost, resident, stall = raw["probe_cost"], raw["resident"], raw["stall_once"]
    samba, nfs = cost["samba"], cost["nfs"]
    out: Dict[str, object] = {
        "samba_probe_ms": {"fswatch": samba["fswatch"]["median"], "smbclient": samba["smbclient"]["median"]},
        "samba_probe_p95_ms": {"fswatch": samba["fswatch"]["p95"], "smbclient": samba["smbclient"]["p95"]},
        "samba_probe_ratio": _ratio(samba["smbclient"]["median"], samba["fswatch"]["median"]),
        "samba_probe_p95_ratio": _ratio(samba["smbclient"]["p95"], samba["fswatch"]["p95"]),
        "nfs_probe_ms": {"fswatch": nfs["fswatch"]["median"], "rpcinfo_showmount": nfs["rpcinfo_showmount"]["median"]},
        "nfs_probe_p95_ms": {"fswatch": nfs["fswatch"]["p95"], "rpcinfo_showmount": nfs["rpcinfo_showmount"]["p95"]},
        "nfs_probe_ratio": _ratio(nfs["rpcinfo_showmount"]["median"], nfs["fswatch"]["median"]),
        "nfs_probe_p95_ratio": _ratio(nfs["rpcinfo_showmount"]["p95"], nfs["fswatch"]["p95"]),
        "cpu_per_probe_ms": {k: resident[k]["cpu_ms_per_probe"] for k in ("samba", "nfs")},
        "uss_mb": {k: resident[k]["memory_mb"]["uss"] for k in ("samba", "nfs")},
        "rss_mb": {k: resident[k]["memory_mb"]["rss"] for k in ("samba", "nfs")},
        "stall_detect_s": {name: round(_median_seconds(runs), 3) for name, runs in _stall_runs(stall).items()},
    }
    if cost.get("canary"):  # median ms of each probe without and with --canary, measured side by side
        out["canary_probe_ms"] = {
            name: {key: pair[key]["median"] for key in ("without", "with_canary", "with_canary_write") if key in pair}
            for name, pair in cost["canary"].items()
        }
    points = raw["detection"]
    slack = [p["slack_s"] for p in points]
    out["detection_slack_s"] = {
        "max": round(max(slack), 3),
        "median": round(statistics.median(slack), 3),
        "min": round(min(slack), 3),
        "stalls": len({p["round"] for p in points}),
        "points": len(points),
    }
    if raw.get("before_after"):
        out["before_after"] = before_after(raw["before_after"])
    if raw.get("metrics_cpu"):
        out["metrics_ms_per_probe"] = raw["metrics_cpu"]["metrics_ms_per_probe"]
    if raw.get("samba_fleet"):
        fleet = raw["samba_fleet"]
        out["samba_fleet_pss_mb"] = {k: v["pss"] for k, v in fleet.items() if isinstance(v, dict)}
    scale = raw["scale"]
    out["scale"] = [
        {k: level[k] for k in ("watches", "cpu_percent", "uss_mb", "cpu_percent_per_watch")} for level in scale
    ]
    fifty = next((level for level in scale if level["watches"] == 50), scale[-1])
    out["scale_50"] = {"cpu_percent": fifty["cpu_percent"], "uss_mb": fifty["uss_mb"], "watches": fifty["watches"]}
    out["scale_cpu_ms_per_probe_growth"] = growth(scale)
    return out


def before_after(ab: Dict[str, object]) -> Dict[str, object]:
    """Per kind: CPU per probe of the baseline and of the current code with metrics on, their
    ratio, what metrics cost each (on - off), and the current code's memory."""
    base = ab["baseline"]
    out: Dict[str, object] = {"baseline": base}
    for kind, trees in ab["watches"].items():
        before, now = trees[base], trees["current"]
        out[kind] = {
            "baseline_ms": before["on"]["cpu_ms_per_probe"],
            "current_ms": now["on"]["cpu_ms_per_probe"],
            "ratio": _ratio(now["on"]["cpu_ms_per_probe"], before["on"]["cpu_ms_per_probe"]),
            "metrics_cost_ms": {
                label: round(tree["on"]["cpu_ms_per_probe"] - tree["off"]["cpu_ms_per_probe"], 3)
                for label, tree in trees.items()
            },
            "uss_mb": {label: tree["on"]["memory_mb"].get("uss") for label, tree in trees.items()},
            "pss_mb": {label: tree["on"]["memory_mb"].get("pss") for label, tree in trees.items()},
        }
    return out


def growth(scale: List[Dict[str, object]]) -> Dict[str, Optional[float]]:
    """Per kind: CPU per probe at the largest level over the lowest at any smaller level."""
    out: Dict[str, Optional[float]] = {}
    for kind in ("samba", "nfs"):
        values = [(lvl["watches"], lvl["by_kind"][kind]["cpu_ms_per_probe"]) for lvl in scale if kind in lvl["by_kind"]]
        values = [(n, v) for n, v in values if v]
        if len(values) < 2:
            out[kind] = None
            continue
        largest = max(values)[1]
        out[kind] = round(largest / min(v for n, v in values if n < max(values)[0]), 2)
    return out


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


def _stall_runs(stall: List[Dict[str, Dict[str, object]]]) -> Dict[str, List[Dict[str, object]]]:
    names = ("fswatch_samba", "smbclient", "fswatch_nfs", "rpcinfo", "showmount")
    return {name: [run[name] for run in stall] for name in names}


def _median_seconds(runs: List[Dict[str, object]]) -> float:
    return statistics.median(r["seconds"] for r in runs)


def targets(fig: Dict[str, object]) -> List[Dict[str, object]]:
    grow = fig["scale_cpu_ms_per_probe_growth"]
    grow_max = max((v for v in grow.values() if v is not None), default=None)
    cpu, slack, fifty = fig["cpu_per_probe_ms"], fig["detection_slack_s"], fig["scale_50"]
    samba_ratio, nfs_ratio = fig["samba_probe_ratio"], fig["nfs_probe_ratio"]
    rows = [
        ("Samba probe vs smbclient (median ratio)", samba_ratio, "≥ 2.5×", samba_ratio >= 2.5),
        ("NFS probe vs rpcinfo + showmount (median ratio)", nfs_ratio, "≥ 5×", nfs_ratio >= 5),
        ("CPU per probe, Samba watch (ms)", cpu["samba"], "≤ 6", cpu["samba"] <= 6),
        ("CPU per probe, NFS watch (ms)", cpu["nfs"], "≤ 1.5", cpu["nfs"] <= 1.5),
    ]
    ab = fig.get("before_after")
    if ab:
        base = ab["baseline"]
        for kind, name in (("nfs", "NFS"), ("samba", "Samba")):
            limit = AB_CPU_RATIO[kind]
            rows.append((f"CPU per probe, {name} watch with metrics, ÷ {base}'s (side by side)", ab[kind]["ratio"],
                         f"≤ {limit}", ab[kind]["ratio"] <= limit))
    cost = fig.get("metrics_ms_per_probe")
    if cost is not None:
        rows.append(("Metrics on − off, CPU per probe (ms; in-process, interval 1 s)", cost, f"≤ {METRICS_COST_MS}",
                     cost <= METRICS_COST_MS))
    if ab:
        for kind, name in (("samba", "Samba"), ("nfs", "NFS")):
            now = ab[kind]["uss_mb"]["current"]
            rows.append((f"USS, {name} watch (MB, side by side)", now, f"≤ {USS_MB[kind]:g}", now <= USS_MB[kind]))
    fleet_pss = (fig.get("samba_fleet_pss_mb") or {}).get("current")
    if fleet_pss is not None:
        rows.append(("50 Samba watches, total PSS (MB)", fleet_pss, f"≤ {FLEET_PSS_MB:g}", fleet_pss <= FLEET_PSS_MB))
    rows += [
        ("Detection slack beyond the bound, max (s)", slack["max"], "≤ 0.5", slack["max"] <= 0.5),
        (
            f"{fifty['watches']} mixed watches at 1 s, CPU (% of one core)",
            fifty["cpu_percent"],
            "< 20",
            fifty["cpu_percent"] < 20,
        ),
        (
            "CPU per probe growth, 50 watches vs fewer (×, worst kind)",
            grow_max,
            f"≤ {GROWTH_LIMIT} (flat)",
            grow_max is not None and grow_max <= GROWTH_LIMIT,
        ),
    ]
    return [{"name": n, "value": v, "target": t, "met": bool(m)} for n, v, t, m in rows]


# -- text -----------------------------------------------------------------------------------------


def table(fig: Dict[str, object], target_rows: List[Dict[str, object]]) -> str:
    lines = []
    w = max(len(r["name"]) for r in target_rows)
    lines.append(f"{'target':<{w}}  {'value':>9}  {'wanted':<12} met")
    lines.append("-" * (w + 32))
    for r in target_rows:
        value = "n/a" if r["value"] is None else f"{r['value']:.3g}" if isinstance(r["value"], float) else r["value"]
        lines.append(f"{r['name']:<{w}}  {value:>9}  {r['target']:<12} {'yes' if r['met'] else 'NO'}")
    lines.append("")
    s, n = fig["samba_probe_ms"], fig["nfs_probe_ms"]
    sp, np_ = fig["samba_probe_p95_ms"], fig["nfs_probe_p95_ms"]
    lines.append(f"probe cost (ms, median / p95): fswatch samba {s['fswatch']} / {sp['fswatch']}, "
                 f"smbclient {s['smbclient']} / {sp['smbclient']}")
    lines.append(f"                               fswatch nfs {n['fswatch']} / {np_['fswatch']}, "
                 f"rpcinfo+showmount {n['rpcinfo_showmount']} / {np_['rpcinfo_showmount']}")
    d = fig["stall_detect_s"]
    lines.append(
        "stalled server, seconds to a verdict: "
        + ", ".join(f"{k} {v:.2f}" for k, v in d.items())
    )
    sl = fig["detection_slack_s"]
    lines.append(f"watch detection slack (s): max {sl['max']}, median {sl['median']}, min {sl['min']} "
                 f"over {sl['points']} detections in {sl['stalls']} stalls")
    lines.append(f"cpu per probe (ms): {fig['cpu_per_probe_ms']}; USS (MB): {fig['uss_mb']}; RSS (MB): {fig['rss_mb']}")
    ab = fig.get("before_after")
    if ab:
        for kind in ("samba", "nfs"):
            f = ab[kind]
            lines.append(f"before/after {kind}: {f['current_ms']} ms against {ab['baseline']}'s {f['baseline_ms']} ms "
                         f"per probe ({f['ratio']}x), metrics cost {f['metrics_cost_ms']['current']} ms, "
                         f"USS {f['uss_mb']['current']} MB")
    if fig.get("samba_fleet_pss_mb"):
        lines.append(f"50 Samba watches, total PSS (MB): {fig['samba_fleet_pss_mb']}")
    for level in fig["scale"]:
        lines.append(
            f"scale {level['watches']:>3} watches: {level['cpu_percent']:6.2f} % of one core "
            f"({level['cpu_percent_per_watch']:.3f} per watch), USS {level['uss_mb']} MB"
        )
    return "\n".join(lines)


def markdown(results: Dict[str, object]) -> str:
    fig, raw, meta = results, results["details"], results["run"]
    m, git = meta["machine"], meta["git"]
    out = [
        "# fswatch benchmark results",
        "",
        f"Written by `bench/run{' --quick' if meta['mode'] == 'quick' else ''}` on {meta['date']} "
        f"in {meta['total_s']:.0f} s ({meta['mode']} run). Raw data: `results.json` beside this file.",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| CPU | {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB |",
        f"| kernel / OS | {m['kernel']} / {m['os']} |",
        f"| Python | {m['python']} (`{m['python_executable']}`) |",
        f"| servers | {m['samba']}, nfs-ganesha {m['ganesha']} (both on loopback, started by the bench) |",
        f"| load average (1, 5, 15 min) | {_triple(meta.get('load_start'))} at the start, "
        f"{_triple(meta.get('load_end'))} at the end (other users' work shares the machine) |",
        f"| commit | `{git['commit']}`{' + uncommitted changes' if git['dirty'] else ' (clean tree)'} |",
        "",
    ]
    if git["dirty"]:
        out += [f"Uncommitted at the time: {', '.join(f'`{c}`' for c in git['changes'][:15])}"
                + (" …" if len(git["changes"]) > 15 else ""), ""]
    out += ["## Targets", "", "| what | value | target | met |", "| --- | ---: | --- | --- |"]
    for r in results["targets"]:
        value = "n/a" if r["value"] is None else r["value"]
        out.append(f"| {r['name']} | {value} | {r['target']} | {'yes' if r['met'] else '**no**'} |")
    out += before_after_section(raw)
    cost = raw["probe_cost"]
    out += [
        "",
        "## Probe cost (ms)",
        "",
        "fswatch's probes run in-process (`probe_samba`, `probe_nfs`, deadline 10 s); the tools run as "
        "processes. Interleaved A, B, A, B after 5 warm-up rounds, so load drifts hit both.",
        "",
        "| probe | n | median | p95 | mean | min | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [
        ("fswatch Samba (connect, negotiate, guest session, tree connect, teardown)", cost["samba"]["fswatch"]),
        ("`smbclient //127.0.0.1/public -N -c exit`", cost["samba"]["smbclient"]),
        ("fswatch NFS v3 TCP (GETPORT×2 + MNT at the last ports, then NULL + GETATTR + FSSTAT + UMNT together)",
         cost["nfs"]["fswatch"]),
        ("`rpcinfo -T tcp 127.0.0.1 100003 3` + `showmount -e 127.0.0.1`", cost["nfs"]["rpcinfo_showmount"]),
        ("… `rpcinfo` alone", cost["nfs"]["rpcinfo"]),
        ("… `showmount` alone", cost["nfs"]["showmount"]),
    ]
    rows += [
        (f"fswatch NFS v{minor} TCP ({V4_PROBES[minor]})", st) for minor, st in cost.get("nfs_v4", {}).items()
    ]
    for name, pair in cost.get("canary", {}).items():  # each pair measured side by side, A, B
        rows += [
            (f"fswatch {CANARY_PROBES[name]}, the canary series' own run without `--canary`", pair["without"]),
            ("… with `--canary` (its first 4 KiB read as a last stage)", pair["with_canary"]),
            ("… its `canary` stage alone", pair["canary_stage"]),
        ]
        if "with_canary_write" in pair:  # runs before this were without the write canary
            rows += [
                ("… with `--canary-write` (create, 4 KiB to stable storage, read back, remove, sweep)",
                 pair["with_canary_write"]),
                ("… its five `write_*` stages alone", pair["canary_write_stages"]),
            ]  # fmt: skip
    rows += [
        ("fswatch NFS, interleaved with the tools run as root", cost["nfs_tools_as_root"]["fswatch"]),
        ("`rpcinfo` + `showmount` as root", cost["nfs_tools_as_root"]["rpcinfo_showmount"]),
    ]
    for name, st in rows:
        out.append(f"| {name} | {st['n']} | {st['median']} | {st['p95']} | {st['mean']} | {st['min']} | {st['max']} |")
    out += [
        "",
        f"Ratios (tool ÷ fswatch): Samba median {fig['samba_probe_ratio']}×, p95 {fig['samba_probe_p95_ratio']}×; "
        f"NFS median {fig['nfs_probe_ratio']}×, p95 {fig['nfs_probe_p95_ratio']}×.",
        "",
        "The NFS tools run as `nobody` in the main series: as root each run leaves two reserved source "
        "ports in TIME_WAIT for 60 s, and a few hundred runs exhaust the host's reserved range that "
        "fswatch's probes (and any concurrent test) bind from. The short root series shows the source port "
        "does not change their cost. (fswatch closes its RPC sockets with RST, so it leaves none.)",
        "",
        "## A stalled server (SIGSTOP), one probe / one tool run",
        "",
        "Seconds from the SIGSTOP to each client's verdict: fswatch's probe in-process with a 2 s deadline, "
        "the tools as processes under an outer SIGKILL at 60 s. They run in the first detection rounds "
        "below, started right after the same SIGSTOP of smbd (parent and children) and of ganesha.",
        "",
        "| client | seconds (median) | runs | verdict |",
        "| --- | ---: | --- | --- |",
    ]
    for name, runs in _stall_runs(raw["stall_once"]).items():
        secs = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        verdicts = sorted({_verdict(r) for r in runs})
        out.append(f"| {name} | {_median_seconds(runs):.2f} | {secs} | {'; '.join(verdicts)} |")
    res = raw["resident"]
    out += [
        "",
        "## One running watch per kind (interval 1 s, retries 5, timeout 5)",
        "",
        "CPU between two points after warm-up, each taken just after a probe ended (the state file's "
        "`probes` changed): the exact counter of a cgroup holding only that watch (cpuacct, ns; it counts "
        "every thread, also ended ones, like utime + stime), and beside it utime + stime from "
        "`/proc/PID/stat`, whose 10 ms ticks give the resolution shown. Start-up CPU: from the exec until "
        "the first probe ended (interpreter, imports, settings, one probe). Memory from "
        "`/proc/PID/smaps_rollup` (USS = Private_Clean + Private_Dirty).",
        "",
        "| watch | CPU per probe (ms) | from /proc/PID/stat (ms, ± resolution) | window | start-up CPU (ms) | "
        "USS (MB) | PSS (MB) | RSS (MB) |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for kind in ("samba", "nfs"):
        r = res[kind]
        win = r["window"]
        mem = r["memory_mb"]
        out.append(
            f"| {kind} | {r['cpu_ms_per_probe']} ({r['cpu_source']}) | {r['cpu_ms_per_probe_proc_stat']} "
            f"± {r['proc_stat_resolution_ms_per_probe']} | {win['probes']} probes from probe {win['from_probe']}, "
            f"{win['seconds']} s | {r['startup_cpu_ms']} | {mem['uss']} | {mem['pss']} | {mem['rss']} "
            f"(after {r['memory_after_probes']} probes) |"
        )
    out += [
        "",
        "## Scale: watches at interval 1 s, half Samba, half NFS",
        "",
        "CPU of all `fswatch run` processes in the window (one cgroup per kind; the sum of their "
        "/proc/PID/stat deltas agrees within ticks, see results.json); CPU per probe per kind is the check "
        "that the cost of one watch does not grow with their number. USS summed over the processes.",
        "",
        "| watches | window (s) | CPU % of one core | per watch | USS total (MB) | PSS total (MB) | "
        "Samba ms/probe | NFS ms/probe | USS per Samba / NFS watch (MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for lvl in raw["scale"]:
        bk = lvl["by_kind"]
        sm, nf = bk.get("samba", {}), bk.get("nfs", {})
        out.append(
            f"| {lvl['watches']} | {lvl['window_s']} | {lvl['cpu_percent']} | {lvl['cpu_percent_per_watch']} | "
            f"{lvl['uss_mb']} | {lvl['pss_mb']} | {sm.get('cpu_ms_per_probe', '–')} | "
            f"{nf.get('cpu_ms_per_probe', '–')} "
            f"| {sm.get('uss_mb_per_watch', '–')} / {nf.get('uss_mb_per_watch', '–')} |"
        )
    out += [
        "",
        f"Growth of CPU per probe at the largest level over the smallest (per kind): "
        f"{fig['scale_cpu_ms_per_probe_growth']}.",
        "",
        "## Detection by a running watch",
        "",
        "Each round starts one watch per kind and schedule at random moments, waits until all are healthy "
        "and a random 0–2 s more, then SIGSTOPs smbd (parent and children) and ganesha. Detection time: "
        "from just before the SIGSTOP to the watch process's exit (polled every 10 ms). Slack = detection "
        "− bound, where bound = interval + retries × max(interval, timeout) + timeout (SPEC.md §2); "
        "negative means earlier than the bound.",
        "",
        "| kind | interval / retries / timeout | bound (s) | n | detection median (s) | slack median | "
        "slack max | slack min |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    groups: Dict[tuple, List[Dict[str, object]]] = {}
    for p in raw["detection"]:
        groups.setdefault((p["kind"], p["interval"], p["retries"], p["timeout"]), []).append(p)
    for (kind, i, r, t), pts in sorted(groups.items()):
        det = [p["detected_s"] for p in pts]
        sl = [p["slack_s"] for p in pts]
        out.append(
            f"| {kind} | {i} / {r} / {t} | {pts[0]['bound_s']} | {len(pts)} | {statistics.median(det):.3f} | "
            f"{statistics.median(sl):.3f} | {max(sl):.3f} | {min(sl):.3f} |"
        )
    out += ["", "![detection time against the bound](detection.png)", ""]
    if results.get("notes"):
        out += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(out)


def before_after_section(raw: Dict[str, object]) -> List[str]:
    """The previous release beside the current code (phases.before_after, phases.samba_fleet)."""
    ab = raw.get("before_after")
    if not ab:
        return []
    base = ab["baseline"]
    load = ", ".join(f"{x:g}" for x in ab.get("load") or []) or "unknown"
    out = [
        "",
        f"## Before and after: `{base}` beside this code",
        "",
        f"The release `{base}` (`git archive` of that commit) and the current code, each as `fswatch run` with "
        "metrics on (a textfile directory) and off (`FSWATCH_METRICS_DIR=off`): eight watches at once at interval 1 s "
        "(retries 5, timeout 5) against the same loopback smbd and ganesha, each in a cgroup of its own, started "
        f"the same way (the venv's interpreter running that tree's code). CPU per probe over {ab['window']} probes "
        f"after {ab['warmup']}; memory from `/proc/PID/smaps_rollup` at the end of the window. Side by side, so load "
        f"from other work on this shared machine hits all eight alike (load average at the end: {load}).",
        "",
        "| watch | code | metrics | CPU per probe (ms) | USS (MB) | PSS (MB) | RSS (MB) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, trees in ab["watches"].items():
        for label in (base, "current"):
            for metrics in ("on", "off"):
                r = trees[label][metrics]
                mem = r["memory_mb"]
                out.append(f"| {kind} | {'`' + label + '`' if label == base else 'this commit'} | {metrics} | "
                           f"{r['cpu_ms_per_probe']} | {mem.get('uss')} | {mem.get('pss')} | {mem.get('rss')} |")
    fig = before_after(ab)
    out.append("")
    for kind in ab["watches"]:
        f = fig[kind]
        cost = f["metrics_cost_ms"]
        out.append(
            f"- {kind}: {f['current_ms']} ms against {f['baseline_ms']} ms with metrics on: {f['ratio']}× "
            f"(target ≤ {AB_CPU_RATIO[kind]}); metrics cost {cost['current']} ms per probe now, "
            f"{cost[base]} ms in `{base}`; USS {f['uss_mb']['current']} MB against {f['uss_mb'][base]} MB."
        )
    metrics = raw.get("metrics_cpu")
    if metrics:
        loop = metrics["loop_ms_per_probe"]
        out += [
            "",
            f"What metrics cost a probe, measured in-process: the real engine, reporter, state file and metrics "
            f"writer around a stand-in probe (six stages) at a simulated interval of 1 s, {metrics['rounds']} "
            f"alternating blocks of {metrics['probes_per_round']} probes with metrics off and on (thread CPU time, "
            f"median): {loop['off']} ms and {loop['on']} ms per probe, so metrics cost "
            f"**{metrics['metrics_ms_per_probe']} ms** per probe (the file written at once on a change, else every "
            f"{metrics['write_every_s']:g} s). Two watch processes of the same code differ by a few tenths of a "
            "millisecond per probe from the machine's load alone (the on/off pairs above), more than metrics cost: "
            "the target is judged on this measurement.",
        ]
    fleet = raw.get("samba_fleet")
    if fleet:
        out += [
            "",
            f"{fleet['watches']} Samba watches at interval 1 s (each fleet alone, memory read once every watch "
            f"had made {fleet['after_probes']} probes; PSS counts each shared page once across the fleet):",
            "",
            "| code | PSS total (MB) | PSS per watch (MB) | USS total (MB) | RSS total (MB) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for label in [k for k in fleet if isinstance(fleet[k], dict)]:
            f = fleet[label]
            name = "this commit" if label == "current" else f"`{label}`"
            out.append(f"| {name} | {f['pss']} | {f['pss_per_watch']} | {f['uss']} | {f['rss']} |")
    return out


def _verdict(run: Dict[str, object]) -> str:
    if "alert" in run:
        return f"failed, alert {run['alert']} at {run['stage']}" if run["failed"] else "healthy (!)"
    if run.get("killed"):
        return "still hanging: SIGKILLed at 60 s"
    said = str(run.get("stderr") or "").splitlines()
    return f"exit {run['rc']}" + (f" ({said[-1][:60]})" if said else "")


def readme_paragraph(results: Dict[str, object]) -> str:
    """README's performance figures (its `<!-- bench:begin -->` section), from a full run's
    results, so the README and RESULTS.md say the same and name the same commit."""
    run, slack = results["run"], results["detection_slack_s"]
    git = run["git"]
    commit = git["commit"] + (" + uncommitted changes" if git["dirty"] else "")
    stall, cpu, uss = results["stall_detect_s"], results["cpu_per_probe_ms"], results["uss_mb"]
    samba, nfs = results["samba_probe_ms"], results["nfs_probe_ms"]
    text = (
        f"From the last full run (commit `{commit}`, {run['date'][:10]}; {_load(run)}), on this "
        f"2-core VM: a Samba probe costs {samba['fswatch']} ms against "
        f"`smbclient`'s {samba['smbclient']} ms ({results['samba_probe_ratio']}×), an NFS v3 probe "
        f"{nfs['fswatch']} ms against `rpcinfo` + `showmount`'s {nfs['rpcinfo_showmount']} ms "
        f"({results['nfs_probe_ratio']}×); a stalled server gets a verdict at the probe's deadline "
        f"({stall['fswatch_samba']:.1f} s) where `smbclient` and `showmount` take {stall['smbclient']:.0f} s "
        f"and `rpcinfo` {stall['rpcinfo']:.0f} s; a watch costs {cpu['samba']} ms (Samba) / {cpu['nfs']} ms "
        f"(NFS) of CPU per probe and {uss['samba']} / {uss['nfs']} MB USS; over {slack['stalls']} injected "
        f"stalls the worst detection was {_slack(slack['max'])} the stated bound; "
        f"{results['scale_50']['watches']} mixed watches at interval 1 s use "
        f"{results['scale_50']['cpu_percent']:.1f} % of one core."
    )
    ab = results.get("before_after")
    if ab:
        base = ab["baseline"]
        parts = [
            f"{name} {ab[kind]['current_ms']} ms against {ab[kind]['baseline_ms']} ms ({ab[kind]['ratio']}×), "
            f"USS {ab[kind]['uss_mb']['current']} against {ab[kind]['uss_mb'][base]} MB"
            for kind, name in (("samba", "Samba"), ("nfs", "NFS"))
        ]
        text += (
            f" Beside the release `{base}` in the same run (eight watches at once, metrics on): CPU per "
            f"probe {'; '.join(parts)}; metrics cost {results.get('metrics_ms_per_probe')} ms per probe"
        )
        fleet = results.get("samba_fleet_pss_mb") or {}
        if fleet.get("current") is not None:
            text += f"; 50 Samba watches take {fleet['current']:.0f} MB PSS"
            if fleet.get(base) is not None:
                text += f" ({fleet[base]:.0f} MB for `{base}`'s)"
        text += "."
    missed = [r["name"] for r in results["targets"] if not r["met"]]
    text += f" Targets not met in that run: {'; '.join(missed)}." if missed else " Every target was met in that run."
    for unit in (" ms", " s ", " s;", " s,", " s)", " MB", " %"):  # a number and its unit stay on one line
        text = text.replace(unit, "\0" + unit[1:])
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False).replace("\0", " ")


def _load(run: Dict[str, object]) -> str:
    start, end = run.get("load_start"), run.get("load_end")
    if not start or not end:
        return "not recorded"
    return f"load average {start[0]} at its start, {end[0]} at its end"


def _triple(load: Optional[List[float]]) -> str:
    return ", ".join(str(x) for x in load) if load else "not recorded"


def _slack(seconds: float) -> str:
    return f"{seconds} s past" if seconds > 0 else f"{-seconds} s within"

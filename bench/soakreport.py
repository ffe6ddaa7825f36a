"""The soak's figures and its section of RESULTS.md.

The section sits between two markers, so that `bench/run` (which rewrites the rest of the file)
and `bench/soak` (which rewrites only this) each keep the other's record.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Dict, List, Optional

import sections  # bench/sections.py: the owned sections of RESULTS.md


def percentile(values: List[float], q: float) -> Optional[float]:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100.0 * len(ordered))) - 1]


def _r(value: Optional[float], digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


# -- figures ----------------------------------------------------------------------------------


def settings_of(results: Dict[str, object]) -> List[str]:
    """The evidence settings the run compared (a record from before side-by-side runs: one)."""
    evidence = results["run"].get("evidence") or "stopped"
    return [evidence] if isinstance(evidence, str) else list(evidence)


def watches_of(results: Dict[str, object], setting: Optional[str] = None) -> List[Dict[str, object]]:
    """The run's watches, or those of one evidence setting."""
    default = settings_of(results)[0]
    return [w for w in results["watches"] if setting is None or w.get("evidence", default) == setting]


def figures(results: Dict[str, object], setting: Optional[str] = None) -> Dict[str, object]:
    """The run's figures, or those of the watches of one evidence setting (a side-by-side run)."""
    sched = results["run"]["schedule"]
    bound, slack, interval = sched["bound_s"], sched["slack_s"], sched["interval"]
    ids = None if setting is None else {w["id"] for w in watches_of(results, setting)}  # None: every one

    def mine(watch_id: str) -> bool:
        return ids is None or watch_id in ids

    detections = []
    for stall in results["stalls"]:
        for watch_id in stall["affected"]:
            if not mine(watch_id):
                continue
            seconds = stall["detected_s"].get(watch_id)
            detections.append(
                {
                    "stall": stall["n"],
                    "target": stall["target"],
                    "watch": watch_id,
                    "seconds": seconds,
                    "slack": None if seconds is None else round(seconds - bound, 3),
                    "within": seconds is not None and seconds <= bound + slack,
                    # what declared it (issue 18): evidence from the stopped process, or the retries
                    "by": (stall.get("declared_by") or {}).get(watch_id),
                }
            )
    early = [d["seconds"] for d in detections if d["by"] in ("stopped", "blocked") and d["seconds"] is not None]
    shorts = [dict(s, declared=[x for x in s["declared"] if mine(x)]) for s in results.get("short_stalls") or []]
    false = [d for d in results["false_declarations"] if mine(d["watch"])]
    # Failed probes that overlapped a short backend stall of what their watch depends on: the
    # only probes the `blocked` rule could have declared at once during one.
    short_failed = 0
    for w in watches_of(results, setting):
        windows = [(x["start_wall"] - sched["timeout"], x["start_wall"] + x["hold_s"])
                   for x in results.get("short_stalls") or [] if w["id"] in x["affected"]]  # fmt: skip
        short_failed += sum(
            1 for p in unpack(w["probes"])
            if not p["ok"] and p["started"] and any(a <= p["started"] <= b for a, b in windows)
        )  # fmt: skip
    latency: Dict[str, Dict[str, object]] = {}
    for w in watches_of(results, setting):
        per = {}
        for phase in ("idle", "load"):
            probes = [p for p in unpack(w["probes"]) if p["phase"] == phase and not p["disturbed"]]
            ok_ms = [p["ms"] for p in probes if p["ok"] and p["ms"] is not None]
            gaps = _start_gaps(probes, interval)
            per[phase] = {
                "probes": len(probes),
                "failed": sum(1 for p in probes if not p["ok"]),
                "failed_stages": sorted({p["stage"] for p in probes if not p["ok"] and p["stage"]}),
                "p50_ms": _round(percentile(ok_ms, 50)),
                "p99_ms": _round(percentile(ok_ms, 99)),
                "max_ms": _round(max(ok_ms) if ok_ms else None),
                "lag_p50_ms": _round(percentile(gaps, 50)),
                "lag_p99_ms": _round(percentile(gaps, 99)),
                "lag_max_ms": _round(max(gaps) if gaps else None),
            }
        latency[w["id"]] = per
    machine = {}
    for phase in ("idle", "load"):
        samples = [s for s in results["samples"] if s["phase"] == phase]
        loads = [s["load1"] for s in samples]
        psi = {}
        for res in ("cpu", "memory", "io"):
            vals = [s["psi_some_avg10"].get(res) for s in samples if s["psi_some_avg10"].get(res) is not None]
            psi[res] = {
                "mean": _round(statistics.fmean(vals) if vals else None),
                "max": _round(max(vals) if vals else None),
            }
        machine[phase] = {
            "load1_mean": _round(statistics.fmean(loads) if loads else None, 2),
            "load1_max": _round(max(loads) if loads else None, 2),
            "psi_some_avg10": psi,
            **results["phases"][phase],
        }
    clients = dict(sorted(results["clients"].items()))
    return {
        "false_declarations": len(false),
        "false_by": {by: sum(1 for d in false if (d.get("declared_by") or "retries") == by)
                     for by in ("stopped", "blocked", "retries")},  # fmt: skip
        "stalls": len(results["stalls"]),
        "stalls_early": sum(
            1 for st in results["stalls"]
            if any(by in ("stopped", "blocked") for w, by in (st.get("declared_by") or {}).items() if mine(w))
        ),  # fmt: skip
        "stalls_early_by_target": {
            target: (
                sum(1 for st in results["stalls"] if st["target"] == target and any(
                    by in ("stopped", "blocked") for w, by in (st.get("declared_by") or {}).items() if mine(w))),
                sum(1 for st in results["stalls"] if st["target"] == target),
            )
            for target in sorted({st["target"] for st in results["stalls"]})
        },  # fmt: skip
        "detections": detections,
        "detected_within_bound": sum(1 for d in detections if d["within"]),
        "detections_expected": len(detections),
        "missed": sum(1 for d in detections if d["seconds"] is None),
        "slack_max": max((d["slack"] for d in detections if d["slack"] is not None), default=None),
        "early": sum(1 for d in detections if d["by"] in ("stopped", "blocked")),
        "early_max": max((d["seconds"] for d in detections if d["by"] in ("stopped", "blocked")), default=None),
        "early_median": _round(statistics.median(early) if early else None, 2),
        "early_within": sum(1 for x in early if x <= sched.get("stopped_bound_s", bound) + slack),
        "short_stalls": len(shorts),
        "short_failed_probes": short_failed,
        "short_declarations": sum(len(s["declared"]) for s in shorts),
        "short_stalls_declared": sum(1 for s in shorts if s["declared"]),
        "latency": latency,
        "machine": machine,
        "clients": clients,
    }


def pack(rows: List[Dict[str, object]], fields: tuple) -> Dict[str, object]:
    """Many records of the same fields as one header and rows: a third of the size in soak.json."""
    return {"fields": list(fields), "rows": [[r.get(f) for f in fields] for r in rows]}


def unpack(packed) -> List[Dict[str, object]]:
    if isinstance(packed, list):
        return packed
    return [dict(zip(packed["fields"], row)) for row in packed["rows"]]


def client_summary(data: Dict[str, object], stalls: List[tuple]) -> Dict[str, object]:
    """A load client's cycles: done, failed, and failed while no stall of its server was on
    (a cycle overlapping a stall or the 5 s after its lift may wait or fail)."""
    ops = data["ops"]
    ok = [op[1] for op in ops if op[2]]

    def in_stall(op) -> bool:
        start, end = op[0], op[0] + op[1] / 1000.0
        return any(end >= a and start <= (b or a) + 5.0 for a, b in stalls)

    return {
        "cycles_ok": len(ok),
        "cycles_failed": sum(1 for op in ops if not op[2]),
        "failed_outside_stalls": sum(1 for op in ops if not op[2] and not in_stall(op)),
        "slowest_outside_stalls_ms": max((op[1] for op in ops if op[2] and not in_stall(op)), default=None),
        "mb": round(data["bytes"] / 1e6, 1),
        "p50_ms": _round(percentile(ok, 50)),
        "p99_ms": _round(percentile(ok, 99)),
        "errors": data["errors"],
    }


def failed_outside_stalls(results: Dict[str, object]) -> List[Dict[str, object]]:
    """Every failed probe no stall explains, with how late it started and what the other watches
    did within 3 s of it (their worst start lag, or that none of their probes was seen)."""
    interval = results["run"]["schedule"]["interval"]
    probes = {w["id"]: unpack(w["probes"]) for w in results["watches"]}
    starts = dict(results.get("phase_starts") or {})
    for phase in ("idle", "load"):  # records from before phase_starts existed: the phase's first probe
        if phase not in starts:
            firsts = [p["started"] for ps in probes.values() for p in ps if p["phase"] == phase and p["started"]]
            starts[phase] = min(firsts) if firsts else 0.0
    out = []
    for watch_id, ps in probes.items():
        for prev, p in zip([None] + ps, ps):
            if p["ok"] or p["disturbed"]:
                continue
            late = None
            if (
                prev is not None
                and prev["pid"] == p["pid"]
                and prev["n"] + 1 == p["n"]
                and prev["ms"] < interval * 1000
            ):
                late = (p["started"] - prev["started"] - interval) * 1000.0
            others = []
            for other, qs in probes.items():
                if other == watch_id:
                    continue
                near = [q for q in qs if abs(q["started"] - p["started"]) <= 3.0]
                gaps = [
                    (b["started"] - a["started"] - interval) * 1000.0
                    for a, b in zip(near, near[1:])
                    if a["pid"] == b["pid"] and b["n"] == a["n"] + 1 and a["ms"] < interval * 1000
                ]
                failed = sum(1 for q in near if not q["ok"])
                if not near:
                    others.append(f"{other}: no probe seen")
                    continue
                what = f"{failed} of {len(near)} failed" if failed else f"{len(near)} ok"
                lag = f", started late ≤ {max(gaps):.0f} ms" if gaps else ""
                others.append(f"{other}: {what}{lag}")
            out.append(
                {
                    "watch": watch_id,
                    "phase": p["phase"],
                    "at_s": p["started"] - starts.get(p["phase"], p["started"]),
                    "stage": p["stage"],
                    "ms": p["ms"],
                    "late_ms": late,
                    "others": "; ".join(others),
                }
            )
    return out


def _round(value: Optional[float], digits: int = 1) -> Optional[float]:
    return None if value is None else round(value, digits)


def _start_gaps(probes: List[Dict[str, object]], interval: float) -> List[float]:
    """How late each probe started against the fixed cadence (ms): the start-to-start gap of two
    consecutive probes of one process, minus the interval, where the first ended within it."""
    out = []
    for a, b in zip(probes, probes[1:]):
        if a["pid"] == b["pid"] and b["n"] == a["n"] + 1 and a["started"] and b["started"] and a["ms"] is not None:
            if a["ms"] < interval * 1000.0:
                out.append((b["started"] - a["started"] - interval) * 1000.0)
    return out


# -- text ---------------------------------------------------------------------------------------


def summary(results: Dict[str, object]) -> str:
    out = []
    for setting in settings_of(results):
        f = figures(results, setting)
        out.append(
            f"soak ({results['run']['mode']}, evidence {setting}): false declarations {f['false_declarations']} "
            f"(goal 0 at stopped; {f['short_declarations']} during short backend stalls); "
            f"stalls {f['stalls']}, declared early {f['stalls_early']}, detections within bound + slack "
            f"{f['detected_within_bound']}/{f['detections_expected']}, missed {f['missed']}, "
            f"max slack {f['slack_max']} s"
        )
    return "\n".join(out)


def markdown(results: Dict[str, object]) -> str:
    f = figures(results)  # every watch: latency, machine, clients
    settings = settings_of(results)
    by_setting = {setting: figures(results, setting) for setting in settings}
    side_by_side = len(settings) > 1
    run = results["run"]
    sched, plan, m = run["schedule"], run["plan"], run["machine"]
    git = run["git"]
    commit = f"`{git['commit']}`" + (
        " (dirty tree: " + ", ".join(git["changes"][:6]) + ")" if git["dirty"] else " (clean tree)"
    )
    flag = "" if settings == ["stopped"] else f" --evidence {','.join(settings)}"
    n_set = len(watches_of(results, settings[0]))
    lines = [
        TITLES["stopped"] if side_by_side else TITLES.get(settings[0], TITLES["stopped"]),
        "",
        f"Written by `bench/soak{' --quick' if run['mode'] == 'quick' else ''}{flag}` "
        f"on {run['date']} in {run['total_s']:.0f} s "
        f"({run['mode']} run{'; ' + run['label'] if run['label'] else ''}), commit {commit}, seed {run['seed']}. "
        f"Raw data: `{name_of(settings)}.json` beside this file. Machine: {m['cpu_model']}, {m['cores']} cores, "
        f"{m['memory_gb']} GB, "
        f"{m['kernel']}; {m['samba']}, nfs-ganesha {m['ganesha']}.",
        "",
        f"{'Five' if n_set == 5 else n_set} real `fswatch run` watches"
        f"{' per evidence setting' if side_by_side else ''} at interval "
        f"{sched['interval']} s, timeout {sched['timeout']} s, retries "
        f"{sched['retries']} — bound {sched['bound_s']} s (interval "
        "+ retries × max(interval, timeout) + timeout, SPEC.md §2) "
        f"+ {sched['slack_s']} s slack: Samba guest (`public`), Samba user (`private`), "
        f"{'Samba guest on storage under FUSE (`soakfuse`), ' if n_set == 5 else ''}"
        "NFSv3 (via rpcbind), NFSv4. "
        "smbd on 127.0.0.1; nfs-ganesha and its rpcbind in a network namespace of the soak's own (a veth pair on this "
        "host; the loopback fixture would hold port 111 host-wide for the whole hour and block other test runs). "
        f"Idle phase {plan['idle_s']:.0f} s (only the watches), then a load phase of {plan['load_s']:.0f} s: "
        f"{plan['smb_clients']} SMB clients (smbprotocol's smbclient, user logon) and {plan['nfs_clients']} NFSv3 "
        "clients (fswatch's RPC client + bench/nfs3rw.py) each create, write 64–448 KiB, read back, compare and delete "
        f"files (mean pause {plan['client_pause']} s); `stress-ng --cpu 2` (both cores at 100 %); and a second "
        f"stress-ng in a memory cgroup limited to {plan['memory_limit']}: `--vm 1 --vm-bytes {plan['vm_bytes']}`, "
        f"`--mmap 1 --mmap-bytes {plan['mmap_bytes']} --mmap-file`, "
        f"`--hdd 1` and `--iomix 1` ({plan['hdd_bytes']} each, "
        "on the root file system) — more than its limit, so it reclaims and waits on writeback: real memory and IO "
        "pressure without taking memory from the rest of this shared machine. "
        f"At random moments ({plan['gap'][0]:.0f}–{plan['gap'][1]:.0f} "
        "s apart) one server is stalled by SIGSTOP — smbd "
        "(parent and children), ganesha, or rpcbind — held for the bound + slack + "
        f"{plan['hold_extra'][0]:.0f}–{plan['hold_extra'][1]:.0f} "
        "s, then SIGCONT; a watch that declared is started again "
        "once the server answers. A declaration counts as a detection "
        "only by a watch that depends on the stalled process "
        "(rpcbind: only the v3 watch) while the stall is on (or within timeout + 1 s of the lift); any other exit is a "
        "false declaration.",
        "",
        (
            f"Evidence from the server's own process (issue 18), side by side: each evidence setting "
            f"({', '.join(f'`{x}`' for x in settings)}) has its own full set of the {n_set} watches (ids ending "
            f"in `-{settings[0]}`, `-{settings[1]}`), all running for the whole run against the same servers, "
            "through the same load, the same SIGSTOP stalls and the same short backend stalls. That is the fairer "
            "comparison: two runs in sequence would meet different stall moments, different load and different "
            "neighbours on this shared machine, so a difference between them could be the run's, not the "
            f"setting's. The price: {2 * n_set} watches instead of {n_set} on two cores, a harder load for both."
            if side_by_side
            else f"Evidence from the server's own process (issue 18): the watches run with `--evidence {settings[0]}`."
        )
        + " The NFS watches run in ganesha's network namespace (`nsenter --net`), so that smbd, ganesha and "
        "rpcbind are all on the watches' own node. The Samba guest watch on the share `soakfuse` and both NFS "
        "watches serve from storage under FUSE (tests/fixtures/fuse_freeze.py): between the SIGSTOP stalls that "
        f"storage is frozen for "
        f"{plan.get('short_hold', [0.3, 1.8])[0]}–{plan.get('short_hold', [0.3, 1.8])[1]} s, "
        + ("less than the timeout (a short hiccup of a backend the server waits on: it rides it out)"
           if plan.get("short_hold", [0.3, 1.8])[1] < sched["timeout"] else
           "longer than the timeout but short enough for the retries to ride out (at most "
           f"{sched['retries']} failed probes in a row: a backend's hiccup, not a failure by the retry rule)")
        + ", every "
        f"{plan.get('short_gap', [4, 12])[0]:.0f}–{plan.get('short_gap', [4, 12])[1]:.0f} s; a declaration during "
        "one or within timeout + 1 s of its end is a false declaration too, counted also on its own line.",
        "",
        "| what | " + " | ".join(f"evidence = {x}" for x in settings) + " | goal |",
        "| --- | " + " | ".join("---:" for _ in settings) + " | --- |",
    ]

    def row(what: str, cell, goal: str = "") -> None:
        lines.append(f"| {what} | " + " | ".join(cell(by_setting[x], x) for x in settings) + f" | {goal} |")

    def judged(text: str, met: bool) -> str:
        return text if met else f"**{text}**"

    row("false declarations (no fault on what the watch depends on)",
        lambda x, s: judged(str(x["false_declarations"]), s != "stopped" or not x["false_declarations"]),
        "0 at `stopped`; measured at `blocked`")
    row("… of them declared at once on evidence (stopped / blocked) / after the retries",
        lambda x, s: f"{x['false_by']['stopped']} / {x['false_by']['blocked']} / {x['false_by']['retries']}")
    row("SIGSTOP stalls injected (the same for both)", lambda x, s: str(x["stalls"]))
    row("stalls declared early (at once, on evidence) by at least one watch",
        lambda x, s: f"{x['stalls_early']} / {x['stalls']}")
    row("… by stalled process (early / stalls)",
        lambda x, s: ", ".join(f"{t} {a}/{b}" for t, (a, b) in x["stalls_early_by_target"].items()) or "–")
    row("detections declared early (alert 114/115) / detections",
        lambda x, s: f"{x['early']} / {x['detections_expected']}")
    row(f"early detections: median / slowest (s; bound for a stopped server, interval + timeout, "
        f"{sched.get('stopped_bound_s', '–')} + {sched['slack_s']})",
        lambda x, s: f"{_r(x['early_median'], 2)} / {_r(x['early_max'], 2)}")
    row(f"early detections within interval + timeout + {sched['slack_s']} s",
        lambda x, s: judged(f"{x['early_within']} / {x['early']}", x["early_within"] == x["early"]), "all")
    row(f"detections within bound + {sched['slack_s']} s",
        lambda x, s: judged(f"{x['detected_within_bound']} / {x['detections_expected']}",
                            x["detected_within_bound"] == x["detections_expected"] and x["detections_expected"] > 0),
        "all")
    row("stalls not declared by a watch that depends on them", lambda x, s: judged(str(x["missed"]), not x["missed"]),
        "0")
    row("detection − bound, max (s)",
        lambda x, s: judged(_r(x["slack_max"], 3), x["slack_max"] is not None and x["slack_max"] <= sched["slack_s"]),
        f"≤ {sched['slack_s']}")
    row("short backend stalls (the storage frozen, as above) / with a declaration",
        lambda x, s: f"{x['short_stalls']} / {x['short_stalls_declared']}")
    row("failed probes that overlapped a short backend stall (what `blocked` could declare on)",
        lambda x, s: str(x["short_failed_probes"]))
    row("declarations during short backend stalls (among the false ones)",
        lambda x, s: judged(str(x["short_declarations"]), s != "stopped" or not x["short_declarations"]),
        "0 at `stopped`")  # fmt: skip
    lines += [
        "",

        "### Probe latency, idle against load (ms; healthy probes not within a stall of what they depend on)",
        "",
        "Lag: how late a probe started against the 1 s cadence (start-to-start gap of consecutive probes minus the "
        "interval, from the state file's start times): the watch's "
        "own scheduling delay, which a starved node shows first.",
        "",
        "| watch | phase | probes | failed | p50 | p99 | max | lag p50 | lag p99 | lag max |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for watch_id, per in f["latency"].items():
        for phase in ("idle", "load"):
            x = per[phase]
            failed = str(x["failed"]) + (f" ({', '.join(x['failed_stages'])})" if x["failed"] else "")
            lines.append(
                f"| {watch_id} | {phase} | {x['probes']} | {failed} | {_r(x['p50_ms'])} | {_r(x['p99_ms'])} | "
                f"{_r(x['max_ms'])} | {_r(x['lag_p50_ms'])} | {_r(x['lag_p99_ms'])} | {_r(x['lag_max_ms'])} |"
            )
    lines += [
        "",
        "### The machine meanwhile (shared with other users' test runs: their load is in it)",
        "",
        "PSI: share of the phase's time in which some (all) non-idle tasks were stalled on a resource, from "
        "/proc/pressure/* totals; avg10 sampled every second. CPU: % of all cores' time by who used it "
        "(from /proc/PID/stat per process, others = the machine's busy time from /proc/stat minus ours).",
        "",
        "| phase | seconds | load avg (1 min) mean / max | PSI "
        "cpu some | PSI memory some / full | PSI io some / full | "
        "cpu some avg10 max | CPU busy | CPU by who |",
        "| --- | ---: | --- | ---: | --- | --- | ---: | ---: | --- |",
    ]
    for phase in ("idle", "load"):
        x = f["machine"][phase]
        p = x["psi_percent"]
        cpu = dict(x["cpu_percent"])
        busy = cpu.pop("all busy", None)
        who = ", ".join(f"{k} {v} %" for k, v in cpu.items())
        lines.append(
            f"| {phase} | {x['seconds']:.0f} | {_r(x['load1_mean'], 2)} / {_r(x['load1_max'], 2)} | "
            f"{_r(p.get('cpu_some'))} % | {_r(p.get('memory_some'))} / {_r(p.get('memory_full'))} % | "
            f"{_r(p.get('io_some'))} / {_r(p.get('io_full'))} % | {_r(x['psi_some_avg10']['cpu']['max'])} % | "
            f"{_r(busy)} % | {who} |"
        )
    lines += ["", "### Detection by stalled process (s from the SIGSTOP to the watch's declaration)", ""]
    lines += ["| evidence | stalled | watches | n | median | max | max − bound | early (on evidence) |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for setting in settings:
        detections = by_setting[setting]["detections"]
        for target in sorted({d["target"] for d in detections}):
            ds = [d for d in detections if d["target"] == target]
            secs = [d["seconds"] for d in ds if d["seconds"] is not None]
            watches = ", ".join(sorted({d["watch"] for d in ds}))
            med = statistics.median(secs) if secs else None
            top = max(secs) if secs else None
            early = sum(1 for d in ds if d["by"] in ("stopped", "blocked"))
            lines.append(
                f"| {setting} | {target} | {watches} | {len(ds)} | {_r(med, 2)} | {_r(top, 2)} | "
                f"{_r(None if top is None else top - sched['bound_s'], 2)} | {early} |"
            )
    odd = failed_outside_stalls(results)
    if odd:
        lines += ["", "### Failed probes outside any stall (one failure is not a declaration: retries + 1 are)", ""]
        lines += [
            "Each with what the other watches did within 3 s of it (start lag only after probes that ended within "
            "the interval): theirs starting late too, or none seen, would mean the whole machine stood still; "
            "theirs on time means the node as a whole ran on (the slowness was that server's, or that probe's own "
            "process: the Samba probe hands each answer between threads).",
            "",
        ]
        lines += ["| watch | phase | at (s into it) | stage | ms | started late by (ms) | other watches then |"]
        lines += ["| --- | --- | ---: | --- | ---: | ---: | --- |"]
        for o in odd:
            lines.append(
                f"| {o['watch']} | {o['phase']} | {o['at_s']:.0f} | {o['stage']} | {o['ms']:.0f} | "
                f"{_r(o['late_ms'], 0)} | {o['others']} |"
            )
    lines += ["", "### Every stall", ""]
    lines += ["| # | stalled | held (s) | detection (s) by watch; slack = detection − bound |"]
    lines += ["| ---: | --- | ---: | --- |"]
    bound = sched["bound_s"]
    for stall in results["stalls"]:
        parts = []
        for watch_id in stall["affected"]:
            s = stall["detected_s"].get(watch_id)
            by = (stall.get("declared_by") or {}).get(watch_id)
            how = f", {by}" if by else ""
            parts.append(f"{watch_id} **missed**" if s is None else f"{watch_id} {s:.2f} ({s - bound:+.2f}{how})")
        lines.append(f"| {stall['n']} | {stall['target']} | {_r(stall['held_s'])} | {'; '.join(parts)} |")
    if results["false_declarations"]:
        lines += ["", "### False declarations", "",
                  "| watch | evidence | phase | exit | declared by | during a short backend stall | status |",
                  "| --- | --- | --- | ---: | --- | --- | --- |"]  # fmt: skip
        setting_of = {w["id"]: w.get("evidence", settings[0]) for w in results["watches"]}
        for d in results["false_declarations"]:
            short = f"#{d['short_stall']}" if d.get("short_stall") else "–"
            lines.append(f"| {d['watch']} | {setting_of.get(d['watch'], '–')} | {d['phase']} | {d['rc']} | "
                         f"{d.get('declared_by') or '–'} | {short} | {d.get('status') or ''} |")  # fmt: skip
    lines += ["", "### Load clients", ""]
    lines += [
        "Each cycle: create, write, read back, compare, delete one file. Outside stalls: cycles that overlap "
        "no stall of that client's server nor the 5 s after its lift.",
        "",
    ]
    lines += [
        "| client | cycles ok | failed | failed outside stalls | MB moved | cycle p50 (ms) | p99 | "
        "slowest outside stalls | errors |"
    ]
    lines += ["| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, c in f["clients"].items():
        errors = ", ".join(f"{k} {v}" for k, v in sorted(c["errors"].items())) or "–"
        lines.append(
            f"| {name} | {c['cycles_ok']} | {c['cycles_failed']} | {c['failed_outside_stalls']} | {c['mb']} | "
            f"{_r(c['p50_ms'])} | {_r(c['p99_ms'])} | {_r(c['slowest_outside_stalls_ms'])} | {errors} |"
        )
    unseen = {w["id"]: w["unseen_probes"] for w in results["watches"] if w["unseen_probes"]}
    if unseen:
        lines += ["", f"Probes that ran between two looks at the state file (not in the latency figures): {unseen}."]
    return "\n".join(lines) + "\n"


TITLES = {
    "stopped": "## Soak: zero false failovers under load",
    "blocked": "## Soak with evidence = blocked: what declaring a blocked server at once costs",
}


def name_of(settings) -> str:
    """The run's name: its section of RESULTS.md and its JSON file. A run with the default
    setting (alone or beside `blocked`) is the soak (soak.json); `blocked` alone, soak-blocked."""
    settings = [settings] if isinstance(settings, str) else list(settings)
    return "soak" if "stopped" in settings else "soak-" + "-".join(settings)


def write_section(path: Path, section: str, settings="stopped") -> None:
    """Put `section` in place of the old section of that run's soak (between its markers:
    `soak`, `soakblocked`), or append it."""
    sections.replace(path, name_of(settings).replace("-", ""), section)

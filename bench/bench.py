"""fswatch's benchmark: probe cost, CPU and memory of a running watch, stall detection, scale.

Run through `bench/run` (sets up the machine and the venv first). It starts its own smbd and
nfs-ganesha on loopback with the test fixtures, measures, prints a table and writes
results.json, RESULTS.md and detection.png into bench/ (a --quick run into bench/quick/, so
that it never overwrites the full run's record).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # tests.fixtures: the same servers the integration tests start

import phases  # noqa: E402
import procfs  # noqa: E402
import report  # noqa: E402
import sections  # noqa: E402
from fleet import Fleet  # noqa: E402

from tests.fixtures.nfs_server import LOCK_DIR, NfsServer  # noqa: E402
from tests.fixtures.samba_server import SambaServer  # noqa: E402

OUTPUTS = ("results.json", "RESULTS.md", "detection.png")


@dataclass(frozen=True)
class Plan:
    """How much of each measurement a mode takes (the full run must end within 15 min, quick 2)."""

    mode: str
    probe_pairs: int  # interleaved probe pairs per kind (at least 100)
    root_pairs: int  # NFS pairs with the tools run as root
    stall_repeats: int  # detection rounds in which the one-shot probes and tools run too
    resident_window: int  # probes between the two CPU readings of a resident watch
    scale_levels: tuple
    scale_window: float  # seconds
    detection_rounds: int  # injected stalls; each gives one point per kind and schedule
    overlap: bool  # the resident watches run during the scale phase (saves a minute)
    ab_window: int  # probes of each before/after watch between its two CPU readings
    fleet_probes: int  # probes each of the many Samba watches makes before their memory is read
    fleet_baseline: bool  # the many Samba watches of the baseline too (a second fleet)
    metrics_rounds: int  # alternating blocks (metrics off, on) of the in-process loop


FULL = Plan("full", 400, 30, 3, 60, (1, 10, 50), 30.0, 16, False, 90, 10, True, 10)
QUICK = Plan("quick", 100, 20, 1, 45, (1, 10, 50), 10.0, 4, True, 20, 5, False, 4)
METRICS_BLOCK = 600  # simulated probes per block of the in-process metrics measurement
# The previous release, measured beside the current code (bench/README.md, "Before and after"):
# the last commit before issue 17 restructured the package.
BASELINE = "23f6984"
FLEET_WATCHES = 50
WARMUP_PROBES = 5  # a resident watch's probes before the first CPU reading
MEMORY_AFTER = 50  # probes before reading a resident watch's memory


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and shorter windows (< 2 min)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the fault phases (default: random)")
    parser.add_argument("--output-dir", type=Path, default=None, help="default bench/ (full) or bench/quick/")
    parser.add_argument("--baseline", default=BASELINE, help=f"the release measured beside this code ({BASELINE})")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    out_dir = args.output_dir or (HERE / "quick" if args.quick else HERE)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)

    began = time.monotonic()
    run_info = {
        "mode": plan.mode,
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "git": git_state(out_dir),
        "machine": procfs.machine(),
        "seed": seed,
        "baseline": args.baseline,
        "plan": plan.__dict__,
        "load_start": [round(x, 2) for x in os.getloadavg()],  # other users' work shares the machine
    }
    durations: Dict[str, float] = {}
    raw: Dict[str, object] = {}

    def phase(name: str, job):
        t = time.monotonic()
        say(f"{name} ...")
        value = job()
        durations[name] = round(time.monotonic() - t, 1)
        say(f"{name}: {durations[name]} s")
        return value

    with contextlib.ExitStack() as stack:
        say("starting smbd and nfs-ganesha on loopback")
        smb = stack.enter_context(SambaServer())
        if nfs_slot_busy():
            say("another loopback NfsServer (a test run?) holds port 111: waiting for it (up to 120 s)")
        nfs = stack.enter_context(NfsServer())
        fleet = stack.enter_context(Fleet())
        phases.warm_bytecode(fleet, smb, nfs)

        raw["probe_cost"] = phase("probe cost", lambda: phases.probe_cost(smb, nfs, plan.probe_pairs, plan.root_pairs))
        raw["before_after"] = phase(
            "before and after",
            lambda: phases.before_after(fleet, smb, nfs, args.baseline, WARMUP_PROBES, plan.ab_window),
        )
        raw["metrics_cpu"] = phase("metrics cost", lambda: phases.metrics_cpu(plan.metrics_rounds, METRICS_BLOCK))
        raw["samba_fleet"] = phase(
            f"{FLEET_WATCHES} Samba watches",
            lambda: phases.samba_fleet(fleet, smb, nfs, FLEET_WATCHES, plan.fleet_probes,
                                       args.baseline if plan.fleet_baseline else None),
        )
        resident = phases.Resident(fleet, smb, nfs, WARMUP_PROBES, plan.resident_window, MEMORY_AFTER).start()
        resident_wait = WARMUP_PROBES + max(plan.resident_window, MEMORY_AFTER) + 90
        if not plan.overlap:
            raw["resident"] = phase("resident watches", lambda: resident.finish(resident_wait))
        raw["scale"] = phase(
            "scale", lambda: [phases.scale_level(fleet, smb, nfs, n, plan.scale_window) for n in plan.scale_levels]
        )
        if plan.overlap:
            raw["resident"] = phase("resident watches (rest)", lambda: resident.finish(resident_wait))
        raw["detection"], raw["stall_once"] = phase(
            "stalls", lambda: phases.detection(fleet, smb, nfs, plan.detection_rounds, plan.stall_repeats, rng)
        )

    run_info["durations_s"] = durations
    run_info["load_end"] = [round(x, 2) for x in os.getloadavg()]
    run_info["total_s"] = round(time.monotonic() - began, 1)
    results = report.figures(raw)
    results["targets"] = report.targets(results)
    results["notes"] = notes(plan)
    results["run"] = run_info
    results["details"] = raw

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    write_results_md(out_dir / "RESULTS.md", report.markdown(results))
    if plan.mode == "full" and out_dir.resolve() == HERE.resolve():  # the committed record: README says the same
        sections.replace(REPO / "README.md", "bench", report.readme_paragraph(results))
    import plot  # matplotlib: only now, so a missing one cannot waste a whole run's measurements

    commit = run_info["git"]["commit"] + ("+dirty" if run_info["git"]["dirty"] else "")
    title = f"fswatch {commit}, {run_info['date']}, {run_info['machine']['cpu_model']} ×{run_info['machine']['cores']}"
    plot.detection_plot(raw["detection"], out_dir / "detection.png", title)

    print()
    print(report.table(results, results["targets"]))
    print()
    print(f"{plan.mode} run: {run_info['total_s']} s; wrote {', '.join(str(out_dir / n) for n in OUTPUTS)}")
    return 0


def write_results_md(path: Path, text: str) -> None:
    """RESULTS.md anew, keeping the sections other benches own (fuzz, metrics, failover, soak:
    bench/sections.py)."""
    path.write_text(text + sections.kept(path))


def notes(plan: Plan) -> List[str]:
    out = [
        "Every watch is a real `fswatch run KIND ID` process (the units' ExecStart), settings written by "
        "`fswatch add`, FSWATCH_CONFIG_DIR / FSWATCH_RUNTIME_DIR in a temp dir, alerts to a log file "
        "(no journal, no notify socket). Byte code is cached (PYTHONPYCACHEPREFIX in the temp dir), as "
        "for an installed package. The runtime dir (state file rewritten after every probe) is on a tmpfs, "
        "as /run is on a systemd host; this VM's /run is ext4, where that write costs ~4× the CPU.",
        "Other work may share this 2-core VM; the interleaving spreads such drift over both sides of a "
        "comparison, but absolute numbers move with it.",
    ]
    if plan.overlap:
        out.append(
            "Quick run: the two resident watches run during the scale phase (their CPU is their own, but "
            "they compete for the cores) and windows are shorter; the full run measures each phase alone."
        )
    return out


def git_state(out_dir: Path) -> Dict[str, object]:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30).stdout

    ours = {str((out_dir / name).resolve().relative_to(REPO)) for name in OUTPUTS if _inside(out_dir / name)}
    changes = []
    for line in git("status", "--porcelain", "--untracked-files=all").splitlines():
        path = line[3:].strip()
        if path not in ours:
            changes.append(f"{line[:2].strip()} {path}")
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return {"commit": commit, "dirty": bool(changes), "changes": changes}


def _inside(path: Path) -> bool:
    try:
        path.resolve().relative_to(REPO)
    except ValueError:
        return False
    return True


def nfs_slot_busy() -> bool:
    """Whether another loopback NfsServer holds the host-wide slot (NfsServer then waits for it)."""
    try:
        with open(LOCK_DIR / "fswatch-nfs-loopback.lock", "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def say(text: str) -> None:
    print(f"bench: {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

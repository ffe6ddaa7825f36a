"""Fuzzing at scale: mutations of real ganesha/rpcbind and smbd replies (tests/fuzz/) against
fswatch's NFS decoders and both probes.

Run through `bench/fuzz` (full: >= 1,000,000 cases) or `bench/fuzz --quick`. Each harness runs
in its own process (they run in parallel); every case must end in fswatch's own result or
error types, by its deadline + slack, under the memory bound; anything else is a finding,
listed with its case seed. Writes fuzz.json and the "Fuzzing" section of RESULTS.md into
bench/ (a --quick run into bench/quick/). Exit status 1 when there are findings.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import procfs  # noqa: E402
import sections  # noqa: E402


@dataclass(frozen=True)
class Plan:
    mode: str
    cases: Dict[str, int]  # per harness


# The full run's size comes from measured rates on this 2-core machine under the other helpers'
# load: nfs-decoders ~5,000-6,000 cases/s, each probe harness ~35-40 cases/s (a probe is
# ~10-30 ms, and a mutation that leaves the client waiting costs the whole 0.25 s deadline).
# Measured 2026-12-01 at a load average of 13-27 (six other helpers' test suites): nfs-decoders
# 750-5,800 cases/s per process, nfs-probe 19-35/s, samba-probe 9-41/s; a full run of 10,000 +
# 8,000 probe cases took 7 min. The decoders run in two processes (the "#n" workers); the probe
# harnesses set the wall time: ~15-20 min here.
FULL = Plan("full", {"nfs-decoders#1": 500_000, "nfs-decoders#2": 500_000, "nfs-probe": 20_000, "samba-probe": 20_000,
                     "gss-decoders": 200_000})  # fmt: skip
QUICK = Plan("quick", {"nfs-decoders": 30_000, "nfs-probe": 600, "samba-probe": 600, "gss-decoders": 10_000})
PROBE_TIMEOUT = 0.25  # seconds: the probes' deadline in a case
SLACK = 0.5  # seconds past the deadline still counted on time (SPEC.md section 2's scheduling slack)
MEMORY_LIMIT = 16 << 20  # bytes one case may allocate at its peak (tracemalloc)
ADDRESS_SPACE = 4 << 30  # bytes: a runaway allocation in a worker becomes a MemoryError, i.e. a finding


def worker(name: str, cases: int, seed: int, out: Path) -> int:
    """One harness in this process; writes its Stats as JSON to `out`."""
    from fswatch.host import logs
    from tests.fuzz import corpus, harness

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, resource.getrlimit(resource.RLIMIT_AS)[1]))
    logs.configure({})  # as the real entry points do: a library's log line is not a finding's place
    made = harness.harnesses(corpus.load(), [name.partition("#")[0]], PROBE_TIMEOUT)[0]

    def progress(stats: harness.Stats) -> None:
        print(f"fuzz {name}: {stats.cases} cases, {stats.rate:.0f}/s, {len(stats.findings)} findings",
              file=sys.stderr, flush=True)  # fmt: skip

    try:
        stats = harness.run(made, cases, seed, slack=SLACK, memory_limit=MEMORY_LIMIT, progress=progress)
    finally:
        close = getattr(made, "close", None)
        if close is not None:
            close()
    result = stats.to_dict()
    result["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["seed"] = seed
    out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fswatch fuzzing bench")
    parser.add_argument("--quick", action="store_true", help="about a minute, written to bench/quick/")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--output-dir", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.cases, args.seed, args.out)

    plan = QUICK if args.quick else FULL
    out_dir = args.output_dir or (HERE / "quick" if args.quick else HERE)
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = _commit()  # now: the code that runs, not what HEAD is when the run ends
    procs = {}
    for offset, (name, cases) in enumerate(plan.cases.items()):
        part = out_dir / f"fuzz-{name}.json"
        argv_ = [sys.executable, str(Path(__file__)), "--worker", name, "--cases", str(cases),
                 "--seed", str(args.seed + offset), "--out", str(part)]  # fmt: skip
        procs[name] = (subprocess.Popen(argv_, cwd=REPO), part)
    results = []
    failed = []
    for name, (proc, part) in procs.items():
        if proc.wait() != 0 or not part.exists():
            failed.append(name)
            continue
        results.append(json.loads(part.read_text()))
        part.unlink()
    results = merge(results)
    total = time.monotonic() - began
    record = {
        "mode": plan.mode,
        "date": date,
        "commit": commit,
        "machine": procfs.machine(),
        "load_average_at_end": os.getloadavg(),
        "wall_seconds": round(total, 1),
        "probe_timeout_s": PROBE_TIMEOUT,
        "slack_s": SLACK,
        "memory_limit_bytes": MEMORY_LIMIT,
        "harnesses": results,
        "workers_failed": failed,
    }
    (out_dir / "fuzz.json").write_text(json.dumps(record, indent=2) + "\n")
    sections.replace(out_dir / "RESULTS.md", "fuzz", markdown(record))
    print(markdown(record))
    findings = sum(r["findings"] for r in results)
    return 1 if findings or failed else 0


def merge(results: List[dict]) -> List[dict]:
    """One row per harness: the parts of a harness that ran in several processes added up."""
    merged: Dict[str, dict] = {}
    for r in results:
        m = merged.get(r["harness"])
        if m is None:
            merged[r["harness"]] = dict(r, outcomes=dict(r["outcomes"]), workers=1)
            continue
        m["workers"] += 1
        m["cases"] += r["cases"]
        for k, v in r["outcomes"].items():
            m["outcomes"][k] = m["outcomes"].get(k, 0) + v
        m["findings"] += r["findings"]
        m["finding_samples"] += r["finding_samples"]
        m["cases_per_second"] = round(m["cases_per_second"] + r["cases_per_second"], 1)  # they ran at once
        m["seconds"] = max(m["seconds"], r["seconds"])
        m["starved_cases"] += r["starved_cases"]
        for key in ("max_case_ms", "max_over_deadline_ms", "max_unexplained_over_deadline_ms", "max_lag_ms",
                    "peak_case_kib", "max_rss_kib"):  # fmt: skip
            m[key] = max(m[key], r[key])
    return list(merged.values())


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = any(not line.endswith(("fuzz.json", "RESULTS.md")) for line in git("status", "--porcelain").splitlines())
    return commit + ("+dirty" if dirty else "")


def markdown(record: dict) -> str:
    machine = record["machine"]
    rows = [
        "| harness | cases | cases/s | outcomes | findings | slowest case | max past deadline "
        "(less CPU wait) | late only by CPU wait | peak memory of a case | worker max RSS |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = 0
    for r in record["harnesses"]:
        total += r["cases"]
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(r["outcomes"].items()))
        past = "—" if r["deadline_s"] is None else (
            f"{r['max_over_deadline_ms']:.0f} ms ({r['max_unexplained_over_deadline_ms']:.0f} ms)"
        )
        label = r["harness"] + (f" ({r['workers']} processes)" if r.get("workers", 1) > 1 else "")
        rows.append(
            f"| {label} | {r['cases']:,} | {r['cases_per_second']:,.0f} | {outcomes} | {r['findings']} | "
            f"{r['max_case_ms']:.0f} ms | {past} | {r['starved_cases']} (worst wait {r['max_lag_ms']:.0f} ms) | "
            f"{r['peak_case_kib']:,.0f} KiB | {r['max_rss_kib'] / 1024:,.0f} MiB |"
        )
    findings = sum(r["findings"] for r in record["harnesses"])
    lines = [
        "## Fuzzing",
        "",
        f"`bench/fuzz` ({record['mode']} run), {record['date']}, commit {record['commit']}, "
        f"{machine.get('cpu_model', '?')} ×{machine.get('cores', '?')}; load average at the end "
        f"{record['load_average_at_end'][0]:.1f} (other work shared the machine); {record['wall_seconds']:.0f} s wall.",
        "",
        f"**{total:,} cases, {findings} findings.** Mutations (tests/fuzz/mutate.py: bit flips, byte and field "
        "sets, length/count tweaks, truncation, extension, insertion, deletion, splicing) of real replies captured "
        "from nfs-ganesha 4.3/rpcbind and smbd 4.17 (tests/data/fuzz/, re-captured by `python -m tests.fuzz.capture`).",
        f"A case passes when it ends in fswatch's own types (an Observation; for the decoders a value or "
        f"FswatchError), within the probe's deadline ({record['probe_timeout_s']} s) + {record['slack_s']} s, "
        f"with a tracemalloc peak under {record['memory_limit_bytes'] >> 20} MiB.",
        "",
        *rows,
        "",
        "Outcomes: `ok` decoded / probe succeeded (the mutation was harmless), `error` a decoder's FswatchError, "
        "`failed` a failed Observation (a ProbeFailure with its alert), `finding` anything else. "
        "A thread in each worker sleeps 10 ms at a time and records how late it wakes: on this shared machine a "
        "worker waits for a CPU for up to the 'worst wait' shown; a case late past the slack by no more than its "
        "own process's wait is counted as starved, not as a finding (a hang or a spin shows no such wait).",
    ]
    if record["workers_failed"]:
        lines.append(f"\nWorkers that did not finish: {', '.join(record['workers_failed'])}.")
    samples = [s for r in record["harnesses"] for s in r.get("finding_samples", [])][:10]
    if samples:
        lines += ["", "Findings (replay: tests/fuzz/harness.py with the case seed):", ""]
        lines += [f"- {s['harness']} case {s['case']} seed {s['case_seed']}: {s['what']}: "
                  f"{s['problem'].splitlines()[0]}" for s in samples]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

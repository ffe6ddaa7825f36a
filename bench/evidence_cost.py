"""What the evidence from the server's own process costs a healthy watch (issue 18): CPU per
probe of real `fswatch run` watches with `--evidence stopped` beside the same watch with
`--evidence off`, all at once (the same machine, the same moment), each in a CPU-accounting
cgroup of its own (ns, not /proc/PID/stat's 10 ms ticks); and, for a stalled server, what one
look at it costs (finding the process serving the probe's connection, sampling its threads).

A targeted measurement, not part of bench/run: `.venv/bin/python bench/evidence_cost.py
[--probes N]`, as root. Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from fleet import Fleet, wait_until  # noqa: E402

from fswatch.host.procfs import ProcFS  # noqa: E402
from tests.fixtures.nfs_server import NfsServer  # noqa: E402
from tests.fixtures.samba_server import PUBLIC_SHARE, SambaServer  # noqa: E402

WARMUP = 10  # probes before the window


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=300, help="probes in the window (300: 5 minutes)")
    parser.add_argument("--looks", type=int, default=50, help="looks at a stalled server, per kind")
    args = parser.parse_args(argv)
    with SambaServer() as smb, NfsServer(netns=True, local_clients=True) as nfs, Fleet() as fleet:
        targets = {
            "samba": ["--share", PUBLIC_SHARE, "--address", smb.address, "--port", str(smb.port)],
            "nfs": ["--export", nfs.export_path, "--address", nfs.address],
        }
        watches = []
        for kind in ("samba", "nfs"):
            for evidence in ("stopped", "off"):
                watch_id = f"cost-{kind}-{evidence}"
                bound = fleet.add(kind, watch_id, targets[kind] + ["--evidence", evidence], 1, 5, 5)
                wrapper = ("nsenter", f"--net=/run/netns/{nfs.netns}", "--") if kind == "nfs" else ()
                watches.append(fleet.run(kind, watch_id, bound, fleet.group(watch_id), wrapper=wrapper))
        wait_until(lambda: all(w.probes() >= WARMUP for w in watches), WARMUP + 60, "warm-up")
        first = {w.watch_id: (w.probes(), w.exact_cpu()) for w in watches}
        end = time.monotonic() + args.probes + 60
        wait_until(lambda: all(w.probes() >= first[w.watch_id][0] + args.probes for w in watches) or
                   time.monotonic() > end, args.probes + 120, "the window", step=0.5)  # fmt: skip
        rows: Dict[str, Dict[str, float]] = {}
        for w in watches:
            probes, cpu = w.probes() - first[w.watch_id][0], (w.exact_cpu() or 0.0) - (first[w.watch_id][1] or 0.0)
            rows[w.watch_id] = {"probes": probes, "cpu_ms_per_probe": cpu * 1000.0 / max(probes, 1)}
        fleet.stop(watches)
        looks = {"samba": stalled_looks(smb.port, "127.0.0.1", smb.stall_all, smb.resume_all, args.looks, ("smbd",))}
    print(markdown(rows, looks, os.getloadavg()))
    return 0


def stalled_looks(port: int, address: str, stall, resume, count: int, prefer) -> Dict[str, List[float]]:
    """Milliseconds of one look at a stalled server the way the watch's worker takes it: the
    first search (nothing remembered), then the next ones (the listener's owner remembered),
    and one sample of the serving process's threads."""
    stall()
    try:
        first, again, sample = [], [], []
        for _ in range(count):
            with socket.create_connection((address, port), timeout=2) as conn:
                conn.sendall(b"\0\0\0\x10" + b"x" * 16)  # a request it will not answer
                fresh = ProcFS(prefer=prefer)
                t = time.perf_counter()
                servers, _ = fresh.servers()
                first.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                servers, _ = fresh.servers()
                again.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                fresh.sample(servers[0], detail=True)
                sample.append((time.perf_counter() - t) * 1000)
        return {"first search": first, "next searches": again, "one sample": sample}
    finally:
        resume()


def markdown(rows: Dict[str, Dict[str, float]], looks: Dict[str, Dict[str, List[float]]], load) -> str:
    lines = [
        "| watch | evidence | probes | CPU per probe (ms) |",
        "| --- | --- | ---: | ---: |",
    ]
    for watch_id, r in rows.items():
        _, kind, evidence = watch_id.split("-", 2)
        lines.append(f"| {kind} | {evidence} | {r['probes']} | {r['cpu_ms_per_probe']:.3f} |")
    for kind in ("samba", "nfs"):
        on, off = rows[f"cost-{kind}-stopped"], rows[f"cost-{kind}-off"]
        lines.append(f"| {kind} | difference | | {on['cpu_ms_per_probe'] - off['cpu_ms_per_probe']:+.3f} |")
    lines += ["", "| a stalled server | what | n | median (ms) | p90 (ms) | max (ms) |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for kind, parts in looks.items():
        for what, values in parts.items():
            ordered = sorted(values)
            p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
            lines.append(f"| {kind} | {what} | {len(values)} | {statistics.median(values):.2f} | {p90:.2f} | "
                         f"{max(values):.2f} |")  # fmt: skip
    lines += ["", f"1-min load average at the end: {load[0]:.1f}"]
    return "\n".join(lines)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())

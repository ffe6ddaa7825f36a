"""CPU per probe of several commits' watches, side by side: is a change worth its commit?

Each tree (a commit's `git archive`, or `current`: the work tree, uncommitted changes
included) runs COPIES watches of KIND at interval 1 s (retries 5, timeout 5, metrics on)
against the same loopback server, all at once, each in its own CPU-accounting cgroup, and
is measured like bench/run's "Before and after" watches: CPU between two points WINDOW
probes apart, after a warm-up. Load from other work hits every tree alike; between two runs
of this the figures move by a tenth of a millisecond, side by side they do not. Not part of
bench/run: it settles one question, bench/run records the figures.

    .venv/bin/python bench/ab.py nfs 23f6984 HEAD~1 current [--copies 2] [--window 60]

An experiment that is not a commit yet: commit it on a scratch branch, or run it as `current`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import phases  # noqa: E402
from fleet import BenchError, Fleet, Tree, Watch  # noqa: E402

from tests.fixtures.nfs_server import NfsServer  # noqa: E402
from tests.fixtures.samba_server import SambaServer  # noqa: E402

WARMUP = 5  # probes before the first reading


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/ab.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("samba", "nfs"))
    parser.add_argument("trees", nargs="+", metavar="COMMIT", help="commits to compare; 'current': the work tree")
    parser.add_argument("--copies", type=int, default=2, help="watches per tree (2)")
    parser.add_argument("--window", type=int, default=60, help="probes between the two readings (60)")
    args = parser.parse_args(argv)
    server = SambaServer() if args.kind == "samba" else NfsServer()
    with server as srv, Fleet() as fleet:
        smb, nfs = (srv, None) if args.kind == "samba" else (None, srv)
        trees = [Tree(fleet, None if name == "current" else name) for name in args.trees]
        probe = (["probe", "samba", "--share", phases.SHARE, "--port", str(srv.port)] if args.kind == "samba"
                 else ["probe", "nfs", "--export", srv.export_path])  # fmt: skip
        for tree in trees:  # byte code cached before any watch starts, as an installed package
            subprocess.run([*tree.command(), *probe, "--address", srv.address], env=fleet.env, capture_output=True,
                           timeout=60)  # fmt: skip
        textfile = fleet.root / "textfile"
        textfile.mkdir(exist_ok=True)
        runs: List[Tuple[str, Watch]] = []
        for copy in range(args.copies):
            for i, tree in enumerate(trees):
                watch_id = f"ab-{i}-{copy}"
                bound = phases.add_watch(fleet, args.kind, watch_id, smb, nfs, 1, 5, 5)
                watch = fleet.run(args.kind, watch_id, bound, fleet.group(watch_id), tree=tree,
                                  env={"FSWATCH_METRICS_DIR": str(textfile)})  # fmt: skip
                runs.append((args.trees[i], watch))
                time.sleep(1.0 / (args.copies * len(trees)))  # spread their cadences over the interval
        results: Dict[str, List[float]] = {}
        errors: List[BaseException] = []

        def measure(name: str, watch: Watch) -> None:
            try:
                a = phases._sample_after_probe(watch, WARMUP, WARMUP + 60.0)
                b = phases._sample_after_probe(watch, a.probes + args.window, args.window + 60.0)
                cpu = (b.exact - a.exact) if a.exact is not None else (b.cpu - a.cpu)
                results.setdefault(name, []).append(cpu * 1000.0 / (b.probes - a.probes))
            except BaseException as exc:  # raised below, in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=measure, args=run, daemon=True) for run in runs]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WARMUP + args.window + 180.0)
        finally:
            fleet.stop([watch for _, watch in runs])
        if errors:
            raise errors[0]
        if len(results) != len(trees):
            raise BenchError("a watch did not finish its window in time")
    first = statistics.mean(results[args.trees[0]])
    print(f"{args.kind}, {args.copies} watches per tree, {args.window} probes each, metrics on: CPU per probe (ms)")
    for name in args.trees:
        mean = statistics.mean(results[name])
        each = " ".join(f"{v:.3f}" for v in results[name])
        print(f"  {name:<12} {mean:.3f}  ({each})  {mean / first:.2f}x of {args.trees[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What metrics cost a watch: fswatch.watch.metrics (the format written by hand) against the
prometheus_client library, in the process a watch runs in.

Each sample is a fresh interpreter that imports what `fswatch run` imports
(fswatch.watch.runner), then one metrics implementation, then records and writes the metrics of a
Samba watch (4 stages) after each of 200 realistic probes to a tmpfs, as a watch does; the
parent then reads the child's USS from /proc/PID/smaps_rollup. Variants are interleaved
(A, B, C, A, B, C, ...) so drift from other load spreads over all of them.

    .venv/bin/python bench/metrics_cost.py [--library-path DIR] [--samples N]

--library-path: where prometheus_client is installed (e.g. `pip install --target DIR
prometheus-client`); it is not a dependency of fswatch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from procfs import memory_mb  # noqa: E402

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import fswatch.watch.runner
t1 = time.perf_counter()
variant, out = sys.argv[1], sys.argv[2]
from fswatch.core.observation import Observation, StageTiming
STAGES = (("connect", 0.4), ("negotiate", 2.1), ("session_setup", 4.3), ("tree_connect", 0.9))
if variant == "fswatch.watch.metrics":
    from fswatch.watch import metrics as m
    from fswatch.core.settings import Schedule
    t2 = time.perf_counter()
    w = m.WatchMetrics("samba", "web1", "public", Schedule(30, 5, 60), time.time())
    from fswatch.host.atomic import write_atomic
    def record(obs, i):
        w.observe(obs, "healthy", 0, obs.started_wall)
        write_atomic(out, w.render("healthy"), durable=False)
elif variant == "prometheus_client":
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, write_to_textfile
    t2 = time.perf_counter()
    r = CollectorRegistry(auto_describe=False)
    L = ["kind", "watch", "target"]
    base = ("samba", "web1", "public")
    buckets = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
    h = Histogram("fswatch_probe_duration_seconds", "d", L + ["stage"], buckets=buckets, registry=r)
    c = Counter("fswatch_probes", "p", L + ["result"], registry=r)
    g = Gauge("fswatch_consecutive_failed_probes", "f", L, registry=r)
    s = Gauge("fswatch_watch_state", "s", L + ["state"], registry=r)
    lh = Gauge("fswatch_last_healthy_probe_timestamp_seconds", "t", L, registry=r)
    Info("fswatch_watch", "i", L, registry=r).labels(*base).info(
        {"interval": "30", "retries": "5", "timeout": "60", "bound": "390"})
    states = ("starting", "healthy", "degraded", "failing", "paused", "failed", "stopped")
    def record(obs, i):
        for t in obs.stages:
            h.labels(*base, t.stage).observe(t.ms / 1000)
        c.labels(*base, "healthy").inc()
        g.labels(*base).set(0)
        for st in states:
            s.labels(*base, st).set(1 if st == "healthy" else 0)
        lh.labels(*base).set(obs.started_wall)
        write_to_textfile(out, r)
else:
    t2 = time.perf_counter()
    def record(obs, i):
        pass
w0 = time.perf_counter()
for i in range(200):
    record(Observation(time.time(), tuple(StageTiming(n, ms * (1 + i % 7 / 10)) for n, ms in STAGES)), i)
w1 = time.perf_counter()
print(json.dumps({"base_import_ms": (t1 - t0) * 1e3, "import_ms": (t2 - t1) * 1e3,
                  "write_us": (w1 - w0) * 1e6 / 200, "bytes": os.path.getsize(out) if os.path.exists(out) else 0}),
      flush=True)
sys.stdin.readline()
"""

VARIANTS = ("none", "fswatch.watch.metrics", "prometheus_client")


def sample(variant: str, env: dict, out: Path) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, variant, str(out)], env=env, cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        result = json.loads(line)
        result["uss_mb"] = memory_mb(proc.pid)["uss"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library-path", default="")
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        env = dict(os.environ, PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"),
                   PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), args.library_path) if p))
        for variant in VARIANTS:  # warm the byte-code cache, as for an installed package
            sample(variant, env, Path(tmp) / "warm.prom")
        runs: dict = {v: [] for v in VARIANTS}
        for _ in range(args.samples):
            for variant in VARIANTS:
                runs[variant].append(sample(variant, env, Path(tmp) / f"{variant}.prom"))
    report = {}
    for variant, results in runs.items():
        report[variant] = {key: round(statistics.median(r[key] for r in results), 3)
                           for key in ("base_import_ms", "import_ms", "write_us", "uss_mb", "bytes")}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

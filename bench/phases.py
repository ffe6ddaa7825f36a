"""The measurements: probe cost, one stalled probe, a resident watch, scale, detection.

Each function takes running servers (tests/fixtures) and returns plain data for
results.json. The servers are shared: a phase that stalls one resumes it and waits until it
answers again before it returns.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from fleet import BenchError, Fleet, Tree, Watch, tmpfs_dir, wait_until
from toolrunner import NOBODY, Unprivileged

from fswatch.core.deadline import Deadline
from fswatch.probes.nfs import NfsTarget, probe_nfs
from fswatch.probes.samba import SambaTarget, probe_samba
from tests.clock import SimulatedClock

SHARE = "public"
PROBE_DEADLINE = 10.0  # seconds: a healthy probe on loopback takes milliseconds
TOOL_TIMEOUT = 30.0  # seconds for one healthy smbclient / rpcinfo / showmount run
STALL_KILL_AFTER = 60.0  # seconds: the outer SIGKILL bound for a tool against a stalled server
STALL_PROBE_TIMEOUT = 2.0  # seconds: fswatch's probe deadline in the one-shot stall


# -- statistics -------------------------------------------------------------------------------


def percentile(values: List[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def summary(values: List[float], digits: int = 3) -> Dict[str, float]:
    return {
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "p95": round(percentile(values, 95), digits),
        "mean": round(statistics.fmean(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


# -- targets and tools ------------------------------------------------------------------------


def samba_target(smb) -> SambaTarget:
    return SambaTarget(SHARE, smb.address, smb.port)


def nfs_target(nfs, minor_version: Optional[int] = None, canary: Optional[str] = None) -> NfsTarget:
    """NFSv3 by default; with a minor version, NFSv4 pinned to it (4.1: the session probe)."""
    if canary is not None:
        return dataclasses.replace(nfs_target(nfs, minor_version), canary=canary)
    if minor_version is None:
        return NfsTarget(nfs.export_path, nfs.address)
    return NfsTarget(nfs.export_path, nfs.address, port=nfs.nfs_port, version=4, minor_version=minor_version)


def smbclient_argv(smb) -> List[str]:
    return ["smbclient", f"//{smb.address}/{SHARE}", "-p", str(smb.port), "-N", "-c", "exit"]


def rpcinfo_argv(nfs) -> List[str]:
    return ["rpcinfo", "-T", "tcp", nfs.address, "100003", "3"]


def showmount_argv(nfs) -> List[str]:
    return ["showmount", "-e", nfs.address]


def run_tool(argv: List[str], timeout: float, unprivileged: bool = False) -> Dict[str, object]:
    """Run a client tool; wall seconds, exit code, and whether the outer timeout SIGKILLed it.

    subprocess.run(timeout=) SIGKILLs: rpcinfo ignores SIGTERM during a call. `unprivileged`
    runs it as nobody (set by the C fork-exec code, safe with threads; costs a fork() instead of
    a vfork(): fine for a tool that hangs for seconds, not for timing a healthy run).
    """
    who = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if unprivileged else {}
    began = time.perf_counter()
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            **who,
        )
    except subprocess.TimeoutExpired:
        return {"seconds": time.perf_counter() - began, "rc": None, "killed": True, "stderr": ""}
    return {
        "seconds": time.perf_counter() - began,
        "rc": proc.returncode,
        "killed": False,
        "stderr": proc.stderr.decode(errors="replace").strip()[-300:],
    }


def _tool_ms(argv: List[str]) -> float:
    result = run_tool(argv, TOOL_TIMEOUT)
    if result["rc"] != 0:
        raise BenchError(f"{' '.join(argv)} failed against a healthy server: {result}")
    return result["seconds"] * 1000.0


def _probe_ms(probe: Callable, target) -> float:
    began = time.perf_counter()
    obs = probe(target, Deadline.after(PROBE_DEADLINE))
    elapsed = (time.perf_counter() - began) * 1000.0
    if not obs.ok:
        raise BenchError(f"fswatch probe of a healthy server failed: {obs.to_dict()}")
    return elapsed


# -- 1. probe cost ----------------------------------------------------------------------------


def probe_cost(smb, nfs, count: int, root_count: int, warmup: int = 5) -> Dict[str, object]:
    """fswatch's probes in-process against the usual tools as processes, interleaved A, B, A, B.

    The NFS tools run as `nobody` (see toolrunner: as root they would exhaust the host's
    reserved ports); a short series as root beside it shows that this does not change their cost.
    """
    st, nt = samba_target(smb), nfs_target(nfs)
    smbclient, rpcinfo, showmount = smbclient_argv(smb), rpcinfo_argv(nfs), showmount_argv(nfs)
    with Unprivileged() as nobody:
        cost = _probe_cost(st, nt, smbclient, rpcinfo, showmount, nobody, count, root_count, warmup, nfs)
    cost["canary"] = canary_cost(smb, nfs, count)
    return cost


def _probe_cost(
    st, nt, smbclient, rpcinfo, showmount, nobody, count, root_count, warmup, nt_server=None
) -> Dict[str, object]:
    def as_nobody(argv: List[str]) -> float:
        result = nobody.run(argv, TOOL_TIMEOUT)
        if result["rc"] != 0:
            raise BenchError(f"{' '.join(argv)} (as nobody) failed against a healthy server: {result}")
        return result["seconds"] * 1000.0

    for _ in range(warmup):
        _probe_ms(probe_samba, st)
        _tool_ms(smbclient)
        _probe_ms(probe_nfs, nt)
        as_nobody(rpcinfo)
        as_nobody(showmount)

    fsw_samba, tool_samba = [], []
    for _ in range(count):
        fsw_samba.append(_probe_ms(probe_samba, st))
        tool_samba.append(_tool_ms(smbclient))

    fsw_nfs, tool_nfs, tool_rpcinfo, tool_showmount = [], [], [], []
    v4 = {minor: nfs_target(nt_server, minor) for minor in (0, 1)} if nt_server is not None else {}
    fsw_v4: Dict[int, List[float]] = {minor: [] for minor in v4}
    for _ in range(count):
        fsw_nfs.append(_probe_ms(probe_nfs, nt))
        for minor, target in v4.items():  # v4.0 (one COMPOUND) and v4.1 (a session: five round trips)
            fsw_v4[minor].append(_probe_ms(probe_nfs, target))
        a, b = as_nobody(rpcinfo), as_nobody(showmount)
        tool_rpcinfo.append(a)
        tool_showmount.append(b)
        tool_nfs.append(a + b)

    fsw_root, tool_root = [], []
    for _ in range(root_count):
        fsw_root.append(_probe_ms(probe_nfs, nt))
        tool_root.append(_tool_ms(rpcinfo) + _tool_ms(showmount))

    return {
        "samba": {"fswatch": summary(fsw_samba), "smbclient": summary(tool_samba)},
        "nfs": {
            "fswatch": summary(fsw_nfs),
            "rpcinfo_showmount": summary(tool_nfs),
            "rpcinfo": summary(tool_rpcinfo),
            "showmount": summary(tool_showmount),
            "tools_as": "nobody",
        },
        "nfs_v4": {f"4.{minor}": summary(values) for minor, values in fsw_v4.items()},
        "nfs_tools_as_root": {"fswatch": summary(fsw_root), "rpcinfo_showmount": summary(tool_root)},
    }


CANARY = "fswatch-bench-canary.txt"
CANARY_BYTES = 4096  # what a probe reads of it
CANARY_WRITE = "fswatch-bench-canary-write"  # the write canary's directory, one subdirectory per series
WRITE_STAGES = ("write_create", "write", "write_readback", "write_remove", "write_sweep")


def canary_cost(smb, nfs, count: int) -> Dict[str, object]:
    """The probes without a canary, with a canary (--canary: its first 4 KiB read as a last stage)
    and with a write canary (--canary-write: a file created, 4 KiB written to stable storage, read
    back and removed, then the sweep's listing), interleaved A, B, C, ... per kind after 5 warm-up
    rounds. The read canary is written once into the share and the export, so the server's page
    cache holds it (the cost of the path, not of a disk); the write canary's FLUSH / FILE_SYNC
    reaches the storage beneath (here the VM's disk, through the page cache and its fsync)."""
    st = samba_target(smb)
    paths = [Path(smb.share_path(SHARE)) / CANARY, Path(nfs.export_path) / CANARY]
    for path in paths:
        path.write_bytes(os.urandom(CANARY_BYTES))
        path.chmod(0o644)
    directories = [Path(root) / CANARY_WRITE for root in (smb.share_path(SHARE), nfs.export_path)]
    for directory in directories:
        for name in ("samba", "nfs_v3", "nfs_v4.0", "nfs_v4.1"):
            (directory / name).mkdir(parents=True, exist_ok=True)
            for made in (directory, directory / name):
                made.chmod(0o1777)  # smbd's guest account writes there

    def writing(target, name: str):
        return dataclasses.replace(target, canary_write=f"{CANARY_WRITE}/{name}")

    plain = {
        "samba": (probe_samba, st),
        "nfs_v3": (probe_nfs, nfs_target(nfs)),
        "nfs_v4.0": (probe_nfs, nfs_target(nfs, 0)),
        "nfs_v4.1": (probe_nfs, nfs_target(nfs, 1)),
    }
    series = {
        name: (probe, target, dataclasses.replace(target, canary=CANARY), writing(target, name))
        for name, (probe, target) in plain.items()
    }
    samples: Dict[str, Tuple[List[float], ...]] = {name: ([], [], [], [], []) for name in series}

    def timed(probe, target) -> Tuple[float, object]:
        began = time.perf_counter()
        obs = probe(target, Deadline.after(PROBE_DEADLINE))
        elapsed = (time.perf_counter() - began) * 1000.0
        if not obs.ok:
            raise BenchError(f"fswatch probe with a canary of a healthy server failed: {obs.to_dict()}")
        return elapsed, obs

    try:
        for round_ in range(5 + count):  # 5 warm-up rounds, not kept
            for name, (probe, plain, with_canary, with_write) in series.items():
                without = _probe_ms(probe, plain)
                read_ms, read_obs = timed(probe, with_canary)
                write_ms, write_obs = timed(probe, with_write)
                if round_ >= 5:
                    kept = samples[name]
                    kept[0].append(without)
                    kept[1].append(read_ms)
                    kept[2].extend(st.ms for st in read_obs.stages if st.stage == "canary")
                    kept[3].append(write_ms)
                    kept[4].append(sum(st.ms for st in write_obs.stages if st.stage in WRITE_STAGES))
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
    left = [str(p) for directory in directories for name in series for p in (directory / name).iterdir()]
    if left:
        raise BenchError(f"the write canary left files behind: {left}")
    return {
        name: {"without": summary(a), "with_canary": summary(b), "canary_stage": summary(c),
               "with_canary_write": summary(d), "canary_write_stages": summary(e)}  # fmt: skip
        for name, (a, b, c, d, e) in samples.items()
    }


# -- 2. one probe / one tool run against a stalled server --------------------------------------------

ONE_SHOT = ("fswatch_samba", "smbclient", "fswatch_nfs", "rpcinfo", "showmount")


class OneShot:
    """fswatch's probe (timeout 2 s) and each tool, started at once against a server just stalled.

    Seconds from the SIGSTOP to each one's verdict; the tools under an outer SIGKILL at 60 s.
    Runs inside a detection round (same SIGSTOP, so no extra 20 s phase of its own).
    """

    def __init__(self) -> None:
        self.results: Dict[str, Dict[str, object]] = {}
        self._threads: List[threading.Thread] = []

    def start_samba(self, smb, t0: float) -> None:
        self._start("fswatch_samba", t0, _fswatch_job(probe_samba, samba_target(smb)))
        self._start("smbclient", t0, _tool_job(smbclient_argv(smb)))

    def start_nfs(self, nfs, t0: float) -> None:
        self._start("fswatch_nfs", t0, _fswatch_job(probe_nfs, nfs_target(nfs)))
        self._start("rpcinfo", t0, _tool_job(rpcinfo_argv(nfs), True))
        self._start("showmount", t0, _tool_job(showmount_argv(nfs), True))

    def _start(self, name: str, t0: float, job: Callable[[], Dict[str, object]]) -> None:
        def body() -> None:
            outcome = job()
            outcome["seconds"] = round(time.monotonic() - t0, 3)
            self.results[name] = outcome

        thread = threading.Thread(target=body, name=f"one-shot-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def join(self) -> Dict[str, Dict[str, object]]:
        for thread in self._threads:
            thread.join(STALL_KILL_AFTER + 10)
        missing = set(ONE_SHOT) - set(self.results)
        if missing:
            raise BenchError(f"one-shot clients against the stalled servers did not finish: {sorted(missing)}")
        return self.results


def _fswatch_job(probe: Callable, target) -> Callable[[], Dict[str, object]]:
    def job() -> Dict[str, object]:
        obs = probe(target, Deadline.after(STALL_PROBE_TIMEOUT))
        failure = obs.failure
        if failure is None:
            return {"failed": False, "alert": None, "stage": None}
        return {"failed": True, "alert": failure.alert, "stage": failure.stage}

    return job


def _tool_job(argv: List[str], unprivileged: bool = False) -> Callable[[], Dict[str, object]]:
    def job() -> Dict[str, object]:
        out = run_tool(argv, STALL_KILL_AFTER, unprivileged)
        out.pop("seconds")
        out["failed"] = out["killed"] or out["rc"] != 0
        return out

    return job


def wait_healthy(smb, nfs, timeout: float = 30.0) -> None:
    """Both servers answer a probe again (after a resume, smbd first drains the stalled backlog)."""
    st, nt = samba_target(smb), nfs_target(nfs)
    wait_until(lambda: probe_samba(st, Deadline.after(2)).ok, timeout, "smbd to answer again", step=0.1)
    wait_until(lambda: probe_nfs(nt, Deadline.after(2)).ok, timeout, "ganesha to answer again", step=0.1)


# -- watches --------------------------------------------------------------------------------


def add_watch(fleet: Fleet, kind: str, watch_id: str, smb, nfs, interval: int, retries: int, timeout: int) -> float:
    if kind == "samba":
        options = ["--share", SHARE, "--address", smb.address, "--port", str(smb.port)]
    else:
        options = ["--export", nfs.export_path, "--address", nfs.address]
    return fleet.add(kind, watch_id, options, interval, retries, timeout)


def warm_bytecode(fleet: Fleet, smb, nfs) -> None:
    fleet.warm_bytecode(_probe_argvs(smb, nfs))


def _check_alive(watches: List[Watch]) -> None:
    for watch in watches:
        if watch.proc.poll() is not None:
            raise BenchError(f"{watch.kind} watch {watch.watch_id} exited {watch.proc.returncode}:\n{watch.stderr()}")


# -- 3. one resident watch per kind: CPU per probe and memory --------------------------------------


@dataclass
class _Sample:
    probes: int
    cpu: float  # /proc/PID/stat, 10 ms ticks
    exact: Optional[float]  # the watch's cgroup, ns; None without one
    at: float


def _sample_after_probe(watch: Watch, at_least: int, timeout: float) -> _Sample:
    """Wait until the watch has finished probe number `at_least`, then read its CPU time at once.

    The state file is written at the end of each probe, so a sample taken as soon as the
    count changes falls in the idle time between probes: no half-counted probe.
    """

    def seen() -> Optional[_Sample]:
        if watch.proc.poll() is not None:
            raise BenchError(f"{watch.kind} watch {watch.watch_id} exited {watch.proc.returncode}:\n{watch.stderr()}")
        probes = watch.probes()
        if probes >= at_least:
            cpu, exact = watch.cpu(), watch.exact_cpu()
            return _Sample(probes, cpu, exact, time.monotonic()) if cpu is not None else None
        return None

    return wait_until(seen, timeout, f"{watch.kind} watch to reach {at_least} probes", step=0.01)


@dataclass
class Resident:
    """A Samba and an NFS watch at interval 1 s: CPU per probe between two points after warm-up,
    memory after `memory_after` probes. Runs in a thread, so it can overlap another phase."""

    fleet: Fleet
    smb: object
    nfs: object
    warmup: int
    window: int
    memory_after: int
    results: Dict[str, Dict[str, object]] = field(default_factory=dict)
    error: Optional[BaseException] = None
    _thread: Optional[threading.Thread] = None

    def start(self) -> Resident:
        watches = []
        for kind in ("samba", "nfs"):
            bound = add_watch(self.fleet, kind, f"resident-{kind}", self.smb, self.nfs, 1, 5, 5)
            watches.append(self.fleet.run(kind, f"resident-{kind}", bound, self.fleet.group(f"resident-{kind}")))
        self._thread = threading.Thread(target=self._measure, args=(watches,), name="resident", daemon=True)
        self._thread.start()
        return self

    def _measure(self, watches: List[Watch]) -> None:
        try:
            per_watch = [threading.Thread(target=self._measure_one, args=(w,), daemon=True) for w in watches]
            for thread in per_watch:
                thread.start()
            for thread in per_watch:
                thread.join()
        except BaseException as exc:  # handed to finish()
            self.error = exc
        finally:
            self.fleet.stop(watches)

    def _measure_one(self, watch: Watch) -> None:
        try:
            limit = self.warmup + max(self.window, self.memory_after) + 60.0
            first = _sample_after_probe(watch, 1, limit)  # start-up (imports, settings) + one probe
            a = _sample_after_probe(watch, self.warmup, limit)
            memory = None
            b = None
            targets = sorted({a.probes + self.window, self.memory_after})
            for target in targets:
                sample = _sample_after_probe(watch, target, limit)
                if target == self.memory_after:
                    memory = watch.memory()
                    memory_probes = sample.probes
                if target == a.probes + self.window:
                    b = sample
            probes = b.probes - a.probes
            stat_ms = (b.cpu - a.cpu) * 1000.0
            exact_ms = (b.exact - a.exact) * 1000.0 if a.exact is not None else None
            self.results[watch.kind] = {
                "pid": watch.pid,
                "cpu_ms_per_probe": round((exact_ms if exact_ms is not None else stat_ms) / probes, 3),
                "cpu_source": "cgroup" if exact_ms is not None else "proc_stat",
                "cpu_ms_per_probe_proc_stat": round(stat_ms / probes, 3),
                "proc_stat_resolution_ms_per_probe": round(20.0 / probes, 3),
                "window": {
                    "probes": probes,
                    "seconds": round(b.at - a.at, 2),
                    "cpu_ms": round(exact_ms if exact_ms is not None else stat_ms, 2),
                    "cpu_ms_proc_stat": round(stat_ms, 1),
                    "from_probe": a.probes,
                },
                "startup_cpu_ms": round(((first.exact if first.exact is not None else first.cpu)) * 1000.0, 1),
                "startup_probes": first.probes,
                "memory_mb": {k: round(v, 2) for k, v in (memory or {}).items()},
                "memory_after_probes": memory_probes,
            }
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float) -> Dict[str, Dict[str, object]]:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise BenchError("the resident watches did not finish their window in time")
        if self.error is not None:
            raise self.error
        return self.results


# -- 4. scale -------------------------------------------------------------------------------------


def scale_level(fleet: Fleet, smb, nfs, count: int, window: float) -> Dict[str, object]:
    """`count` watches at interval 1 s (half Samba, rounded up; half NFS): CPU % of one core over
    `window` seconds after warm-up, total USS; per kind the CPU per probe, which must not grow."""
    kinds = ["samba" if i % 2 == 0 else "nfs" for i in range(count)]
    groups = {kind: fleet.group(f"scale{count}-{kind}") for kind in set(kinds)}
    watches: List[Watch] = []
    try:
        for i, kind in enumerate(kinds):
            watch_id = f"scale{count}-{kind}-{i:02d}"
            bound = add_watch(fleet, kind, watch_id, smb, nfs, 1, 5, 5)
            watches.append(fleet.run(kind, watch_id, bound, groups[kind]))
            time.sleep(1.0 / count)  # spread their cadences over the interval, as independent units would be
        wait_until(lambda: (_check_alive(watches), all(w.probes() >= 2 for w in watches))[1], 120, "watches warm")
        time.sleep(0.5)
        a = [(w.cpu(), w.probes()) for w in watches]
        exact_a = {k: g.seconds() for k, g in groups.items() if g is not None}
        t_a = time.monotonic()
        time.sleep(window)
        b = [(w.cpu(), w.probes()) for w in watches]
        exact_b = {k: g.seconds() for k, g in groups.items() if g is not None}
        t_b = time.monotonic()
        _check_alive(watches)
        memory = [w.memory() or {} for w in watches]
    finally:
        fleet.stop(watches)
    seconds = t_b - t_a
    cpu = [b_cpu - a_cpu for (a_cpu, _), (b_cpu, _) in zip(a, b)]
    probes = [b_n - a_n for (_, a_n), (_, b_n) in zip(a, b)]
    per_kind = {}
    stat_total = sum(cpu)
    for kind in ("samba", "nfs"):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if idx:
            kind_cpu = exact_b[kind] - exact_a[kind] if kind in exact_a else sum(cpu[i] for i in idx)
            kind_probes = sum(probes[i] for i in idx)
            per_kind[kind] = {
                "watches": len(idx),
                "cpu_percent": round(kind_cpu / seconds * 100.0, 2),
                "cpu_percent_per_watch": round(kind_cpu / seconds * 100.0 / len(idx), 3),
                "cpu_ms_per_probe": round(kind_cpu * 1000.0 / kind_probes, 3) if kind_probes else None,
                "uss_mb_per_watch": round(sum(memory[i].get("uss", 0.0) for i in idx) / len(idx), 2),
            }
    exact_total = sum(exact_b[k] - exact_a[k] for k in exact_a) if len(exact_a) == len(groups) else None
    total_cpu = (exact_total if exact_total is not None else stat_total) / seconds * 100.0
    return {
        "watches": count,
        "window_s": round(seconds, 2),
        "cpu_percent": round(total_cpu, 2),
        "cpu_source": "cgroup" if exact_total is not None else "proc_stat",
        "cpu_percent_proc_stat": round(stat_total / seconds * 100.0, 2),
        "cpu_percent_per_watch": round(total_cpu / count, 3),
        "uss_mb": round(sum(m.get("uss", 0.0) for m in memory), 1),
        "pss_mb": round(sum(m.get("pss", 0.0) for m in memory), 1),
        "rss_mb": round(sum(m.get("rss", 0.0) for m in memory), 1),
        "probes": sum(probes),
        "by_kind": per_kind,
    }


# -- 5. detection of a stall by running watches --------------------------------------------------

DETECTION_SCHEDULES = [(1, 2, 1), (2, 1, 1)]  # (interval, retries, timeout)


def detection(
    fleet: Fleet, smb, nfs, rounds: int, one_shot_rounds: int, rng: random.Random
) -> Tuple[List[Dict[str, object]], List[Dict[str, Dict[str, object]]]]:
    """`rounds` injected stalls; in each, one watch per kind and schedule, started at random
    moments, so every stall falls at a random phase of each watch's cadence. In the first
    `one_shot_rounds`, the one-shot probes and tools (OneShot) run against the same stall.

    Detection time: from just before the SIGSTOP to the watch process's exit (polled every
    10 ms). Slack: detection time minus the stated bound.
    """
    points: List[Dict[str, object]] = []
    one_shots: List[Dict[str, Dict[str, object]]] = []
    configs = [(kind, *sched) for kind in ("samba", "nfs") for sched in DETECTION_SCHEDULES]
    schedules: Dict[str, tuple] = {}
    for round_no in range(rounds):
        watches: List[Watch] = []
        try:
            for kind, interval, retries, timeout in rng.sample(configs, len(configs)):
                watch_id = f"detect-{kind}-i{interval}r{retries}t{timeout}"
                bound = add_watch(fleet, kind, watch_id, smb, nfs, interval, retries, timeout)
                watches.append(fleet.run(kind, watch_id, bound))
                schedules[watch_id] = (interval, retries, timeout)
                time.sleep(rng.uniform(0.0, 0.5))

            wait_until(lambda: _all_healthy(watches), 30, "detection watches healthy")  # noqa: B023 - called here
            time.sleep(rng.uniform(0.0, 2.0))  # the fault's phase: random against every cadence
            before = {w.watch_id: w.state() for w in watches}
            one_shot = OneShot() if round_no < one_shot_rounds else None
            wall = time.time()
            t_samba = time.monotonic()
            smb.stall_all()
            if one_shot is not None:
                one_shot.start_samba(smb, t_samba)
            t_nfs = time.monotonic()
            nfs.stall_ganesha()
            if one_shot is not None:
                one_shot.start_nfs(nfs, t_nfs)
            ended: Dict[str, float] = {}
            limit = time.monotonic() + max(w.bound for w in watches) + 15.0
            while len(ended) < len(watches) and time.monotonic() < limit:
                now = time.monotonic()
                for w in watches:
                    if w.watch_id not in ended and w.proc.poll() is not None:
                        ended[w.watch_id] = now
                time.sleep(0.01)
            if one_shot is not None:
                one_shots.append(one_shot.join())
        finally:
            smb.resume_all()
            nfs.resume_ganesha()
            fleet.stop(watches)
        for w in watches:
            if w.watch_id not in ended or w.proc.returncode != 1:
                raise BenchError(f"round {round_no}: {w.watch_id} did not declare the stall:\n{w.stderr()}")
            t0 = t_samba if w.kind == "samba" else t_nfs
            interval, retries, timeout = schedules[w.watch_id]
            last = (before[w.watch_id].get("last_probe") or {}).get("started")
            detected = ended[w.watch_id] - t0
            points.append(
                {
                    "round": round_no,
                    "kind": w.kind,
                    "interval": interval,
                    "retries": retries,
                    "timeout": timeout,
                    "bound_s": w.bound,
                    "detected_s": round(detected, 3),
                    "slack_s": round(detected - w.bound, 3),
                    "phase": round(((wall - last) % interval) / interval, 3) if last else None,
                    "alerts": _alert_ids(w.stderr())[-3:],
                }
            )
        wait_healthy(smb, nfs)
    return points, one_shots


def _all_healthy(watches: List[Watch]) -> bool:
    """Every watch's own process (not a previous round's) has written a healthy state."""
    _check_alive(watches)
    return all(w.state().get("pid") == w.pid and w.healthy() for w in watches)


def _alert_ids(stderr: str) -> List[int]:
    ids = []
    for line in stderr.splitlines():
        words = line.split()
        if "alert" in words:
            i = words.index("alert")
            if i + 1 < len(words) and words[i + 1].rstrip(":").isdigit():
                ids.append(int(words[i + 1].rstrip(":")))
    return ids


# -- 6. before and after: the previous release beside the current code -----------------------------

AB_METRICS = ("on", "off")


def before_after(fleet: Fleet, smb, nfs, baseline: str, warmup: int, window: int) -> Dict[str, object]:
    """The release `baseline` (a commit) and the current code side by side: per kind, one
    `fswatch run` of each with metrics on and one with metrics off (FSWATCH_METRICS_DIR=off),
    eight watches at once at interval 1 s against the same servers, each in its own cgroup.
    CPU per probe over `window` probes after `warmup`, memory at the end of the window. All
    run through the same launcher (the venv's interpreter, the tree's code), so nothing but
    the code differs; the load of others on this shared machine hits all eight alike."""
    trees = [Tree(fleet, baseline), Tree(fleet, None)]
    textfile = fleet.root / "textfile"
    textfile.mkdir(exist_ok=True)
    for tree in trees:  # byte code of each tree cached before any watch starts (as installed)
        for argv in _probe_argvs(smb, nfs):
            subprocess.run([*tree.command(), *argv], env=fleet.env, capture_output=True, timeout=60)
    runs = []
    try:
        for kind in ("samba", "nfs"):
            for tree in trees:
                for metrics in AB_METRICS:
                    watch_id = f"ab-{kind}-{tree.label}-{metrics}"
                    bound = add_watch(fleet, kind, watch_id, smb, nfs, 1, 5, 5)
                    env = {"FSWATCH_METRICS_DIR": str(textfile) if metrics == "on" else "off"}
                    watch = fleet.run(kind, watch_id, bound, fleet.group(watch_id), tree=tree, env=env)
                    runs.append((kind, tree.label, metrics, watch))
                    time.sleep(1.0 / 8)  # spread their cadences over the interval
        results: Dict[str, Dict[str, object]] = {}
        errors: List[BaseException] = []

        def measure(kind: str, label: str, metrics: str, watch: Watch) -> None:
            try:
                a = _sample_after_probe(watch, warmup, warmup + window + 60.0)
                b = _sample_after_probe(watch, a.probes + window, window + 60.0)
                memory = watch.memory() or {}
                cpu = (b.exact - a.exact) if a.exact is not None else (b.cpu - a.cpu)
                results.setdefault(kind, {}).setdefault(label, {})[metrics] = {
                    "cpu_ms_per_probe": round(cpu * 1000.0 / (b.probes - a.probes), 3),
                    "cpu_source": "cgroup" if a.exact is not None else "proc_stat",
                    "probes": b.probes - a.probes,
                    "memory_mb": {k: round(v, 2) for k, v in memory.items()},
                    "memory_after_probes": b.probes,
                }
            except BaseException as exc:  # raised below, in the bench's thread
                errors.append(exc)

        threads = [threading.Thread(target=measure, args=run, daemon=True) for run in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(warmup + window + 180.0)
        if errors:
            raise errors[0]
        if any(thread.is_alive() for thread in threads):
            raise BenchError("the before/after watches did not finish their window in time")
    finally:
        fleet.stop([run[3] for run in runs])
    return {"baseline": baseline, "warmup": warmup, "window": window, "load": load_average(), "watches": results}


def _probe_argvs(smb, nfs) -> List[List[str]]:
    return [
        ["probe", "samba", "--share", SHARE, "--address", smb.address, "--port", str(smb.port), "--timeout", "5"],
        ["probe", "nfs", "--export", nfs.export_path, "--address", nfs.address, "--timeout", "5"],
    ]


def samba_fleet(fleet: Fleet, smb, nfs, count: int, probes: int, baseline: Optional[str]) -> Dict[str, object]:
    """`count` Samba watches at interval 1 s (a node watching many shares): the sum of their PSS
    once each has made `probes` probes, for the current code and, after it, for `baseline`
    (each fleet alone, so neither shares pages with the other)."""
    out: Dict[str, object] = {"watches": count, "after_probes": probes}
    for tree in [Tree(fleet, None)] + ([Tree(fleet, baseline)] if baseline else []):
        for argv in _probe_argvs(smb, nfs)[:1]:
            subprocess.run([*tree.command(), *argv], env=fleet.env, capture_output=True, timeout=60)
        watches: List[Watch] = []
        try:
            for i in range(count):
                watch_id = f"pss-{tree.label}-{i:02d}"
                bound = add_watch(fleet, "samba", watch_id, smb, nfs, 1, 5, 5)
                watches.append(fleet.run("samba", watch_id, bound, tree=tree))
                time.sleep(1.0 / count)
            wait_until(lambda: (_check_alive(watches), all(w.probes() >= probes for w in watches))[1],  # noqa: B023
                       120, f"{count} Samba watches to make {probes} probes")
            memory = [w.memory() or {} for w in watches]
        finally:
            fleet.stop(watches)
        out[tree.label] = {
            key: round(sum(m.get(key, 0.0) for m in memory), 1) for key in ("pss", "uss", "rss")
        }
        out[tree.label]["pss_per_watch"] = round(out[tree.label]["pss"] / count, 2)
    out["load"] = load_average()
    return out


def load_average() -> List[float]:
    """The 1, 5 and 15 minute load averages: how busy the shared machine was."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []


# -- 7. what metrics cost a probe, measured in-process -------------------------------------------


def metrics_cpu(rounds: int, probes: int) -> Dict[str, object]:
    """CPU per probe of a watch's loop around a stand-in probe (six stages, as an NFS v3 probe
    has), metrics off and on, in alternating blocks of `probes` probes at a simulated interval
    of 1 s: the real engine, reporter, state file (tmpfs) and metrics writer (its every-few-
    seconds policy on the simulated clock). The difference is what metrics cost a probe; two
    watch processes side by side (before_after) differ by more than that from the machine's
    load alone."""
    from fswatch.core.observation import Observation, StageTiming
    from fswatch.core.settings import Schedule
    from fswatch.host.control import Control
    from fswatch.host.metrics_files import RUNTIME_NAME
    from fswatch.host.notify import Notifier
    from fswatch.host.sinks import ListSink
    from fswatch.kinds import NFS
    from fswatch.watch import metrics as m
    from fswatch.watch.engine import Watch as Engine
    from fswatch.watch.reporter import Reporter

    stages = ("portmap", "mount", "nfs_null", "getattr", "fsstat", "umount")
    root = Path(tempfile.mkdtemp(prefix="fswatch-bench-metrics-", dir=tmpfs_dir()))
    textfile = root / "textfile"
    textfile.mkdir()
    cpu: Dict[str, List[float]] = {"off": [], "on": []}
    try:
        for i in range(rounds):
            for mode in ("off", "on"):
                clock = SimulatedClock(probes - 0.5)
                schedule = Schedule(1, 5, 5)
                control = Control(root / "run" / "nfs" / f"m{i}{mode}")
                writer = None
                if mode == "on":
                    metrics = m.WatchMetrics("nfs", "m", "/export", schedule, time.time())
                    write = functools.partial(control.write_file, RUNTIME_NAME)
                    writer = m.MetricsWriter(metrics, "nfs", "m", textfile, write=write, clock=clock)
                reporter = Reporter(NFS, "m", "/export", schedule, ListSink(), Notifier(None), control, wall=clock,
                                    metrics=writer)

                def probe(deadline, clock=clock) -> Observation:  # this block's clock
                    clock.t += 0.001
                    return Observation(clock.t, tuple(StageTiming(s, 0.1 + 0.01 * n) for n, s in enumerate(stages)))

                control.hold()
                began = time.thread_time()
                try:
                    Engine(schedule, probe, reporter, control, stop=clock, clock=clock).run()
                finally:
                    control.let_go()
                cpu[mode].append((time.thread_time() - began) * 1000.0 / probes)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    off, on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    return {
        "rounds": rounds,
        "probes_per_round": probes,
        "loop_ms_per_probe": {"off": round(off, 4), "on": round(on, 4)},
        "metrics_ms_per_probe": round(on - off, 4),
        "write_every_s": m.WRITE_EVERY,
    }

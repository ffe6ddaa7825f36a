"""The soak's load: userspace file clients through the servers, and stress-ng (CPU, memory,
disk), each a process of ours, bounded in time, stopped by PID; and what the machine does
meanwhile (load average, pressure-stall information, CPU by who uses it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT = 10.0  # seconds for a load process to end after SIGTERM


def stop_process(proc: subprocess.Popen, group: bool = False) -> None:
    """SIGTERM by PID, bounded wait, then SIGKILL (its own process group when it leads one)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(STOP_TIMEOUT)
    if group:  # stress-ng's workers, should any outlive their parent: the group is the one we made
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


class Stress:
    """One stress-ng, bounded: its own session (stopped by PID, its group killed after),
    `--timeout` so that it ends by itself even if the soak is SIGKILLed, and a parent-death
    signal (setpriv --pdeathsig) so that it ends at once when the soak dies. With
    `memory_limit` it runs in a memory cgroup of its own with that limit: its memory and disk
    workers then reclaim and wait on writeback inside it -- real memory and IO pressure (PSI)
    without taking memory from the rest of this shared machine.
    """

    MEMCG_V1 = Path("/sys/fs/cgroup/memory")

    def __init__(self, name: str, stressors: List[str], seconds: float, log: Path,
                 memory_limit: Optional[str] = None) -> None:  # fmt: skip
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"fswatch-soak-{name}-", dir="/var/tmp"))
        self.argv = ["setpriv", "--pdeathsig", "TERM", "--", "stress-ng", *stressors]
        self.argv += ["--temp-path", str(self.dir), "--timeout", f"{int(seconds)}s"]
        self.log = log
        self.memory_limit = memory_limit
        self.cgroup: Optional[Path] = None
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> Stress:
        for tool in ("stress-ng", "setpriv"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: run scripts/setup.sh (Debian package stress-ng)")
        argv = self.argv
        if self.memory_limit is not None:
            if not (self.MEMCG_V1 / "memory.limit_in_bytes").exists():
                raise RuntimeError(f"no cgroup v1 memory controller at {self.MEMCG_V1} for the bounded memory load")
            self.cgroup = self.MEMCG_V1 / f"fswatch-soak-{os.getpid()}-{self.name}"
            self.cgroup.mkdir()
            (self.cgroup / "memory.limit_in_bytes").write_text(self.memory_limit)
            # Into the cgroup before stress-ng forks a worker: the shell joins it, then execs.
            argv = ["sh", "-c", f'echo $$ > {self.cgroup}/cgroup.procs && exec "$@"', "sh", *argv]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        return self

    def stop(self) -> None:
        try:
            if self.proc is not None:
                stop_process(self.proc, group=True)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.cgroup is not None:
                deadline = time.monotonic() + STOP_TIMEOUT
                while self.cgroup.exists() and time.monotonic() < deadline:  # busy until its last task is reaped
                    with contextlib.suppress(OSError):
                        self.cgroup.rmdir()
                    time.sleep(0.1)
                self.cgroup = None

    @property
    def session(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None


class Clients:
    """Load clients (bench/soakclient.py), each its own process, until `seconds` or stop()."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.procs: List[subprocess.Popen] = []
        self.files: List[Path] = []

    def start(self, protocol: str, name: str, options: List[str], seconds: float, pause: float, seed: int,
              env: Optional[Dict[str, str]] = None) -> None:  # fmt: skip
        out = self.out_dir / f"client-{name}.json"
        argv = [sys.executable, str(HERE / "soakclient.py"), protocol, "--name", name, *options]
        argv += ["--seconds", str(seconds), "--out", str(out), "--seed", str(seed), "--pause", str(pause)]
        with open(self.out_dir / f"client-{name}.log", "ab") as log:
            self.procs.append(
                subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env or dict(os.environ))
            )
        self.files.append(out)

    @property
    def pids(self) -> List[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # each saves its stats and exits
        for proc in self.procs:
            stop_process(proc)


def unit_scheduling(unit: Path) -> Dict[str, str]:
    """The scheduling settings a unit file gives its service (Nice=, CPUWeight=, IOWeight=)."""
    out: Dict[str, str] = {}
    for line in unit.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in ("Nice", "CPUWeight", "IOWeight"):
            out[key] = value.strip()
    return out


class CpuWeightGroup:
    """A cgroup v1 `cpu` group with the shares a systemd CPUWeight= gives (weight × 1024 / 100;
    the default weight 100 is the default 1024 shares), for the watches of one kind."""

    ROOT = Path("/sys/fs/cgroup/cpu")

    def __init__(self, name: str, weight: int) -> None:
        if not (self.ROOT / "cpu.shares").exists():
            raise RuntimeError(f"no cgroup v1 cpu controller at {self.ROOT} for CPUWeight={weight}")
        self.path = self.ROOT / f"fswatch-soak-{os.getpid()}-{name}"
        self.path.mkdir()
        (self.path / "cpu.shares").write_text(str(max(2, weight * 1024 // 100)))

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def close(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.path.exists() and time.monotonic() < deadline:  # busy until its last task is reaped
            with contextlib.suppress(OSError):
                self.path.rmdir()
            time.sleep(0.1)


# -- the machine ------------------------------------------------------------------------------


def read_psi() -> Dict[str, Dict[str, float]]:
    """/proc/pressure/{cpu,memory,io}: {"cpu": {"some_avg10", "some_total_us", ...}}."""
    out: Dict[str, Dict[str, float]] = {}
    for res in ("cpu", "memory", "io"):
        values: Dict[str, float] = {}
        try:
            lines = Path(f"/proc/pressure/{res}").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split()
            for word in words[1:]:
                key, _, value = word.partition("=")
                values[f"{words[0]}_{key}"] = float(value)
        out[res] = values
    return out


def cpu_busy_ticks() -> tuple:
    """(busy, total) jiffies of all CPUs from /proc/stat (busy = all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])  # guest time is already inside user
    return total - fields[3] - fields[4], total


def _stat(pid: str) -> Optional[tuple]:
    """(sid, starttime, utime + stime ticks) of a process; None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    f = raw.rpartition(")")[2].split()
    return int(f[3]), int(f[19]), int(f[11]) + int(f[12])


class CpuByWho:
    """CPU ticks per category of process between samples: the soak's own kinds, by PID or by
    session (a server or stress-ng leads a session of its own), and everything else, taken as
    the machine's busy time minus ours (short-lived processes of other users vanish between
    samples; /proc/stat counts them)."""

    def __init__(self) -> None:
        self.by_pid: Dict[str, Dict[int, str]] = {}  # category -> pids
        self.by_session: Dict[int, str] = {}
        self._last: Dict[tuple, int] = {}  # (pid, starttime) -> ticks
        self._busy = cpu_busy_ticks()
        self.ticks: Dict[str, int] = {}

    def categorize(self, pid: str, sid: int) -> Optional[str]:
        for category, pids in self.by_pid.items():
            if int(pid) in pids:
                return category
        return self.by_session.get(sid)

    def sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            st = _stat(entry.name)
            if st is None:
                continue
            sid, start, ticks = st
            category = self.categorize(entry.name, sid)
            if category is None:
                continue
            key = (int(entry.name), start)
            before = self._last.get(key)
            self._last[key] = ticks
            # A process first seen now: count what it used since it started only if it is new.
            delta = ticks - before if before is not None else ticks
            self.ticks[category] = self.ticks.get(category, 0) + delta
        busy, total = cpu_busy_ticks()
        self.ticks["_busy"] = self.ticks.get("_busy", 0) + busy - self._busy[0]
        self.ticks["_total"] = self.ticks.get("_total", 0) + total - self._busy[1]
        self._busy = (busy, total)

    def snapshot(self) -> Dict[str, int]:
        return dict(self.ticks)


def percent_of_machine(ticks: Dict[str, int]) -> Dict[str, float]:
    """Each category's share of all CPU time (100 % = every core busy), and others' = busy - ours."""
    total = ticks.get("_total", 0)
    if not total:
        return {}
    ours = {k: v for k, v in ticks.items() if not k.startswith("_")}
    out = {k: round(v / total * 100.0, 1) for k, v in sorted(ours.items())}
    out["others"] = round(max(0, ticks.get("_busy", 0) - sum(ours.values())) / total * 100.0, 1)
    out["all busy"] = round(ticks.get("_busy", 0) / total * 100.0, 1)
    return out


def diff(after: Dict[str, int], before: Dict[str, int]) -> Dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def now_pair() -> tuple:
    return time.monotonic(), time.time()

"""What the kernel says about a process and the machine: CPU time, memory, hardware.

CPU time is utime + stime from /proc/PID/stat: the whole thread group, including threads
that have already ended (the Samba probe's reaper and smbprotocol's receiver thread).
Memory comes from /proc/PID/smaps_rollup: USS = Private_Clean + Private_Dirty (what the
process alone costs, freed if it died), RSS and PSS beside it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

CLK_TCK = os.sysconf("SC_CLK_TCK")
KIB_PER_MB = 1024.0


def cpu_seconds(pid: int) -> Optional[float]:
    """utime + stime of a live process in seconds; None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()  # the command name may contain spaces and ')'
    if fields[0] in ("Z", "X"):
        return None
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLK_TCK


def memory_mb(pid: int) -> Optional[Dict[str, float]]:
    """{"uss", "rss", "pss"} in MiB from smaps_rollup; None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kib: Dict[str, int] = {}
    for line in text.splitlines()[1:]:
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            kib[key] = int(parts[0])
    if "Rss" not in kib:
        return None
    uss = kib.get("Private_Clean", 0) + kib.get("Private_Dirty", 0)
    return {"uss": uss / KIB_PER_MB, "rss": kib["Rss"] / KIB_PER_MB, "pss": kib.get("Pss", 0) / KIB_PER_MB}


def machine() -> Dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "samba": _version(["smbd", "--version"]).replace("Version", "Samba", 1),
        "ganesha": _dpkg_version("nfs-ganesha"),
    }


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    except OSError:
        pass
    return platform.system()


def _version(argv: list) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _dpkg_version(package: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


class CpuGroup:
    """A cgroup that only accounts the CPU time of the processes put into it, in nanoseconds.

    /proc/PID/stat counts in clock ticks (10 ms): over a 60-probe window that is ±0.3 ms per
    probe, as much as the gap to a target. The cgroup's counter is exact and, like utime +
    stime, covers every thread of the process, also threads that have ended. cgroup v1's
    cpuacct hierarchy where it is mounted, else cgroup v2 (cpu.stat exists in every group).
    """

    V1 = Path("/sys/fs/cgroup/cpuacct")
    V2_CANDIDATES = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))

    def __init__(self, name: str) -> None:
        root, self.v1 = self._root()
        self.root = root
        self.path = root / f"fswatch-bench-{os.getpid()}-{name}"
        self.path.mkdir()

    @classmethod
    def _root(cls) -> Tuple[Path, bool]:
        if (cls.V1 / "cpuacct.usage").exists():
            return cls.V1, True
        for path in cls.V2_CANDIDATES:
            if (path / "cgroup.controllers").exists():
                return path, False
        raise OSError("no cgroup hierarchy with CPU accounting is mounted")

    @classmethod
    def available(cls) -> bool:
        try:
            root, _ = cls._root()
        except OSError:
            return False
        return os.access(root, os.W_OK)

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def seconds(self) -> float:
        if self.v1:
            return int((self.path / "cpuacct.usage").read_text()) / 1e9
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        raise OSError(f"{self.path}/cpu.stat has no usage_usec")

    def close(self) -> None:
        """Hand any process left back to the root group, then remove the group."""
        try:
            pids = (self.path / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in pids:
            try:
                (self.root / "cgroup.procs").write_text(f"{pid}\n")
            except OSError:
                pass  # it ended meanwhile
        for _ in range(50):  # bounded: rmdir fails while the kernel still lists an exiting task
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)

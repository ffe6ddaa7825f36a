"""Real `fswatch run KIND ID` processes, as the systemd units start them, in temp dirs.

Settings go through `fswatch add` (the CLI's own code, called in-process: 50 interpreter
start-ups just to write files would cost the bench 10 s); each watch then runs as its own
process, `fswatch run KIND ID`, with FSWATCH_CONFIG_DIR / FSWATCH_RUNTIME_DIR pointing into
a temp dir. Every process is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import procfs

REPO = Path(__file__).resolve().parent.parent
FSWATCH = REPO / ".venv" / "bin" / "fswatch"
STOP_TIMEOUT = 10.0  # seconds for a watch to end after SIGTERM (it ends within one ping step)
POLL = 0.02


class BenchError(RuntimeError):
    pass


class Watch:
    """One running `fswatch run KIND ID` process."""

    def __init__(
        self,
        fleet: Fleet,
        kind: str,
        watch_id: str,
        bound: float,
        proc: subprocess.Popen,
        group: Optional[procfs.CpuGroup] = None,
    ) -> None:
        self.fleet = fleet
        self.group = group
        self.kind = kind
        self.watch_id = watch_id
        self.bound = bound
        self.proc = proc
        self.started = time.monotonic()
        self.state_path = fleet.runtime / kind / watch_id / "state.json"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):  # not written yet, or replaced while we read
            return {}

    def probes(self) -> int:
        return int(self.state().get("probes") or 0)

    def healthy(self) -> bool:
        return self.state().get("phase") == "healthy"

    def cpu(self) -> Optional[float]:
        return procfs.cpu_seconds(self.pid)

    def exact_cpu(self) -> Optional[float]:
        """CPU seconds from the watch's own cgroup (ns resolution), None without one."""
        return self.group.seconds() if self.group is not None else None

    def memory(self) -> Optional[Dict[str, float]]:
        return procfs.memory_mb(self.pid)

    def stderr(self) -> str:
        try:
            return self.fleet.log_path(self.kind, self.watch_id).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        return self.proc.returncode


class Fleet:
    """Config and runtime dirs for many watches, and the processes running them."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fswatch-bench-"))
        self.config = self.root / "etc"
        # The state file is rewritten after every probe: on a systemd host /run is a tmpfs, so the
        # runtime dir goes on one here too (this VM's /run and /tmp are ext4, where that write
        # costs ~0.2 ms of CPU instead of ~0.05 ms).
        self.runtime_root = Path(tempfile.mkdtemp(prefix="fswatch-bench-run-", dir=tmpfs_dir()))
        self.runtime = self.runtime_root / "run"
        self.logs = self.root / "log"
        self.logs.mkdir()
        # Byte-code cache of our own, written by the first watch of each kind: like an
        # installed package (rpm byte-compiles), and nothing written into the work tree.
        self.pycache = self.root / "pycache"
        self.env = dict(os.environ)
        self.env.update(
            FSWATCH_CONFIG_DIR=str(self.config),
            FSWATCH_RUNTIME_DIR=str(self.runtime),
            PYTHONPYCACHEPREFIX=str(self.pycache),
        )
        for var in (
            "PYTHONDONTWRITEBYTECODE",
            "NOTIFY_SOCKET",
            "JOURNAL_STREAM",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "CREDENTIALS_DIRECTORY",
        ):
            self.env.pop(var, None)
        self.watches: List[Watch] = []
        self.groups: List[procfs.CpuGroup] = []

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def log_path(self, kind: str, watch_id: str) -> Path:
        return self.logs / f"{kind}-{watch_id}.stderr"

    def add(self, kind: str, watch_id: str, options: List[str], interval: int, retries: int, timeout: int) -> float:
        """`fswatch add KIND ID ...`; returns the watch's stated detection bound (SPEC.md section 2)."""
        from fswatch.surfaces.cli import main

        argv = ["add", kind, watch_id, *options]
        argv += ["--interval", str(interval), "--retries", str(retries), "--timeout", str(timeout)]
        out = io.StringIO()
        saved = {k: os.environ.get(k) for k in ("FSWATCH_CONFIG_DIR", "FSWATCH_RUNTIME_DIR")}
        os.environ.update(FSWATCH_CONFIG_DIR=str(self.config), FSWATCH_RUNTIME_DIR=str(self.runtime))
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                rc = main(argv)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if rc != 0:
            raise BenchError(f"fswatch {' '.join(argv)} exited {rc}: {out.getvalue().strip()}")
        return interval + retries * max(interval, timeout) + timeout

    def group(self, name: str) -> Optional[procfs.CpuGroup]:
        """A CPU-accounting cgroup for some watches (None where cgroups cannot be used)."""
        if not procfs.CpuGroup.available():
            return None
        try:
            group = procfs.CpuGroup(name)
        except OSError:  # e.g. a container whose cgroup tree is read-only: /proc/PID/stat instead
            return None
        self.groups.append(group)
        return group

    def run(
        self,
        kind: str,
        watch_id: str,
        bound: float,
        group: Optional[procfs.CpuGroup] = None,
        wrapper: tuple = (),
        tree: Optional[Tree] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> Watch:
        """Start `fswatch run KIND ID` (stderr, the alert lines, to a log file), in `group` if given,
        under `wrapper` if given (a command that execs the rest, e.g. `nice -n -5`), the code of
        `tree` if given (else the work tree's console script), with `env` added to the fleet's."""
        command = tree.command() if tree is not None else [str(FSWATCH)]
        with open(self.log_path(kind, watch_id), "wb") as err:
            proc = subprocess.Popen(
                [*wrapper, *command, "run", kind, watch_id],
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        watch = Watch(self, kind, watch_id, bound, proc, group)
        self.watches.append(watch)
        if group is not None:
            group.add(proc.pid)  # just after its exec; every window starts seconds later
        return watch

    def warm_bytecode(self, argvs: List[List[str]]) -> None:
        """Run a few one-shot commands so that the byte-code cache holds every module a watch imports."""
        for argv in argvs:
            subprocess.run([str(FSWATCH), *argv], env=self.env, capture_output=True, timeout=60)

    def stop(self, watches: List[Watch]) -> None:
        """SIGTERM every one first (they end in parallel), then wait for each."""
        for watch in watches:
            if watch.proc.poll() is None:
                watch.proc.send_signal(signal.SIGTERM)
        for watch in watches:
            watch.stop()
            if watch in self.watches:
                self.watches.remove(watch)

    def close(self) -> None:
        try:
            self.stop(list(self.watches))
        finally:
            for group in self.groups:
                group.close()
            shutil.rmtree(self.root, ignore_errors=True)
            shutil.rmtree(self.runtime_root, ignore_errors=True)


# Runs fswatch's CLI from the tree named first on the command line, in the venv's interpreter
# (its dependencies), whatever the venv's editable install of the work tree says.
TREE_MAIN = """
import runpy, sys
tree = sys.argv.pop(1)
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path.insert(0, tree)
sys.argv[0] = "fswatch"
runpy.run_module("fswatch", run_name="__main__", alter_sys=True)
"""


class Tree:
    """fswatch's code as of a commit (`git archive`, so nothing of the work tree's changes),
    or the work tree itself (commit None): both run the same way, side by side (bench A/B)."""

    def __init__(self, fleet: Fleet, commit: Optional[str]) -> None:
        self.commit = commit
        if commit is None:
            self.path = REPO
            self.label = "current"
            return
        self.label = commit
        self.path = fleet.root / f"tree-{commit}"
        if self.path.exists():  # extracted by an earlier phase of this run (a full run's fleet, after the A/B)
            return
        self.path.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "fswatch"], capture_output=True,
                                 timeout=60)
        if archive.returncode != 0:
            raise BenchError(f"git archive {commit} failed (a shallow clone?): {archive.stderr.decode()[-300:]}")
        subprocess.run(["tar", "-x", "-C", str(self.path)], input=archive.stdout, check=True, timeout=60)

    def command(self) -> List[str]:
        return [str(FSWATCH.parent / "python"), "-c", TREE_MAIN, str(self.path)]


def tmpfs_dir() -> str:
    """A tmpfs directory for runtime files (/dev/shm on Linux), else the default temp dir."""
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "/dev/shm" and fields[2] == "tmpfs":
                    return "/dev/shm"
    except OSError:
        pass
    return tempfile.gettempdir()


def wait_until(condition, timeout: float, what: str, step: float = POLL):
    """Poll `condition` until truthy (bounded); returns its value or raises BenchError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)

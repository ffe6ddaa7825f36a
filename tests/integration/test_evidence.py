"""Evidence from the server's own process, against real smbd and nfs-ganesha (issue 18).

A real `fswatch run` at interval 1, retries 3, timeout 2 watches a server on its own node
(smbd on loopback; ganesha in a network namespace that the watch joins with
`nsenter --net`, so its sockets are this node's). SPEC.md section 2:

- a server whose process is stopped (SIGSTOP of every process) or whose cgroup is frozen
  (the v1 freezer) is declared by t0 + interval + timeout + 0.5 s, whatever retries says;
- a storage frozen under FUSE (the server's threads asleep in the FUSE request) is declared
  by then with evidence=blocked, and only after the retries (the full bound) without it;
- a server that still progresses — throttled by a CPU quota to a sliver of one core, or under
  stress-ng IO pressure — is never declared early: only after retries + 1 failed probes.

Each early alert (114, 115) must name the process, its state and, when blocked, where it waits.
Bounds are SPEC.md's formulas written out here, never fswatch's own Schedule. Every test runs
for both servers (`server`: an adapter over the fixtures, tests/fixtures/).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List

import pytest

from tests.fixtures.cgroups import CpuQuota, Freezer
from tests.fixtures.nfs_server import NfsServer
from tests.fixtures.samba_server import SambaServer
from tests.integration.cli import FswatchCLI, alert_ids, phase, wait_for

pytestmark = pytest.mark.integration

INTERVAL, RETRIES, TIMEOUT = 1, 3, 2
SLACK = 0.5  # SPEC.md section 2
SHARE = "frozen"
QUOTA_US = 1000  # of every 1 s period: 0.1 % of one core, a sliver (TESTING.md)
WINDOW = 25.0  # seconds a progressing server is watched for an early declaration
KINDS = ("samba", "nfs")


def early_bound(interval: int, timeout: int) -> float:
    """SPEC.md section 2: a stopped server is declared by t0 + interval + timeout (+ 0.5 s)."""
    return interval + timeout


def retry_bound(interval: int, retries: int, timeout: int) -> float:
    """SPEC.md section 2: any fault is declared by t0 + interval + retries x max(interval, timeout) + timeout."""
    return interval + retries * max(interval, timeout) + timeout


EARLY = early_bound(INTERVAL, TIMEOUT)
FULL = retry_bound(INTERVAL, RETRIES, TIMEOUT)


# -- the servers, one adapter for both ------------------------------------------------------------


@dataclass
class Server:
    """What the tests need of a file server on the watch's own node."""

    kind: str
    target: List[str]  # fswatch add's target options
    netns: str  # the watch joins it ("" for the host's)
    process: str  # the serving process's name as the alerts write it (a regex)
    pid: Callable[[], int]  # the main server process
    pids: Callable[[], List[int]]  # every process of the server, for a cgroup
    stall: Callable[[], None]  # SIGSTOP every process
    resume: Callable[[], None]
    root: Path  # a directory on the server's file system
    stage_alerts: List[int]  # the last alerts before 6 when the retries declare a stalled probe
    fed: Callable[[float], contextlib.AbstractContextManager]  # other clients using up its CPU quota


def samba(server: SambaServer, share: str = "public") -> Server:
    return Server(
        "samba", ["--share", share, "--port", str(server.port)], "", r"smbd", lambda: server.pid,
        lambda: [server.pid, *server.children()], server.stall_all, server.resume_all, Path(server.root), [74],
        lambda seconds: contextlib.nullcontext(),  # smbd needs several ms of CPU a probe: its sliver is short
    )  # fmt: skip


def nfs(server: NfsServer) -> Server:
    return Server(
        "nfs", ["--export", server.export_path, "--address", server.address], server.netns, r"ganesha\.nfsd",
        lambda: server.ganesha_pid, lambda: [server.ganesha_pid], server.stall_ganesha, server.resume_ganesha,
        Path(server.root), [84, 66], lambda seconds: Clients(server, seconds),
    )  # fmt: skip


@pytest.fixture(params=KINDS)
def server(request):
    if request.param == "samba":
        with SambaServer() as smbd:
            yield samba(smbd)
    else:
        with NfsServer(netns=True, local_clients=True) as ganesha:
            yield nfs(ganesha)


@pytest.fixture(params=KINDS)
def on_fuse(request, fuse_freeze):
    """A server whose share or export is on a freezable FUSE mount (mounted first: ganesha's
    mount namespace is made when it starts)."""
    if request.param == "samba":
        with SambaServer(extra_shares={SHARE: fuse_freeze.path}) as smbd:
            yield samba(smbd, SHARE), fuse_freeze
    else:
        with NfsServer(netns=True, export_dir=fuse_freeze.path, local_clients=True) as ganesha:
            yield nfs(ganesha), fuse_freeze


class Clients:
    """Other clients keeping ganesha busy (its quota spent on them, as on a loaded node): threads
    probing it in a loop from the host's side of the veth, bounded by `seconds`."""

    def __init__(self, server: NfsServer, seconds: float, count: int = 2) -> None:
        from fswatch.core.deadline import Deadline
        from fswatch.kinds import NFS

        target = NFS.make_target(NFS.check_target({"export": server.export_path, "address": server.address}))
        probe = NFS.probe_function()
        end = time.monotonic() + seconds
        self.stopped = threading.Event()

        def loop() -> None:
            while not self.stopped.is_set() and time.monotonic() < end:
                probe(target, Deadline.after(5))

        self.threads = [threading.Thread(target=loop, daemon=True) for _ in range(count)]

    def __enter__(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for t in self.threads:
            t.join(timeout=10)


# -- the watch ------------------------------------------------------------------------------------


class Watched:
    """One `fswatch run` of `server` (in its network namespace), added, started and seen healthy."""

    def __init__(self, tmp_path: Path, server: Server, evidence: str = "") -> None:
        cli = FswatchCLI(tmp_path)
        settings = ["--interval", str(INTERVAL), "--retries", str(RETRIES), "--timeout", str(TIMEOUT)]
        add = cli("add", server.kind, "ev", *server.target, *settings, *(["--evidence", evidence] if evidence else []))
        assert add.returncode == 0, add.stderr
        argv = cli.argv("run", server.kind, "ev")
        if server.netns:
            argv = ["nsenter", f"--net=/run/netns/{server.netns}", "--", *argv]
        self.proc = subprocess.Popen(argv, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: phase(cli, server.kind, "ev") == "healthy" or self.proc.poll() is not None, 15)
        assert self.proc.poll() is None, self.proc.stderr.read()
        time.sleep(INTERVAL + 0.2)  # one more healthy probe before the fault
        assert self.proc.poll() is None and phase(cli, server.kind, "ev") == "healthy", "failed before the fault"

    def declared_after(self, fault: Callable[[], None], undo: Callable[[], None], seconds: float) -> tuple:
        """Inject `fault` at t0, wait up to `seconds` for the watch to end, undo the fault and
        stop the watch whatever happens; (exit status or None, seconds from t0, stderr)."""
        rc = None
        t0 = time.monotonic()
        try:
            fault()
            try:
                rc = self.proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                pass
            took = time.monotonic() - t0
        finally:
            undo()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        return rc, took, self.proc.stderr.read()


def alert_text(stderr: str, alert: int) -> str:
    lines = [ln for ln in stderr.splitlines() if f": alert {alert}: " in ln]
    assert lines, f"no alert {alert}:\n{stderr}"
    return lines[0]


def assert_early(rc, seconds: float, stderr: str, alert: int) -> str:
    print(f"declared {seconds:.2f} s after the fault (early bound {EARLY} s + {SLACK} s)")
    assert rc == 1, f"not declared within {seconds:.1f} s: rc={rc}\n{stderr}"
    assert seconds <= EARLY + SLACK, (seconds, stderr)
    ids = alert_ids(stderr)
    assert ids[-2:] == [alert, 6], stderr
    failed = [ln for ln in stderr.splitlines() if "[failed probes " in ln]
    assert len(failed) == 1 and "[failed probes 1/4]" in failed[0], stderr  # the first failed probe declared
    return alert_text(stderr, alert)


def assert_not_early(rc, seconds: float, stderr: str, progressed: bool = True) -> None:
    ids = alert_ids(stderr)
    failed = [ln for ln in stderr.splitlines() if "[failed probes" in ln]
    print(f"rc={rc} after {seconds:.1f} s; {len(failed)} failed probes; alerts {ids}")
    assert 114 not in ids and 115 not in ids, stderr
    assert failed, f"no probe failed: the fault did not bite\n{stderr}"
    if rc == 1:  # declared, as today: after retries + 1 failed probes
        assert ids[-1] == 6 and "[failed probes 4/4]" in stderr, stderr
    if progressed:  # the failed probes were sampled, and the server was seen to progress
        assert "[server process: " in stderr and ("progressed" in stderr or "runnable" in stderr), stderr


# -- stopped: declared at once ------------------------------------------------------------------------


def test_sigstop_is_declared_at_once(server, tmp_path):
    watch = Watched(tmp_path, server)
    rc, seconds, stderr = watch.declared_after(server.stall, server.resume, EARLY + SLACK + 2)
    text = assert_early(rc, seconds, stderr, 114)
    assert re.search(rf"\({server.process}\[{server.pid()}\] stopped \(T\) for \d\.\d s\)", text), text


def test_frozen_cgroup_is_declared_at_once(server, tmp_path):
    watch = Watched(tmp_path, server)
    freezer = Freezer()
    freezer.add(server.pids())
    rc, seconds, stderr = watch.declared_after(freezer.freeze, freezer.close, EARLY + SLACK + 2)
    text = assert_early(rc, seconds, stderr, 114)
    assert re.search(rf"\({server.process}\[{server.pid()}\] frozen \(cgroup freezer\) for \d\.\d s\)", text), text


# -- blocked: at once where opted in, after the retries by default -----------------------------------


def test_frozen_storage_is_declared_at_once_with_blocked_evidence(on_fuse, tmp_path):
    server, storage = on_fuse
    watch = Watched(tmp_path, server, "blocked")
    rc, seconds, stderr = watch.declared_after(storage.freeze, storage.thaw, EARLY + SLACK + 2)
    text = assert_early(rc, seconds, stderr, 115)
    # smbd: the child serving the probe's connection waits for the FUSE answer at tree connect;
    # ganesha: one worker does, while its timers and new pool workers may wake meanwhile
    assert re.search(rf"\({server.process}\[\d+\]: \d+ threads? blocked \(S\) for \d\.\d s, "
                     r"(none ran|only \d+ idle threads? woke) \(\d+ in request_wait_answer", text), text  # fmt: skip


def test_frozen_storage_waits_for_the_retries_without_blocked_evidence(on_fuse, tmp_path):
    server, storage = on_fuse
    watch = Watched(tmp_path, server)  # evidence at its default: stopped
    rc, seconds, stderr = watch.declared_after(storage.freeze, storage.thaw, FULL + SLACK + 2)
    print(f"declared {seconds:.2f} s after the freeze (bound {FULL} s + {SLACK} s)")
    assert rc == 1 and EARLY + SLACK < seconds <= FULL + SLACK, (rc, seconds, stderr)
    ids = alert_ids(stderr)
    stage = server.stage_alerts[0]
    assert ids[-1 - len(server.stage_alerts):] == [*server.stage_alerts, 6] and ids.count(stage) == RETRIES + 1, stderr
    assert 115 not in ids, stderr
    # each failed probe's line says what the server's process did: blocked in the FUSE request
    assert "blocked (S)" in alert_text(stderr, stage) and "request_wait_answer" in alert_text(stderr, stage), stderr


# -- progressing: never early ------------------------------------------------------------------------


def test_throttled_by_a_cpu_quota_is_not_declared_early(server, tmp_path):
    watch = Watched(tmp_path, server, "blocked")  # the widest setting: runnable is never blocked either
    quota = CpuQuota(QUOTA_US)
    with server.fed(WINDOW + 5):  # ganesha needs well under 1 ms of CPU a probe: its sliver goes to others too
        rc, seconds, stderr = watch.declared_after(lambda: quota.add(server.pids()), quota.close, WINDOW)
    assert_not_early(rc, seconds, stderr)


def test_under_io_pressure_is_not_declared_early(server, tmp_path):
    watch = Watched(tmp_path, server)
    stress = StressIO(server.root)
    quota = CpuQuota(QUOTA_US * (3 if server.kind == "samba" else 1))  # the probes must fail to be judged

    def fault() -> None:
        stress.start()
        quota.add(server.pids())

    def undo() -> None:
        quota.close()
        stress.stop()

    with server.fed(WINDOW + 5):
        rc, seconds, stderr = watch.declared_after(fault, undo, WINDOW)
    assert_not_early(rc, seconds, stderr, progressed=False)  # it may wait on the disk: not stopped


class StressIO:
    """stress-ng's disk workers on the server's file system (bounded by --timeout; stopped by PID)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fswatch-stress-", dir=directory))
        self.proc = None

    def start(self) -> None:
        tool = shutil.which("stress-ng")
        assert tool, "stress-ng missing: scripts/setup.sh installs it"
        self.proc = subprocess.Popen(
            [tool, "--hdd", "2", "--hdd-bytes", "256M", "--iomix", "1", "--iomix-bytes", "256M",
             "--temp-path", str(self.dir), "--timeout", f"{int(WINDOW) + 30}s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        time.sleep(2.0)  # its workers get going

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)  # stress-ng stops its workers on SIGINT
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)

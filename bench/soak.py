"""fswatch's soak: zero false failovers under load (issue 9, point 6).

Run through `bench/soak` (full: 1 hour; `--quick`: 5 minutes), as root. Real `fswatch run`
watches (three Samba, NFSv3, NFSv4; one full set per evidence setting, side by side: issue 18)
at interval 1 s, timeout 2 s, retries 2 watch a real smbd on
loopback and a real nfs-ganesha (+ rpcbind) in a network namespace of the soak's own. First an
idle phase (only the watches), then a load phase: userspace clients write, read back and delete
files through both servers, stress-ng saturates both cores and adds memory and disk pressure,
and at random moments a server is really stalled (SIGSTOP of smbd's parent and children, of
ganesha, or of rpcbind), held past the watches' bound, and resumed; a watch that declared is
started again. It reports every declaration made while no fault was injected on what that
watch depends on (goal: 0), every detection time against the stated bound, probe latency in
both phases, and the machine's load (PSI, load average, CPU by who used it, other users
included), into the "Soak" section of RESULTS.md (bench/ for a full run, bench/quick/ else).

Why the NFS server is in a namespace: the loopback NfsServer holds port 111 host-wide (one at a
time, an flock), and other test runs on this machine would wait for it for an hour and fail.
The NFS watches join that namespace (`nsenter --net`): ganesha and rpcbind are then on their
own node, as a cluster node's are, and the evidence from the server's own process (issue 18)
applies to them as to smbd.

Issue 18: `--evidence stopped,blocked` (the default) runs one full set of the watches per
evidence setting, side by side, through the same servers, load and stalls (one setting alone:
`--evidence stopped`); a SIGSTOP stall is declared early (on the stopped or blocked process) or
after the retries, and each detection says which. A third Samba watch and both NFS watches serve from storage
under FUSE, and between the SIGSTOP stalls that storage is frozen for less than the timeout
(a short hiccup of a backend the server waits on, which it rides out by itself): a declaration
during one, or just after, is a false declaration too.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import procfs  # noqa: E402
import soakload  # noqa: E402
import soakreport  # noqa: E402
from fleet import Fleet, Watch, wait_until  # noqa: E402
from phases import wait_healthy  # noqa: E402

from bench import git_state  # noqa: E402
from tests.fixtures.fuse_freeze import FuseFreeze  # noqa: E402
from tests.fixtures.nfs_server import NfsServer  # noqa: E402
from tests.fixtures.samba_server import PRIVATE_SHARE, PUBLIC_SHARE, SambaServer  # noqa: E402

INTERVAL, RETRIES, TIMEOUT = 1, 2, 2  # the schedule
BOUND = INTERVAL + RETRIES * max(INTERVAL, TIMEOUT) + TIMEOUT  # SPEC.md section 2: 7 s
SLACK = 0.5  # seconds of scheduling slack the SPEC allows beyond the bound
TICK = 0.1  # seconds between looks at the watches' state files (probes start 1 s apart)
LATE_GRACE = TIMEOUT + 1.0  # a declaration this soon after a lift is still that stall's
SAMPLE_EVERY = 2.0  # seconds between samples of load average and PSI avg10
SETTLE = 5.0  # seconds after a lift during which probes are not counted as "under load only"
FUSE_SHARE = "soakfuse"  # a guest share of smbd on storage under FUSE
EVIDENCE = ("stopped", "blocked")


@dataclass(frozen=True)
class Plan:
    mode: str
    idle_s: float  # only the watches run
    load_s: float  # clients + stress-ng + stalls
    first_stall_after: float  # seconds into the load phase
    gap: tuple  # seconds between one stall's restarts and the next stall (uniform)
    hold_extra: tuple  # a stall lasts BOUND + SLACK + uniform(extra) seconds
    smb_clients: int
    nfs_clients: int
    client_pause: float  # mean seconds between a client's cycles
    vm_bytes: str  # anonymous memory cycled by stress-ng --vm
    mmap_bytes: str  # file-backed mappings cycled by stress-ng --mmap
    hdd_bytes: str  # per disk worker (--hdd, --iomix)
    memory_limit: str  # the memory cgroup of those workers: smaller than their sum, so they reclaim
    short_gap: tuple = (4.0, 12.0)  # seconds between two short backend stalls (uniform)
    short_hold: tuple = (0.3, 1.8)  # a short backend stall: the storage frozen this long, below the timeout


FULL = Plan("full", 300.0, 3300.0, 30.0, (15.0, 45.0), (1.0, 4.0), 2, 2, 0.1, "256M", "1G", "512M", "512M")
QUICK = Plan("quick", 60.0, 240.0, 20.0, (10.0, 25.0), (1.0, 3.0), 2, 2, 0.1, "256M", "1G", "512M", "512M")

# (kind, id, what it depends on). rpcbind: only the v3 watch asks the portmapper; the storage
# under FUSE: the share soakfuse and the NFS export.
WATCHES = [
    ("samba", "soak-smb-guest", ("smbd",)),
    ("samba", "soak-smb-user", ("smbd",)),
    ("samba", "soak-smb-fuse", ("smbd", "smb-storage")),
    ("nfs", "soak-nfs3", ("ganesha", "rpcbind", "nfs-storage")),
    ("nfs", "soak-nfs4", ("ganesha", "nfs-storage")),
]
TARGETS = ("smbd", "ganesha", "rpcbind")
BACKENDS = ("smb-storage", "nfs-storage")


@dataclass
class Stall:
    n: int
    target: str
    affected: List[str]
    start_mono: float
    start_wall: float
    hold: float
    lift_mono: Optional[float] = None
    lift_wall: Optional[float] = None
    detected: Dict[str, float] = field(default_factory=dict)  # watch id -> seconds from the SIGSTOP
    missed: List[str] = field(default_factory=list)
    declared_by: Dict[str, str] = field(default_factory=dict)  # watch id -> stopped, blocked or retries

    def to_dict(self) -> Dict[str, object]:
        return {
            "n": self.n,
            "target": self.target,
            "affected": self.affected,
            "start_wall": round(self.start_wall, 3),
            "hold_s": round(self.hold, 2),
            "held_s": round(self.lift_mono - self.start_mono, 2) if self.lift_mono else None,
            "detected_s": {k: round(v, 3) for k, v in self.detected.items()},
            "missed": self.missed,
            "declared_by": self.declared_by,
        }


@dataclass
class ShortStall:
    """A backend the server waits on (its storage under FUSE) frozen for less than the timeout."""

    n: int
    target: str
    affected: List[str]
    start_wall: float
    hold: float
    end_mono: float
    lift_wall: Optional[float] = None
    declared: List[str] = field(default_factory=list)  # watches that declared during it or just after

    def to_dict(self) -> Dict[str, object]:
        return {"n": self.n, "target": self.target, "affected": self.affected, "start_wall": round(self.start_wall, 3),
                "hold_s": round(self.hold, 2), "declared": self.declared}  # fmt: skip


PROBE_FIELDS = ("pid", "n", "started", "ms", "ok", "phase", "disturbed", "stage")  # soak.json stores rows


class SoakWatch:
    """One watch of the soak across its restarts: every probe seen and every exit."""

    def __init__(self, kind: str, watch_id: str, depends: tuple, evidence: str = "stopped", base: str = "") -> None:
        self.kind = kind
        self.watch_id = watch_id
        self.depends = depends
        self.evidence = evidence  # its --evidence setting
        self.base = base or watch_id  # the watch it is of WATCHES (its options)
        self.proc: Optional[Watch] = None
        self.probes: List[Dict[str, object]] = []  # one per probe seen in the state file
        self.exits: List[Dict[str, object]] = []
        self._last_key = None
        self.unseen = 0  # probes that ran between two looks (only the last one is in the file)

    def look(self, phase: str, disturbed: bool) -> None:
        state = self.proc.state() if self.proc is not None else {}
        last = state.get("last_probe")
        if not last or state.get("pid") != self.proc.pid:
            return
        key = (state["pid"], state.get("probes"))
        if key == self._last_key:
            return
        if self._last_key is not None and self._last_key[0] == key[0] and key[1] is not None:
            self.unseen += max(0, key[1] - self._last_key[1] - 1)
        self._last_key = key
        self.probes.append(
            {
                "pid": state["pid"],
                "n": state.get("probes"),
                "started": last.get("started"),
                "ms": last.get("total_ms"),
                "ok": bool(last.get("ok")),
                "phase": phase,
                "disturbed": disturbed,  # a stall of what it depends on was on, or just lifted
                "stage": (last.get("failure") or {}).get("stage"),
            }
        )


def say(text: str) -> None:
    print(f"soak {datetime.datetime.now().strftime('%H:%M:%S')}: {text}", flush=True)


class Interrupted(BaseException):
    pass


def _interrupt(signum, _frame) -> None:
    raise Interrupted(f"signal {signum}")


def _settings(text: str) -> List[str]:
    """`stopped`, `blocked` or `stopped,blocked` (each once, in EVIDENCE's order)."""
    wanted = [x.strip() for x in text.split(",") if x.strip()]
    if not wanted or any(x not in EVIDENCE for x in wanted) or len(set(wanted)) != len(wanted):
        raise argparse.ArgumentTypeError(f"one or more of {', '.join(EVIDENCE)}, comma-separated, each once")
    return [x for x in EVIDENCE if x in wanted]


def _span(text: str) -> tuple:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("two numbers, LO,HI") from None
    if not 0 < lo <= hi <= 10:
        raise argparse.ArgumentTypeError("0 < LO <= HI <= 10")
    return (lo, hi)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 minutes instead of 1 hour")
    parser.add_argument("--seed", type=int, default=None, help="seed for the stalls' moments and targets")
    parser.add_argument("--output-dir", type=Path, default=None, help="default bench/ (full) or bench/quick/")
    parser.add_argument("--label", default="", help="a note on this run for the record (e.g. 'before the fix')")
    parser.add_argument("--cpu-hogs", type=int, default=2, help="stress-ng --cpu workers (default 2: one per core)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="override the idle phase's length")
    parser.add_argument("--load-seconds", type=float, default=None, help="override the load phase's length")
    parser.add_argument("--evidence", type=_settings, default=list(EVIDENCE),
                        help="the watches' evidence settings, comma-separated: each runs its own full set of "
                             "watches side by side, through the same load and stalls (default stopped,blocked)")
    parser.add_argument("--short-hold", type=_span, default=None, metavar="LO,HI",
                        help="how long a short backend stall freezes the FUSE storage, seconds (default 0.3,1.8: "
                             "below the timeout; above it, up to 2 failed probes, what the retries ride out and "
                             "blocked evidence may not)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.short_hold is not None:
        plan = replace(plan, short_hold=args.short_hold)
    if args.idle_seconds is not None or args.load_seconds is not None:
        plan = replace(
            plan,
            idle_s=plan.idle_s if args.idle_seconds is None else args.idle_seconds,
            load_s=plan.load_s if args.load_seconds is None else args.load_seconds,
        )
    out_dir = args.output_dir or (HERE / "quick" if args.quick else HERE)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    # Ctrl-C and SIGTERM unwind through every finally below: the load, servers and watches stop.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)

    run = {
        "mode": plan.mode,
        "label": args.label,
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "git": git_state(out_dir),
        "machine": procfs.machine(),
        "seed": seed,
        "plan": plan.__dict__,
        "schedule": {"interval": INTERVAL, "retries": RETRIES, "timeout": TIMEOUT, "bound_s": BOUND, "slack_s": SLACK,
                     "stopped_bound_s": INTERVAL + TIMEOUT},
        "evidence": args.evidence,
    }
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="fswatch-soak-"))
    say(f"{plan.mode} run, seed {seed}, work dir {work}")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)  # last out: client stats and logs
        # FUSE first: ganesha's mount namespace is made when it starts (tests/fixtures/fuse_freeze.py)
        storage = {"smb-storage": stack.enter_context(FuseFreeze()), "nfs-storage": stack.enter_context(FuseFreeze())}
        smb = stack.enter_context(SambaServer(extra_shares={FUSE_SHARE: storage["smb-storage"].path}))
        nfs = stack.enter_context(NfsServer(netns=True, export_dir=storage["nfs-storage"].path, local_clients=True))
        fleet = stack.enter_context(Fleet())
        soak = Soak(plan, rng, smb, nfs, fleet, work, args.evidence)
        soak.storage = storage
        soak.cpu_hogs = args.cpu_hogs
        run["cpu_hogs"] = args.cpu_hogs
        run["unit_scheduling"] = soak.unit_scheduling
        stack.callback(soak.cleanup)
        results = soak.run()
    results["run"] = dict(run, total_s=round(time.monotonic() - began, 1))
    out_dir.mkdir(parents=True, exist_ok=True)
    name = soakreport.name_of(args.evidence)
    (out_dir / f"{name}.json").write_text(json.dumps(results, separators=(",", ":")) + "\n")  # ~1 MB for an hour
    soakreport.write_section(out_dir / "RESULTS.md", soakreport.markdown(results), args.evidence)
    print(soakreport.summary(results))
    say(f"wrote {out_dir / (name + '.json')} and its section of {out_dir / 'RESULTS.md'}")
    return 0


class Soak:
    def __init__(self, plan: Plan, rng: random.Random, smb, nfs, fleet: Fleet, work: Path,
                 settings: List[str]) -> None:  # fmt: skip
        self.plan, self.rng, self.smb, self.nfs, self.fleet, self.work = plan, rng, smb, nfs, fleet, work
        # Each evidence setting has its own full set of watches, side by side: the same servers, load
        # and stalls for both, so their declarations compare stall for stall. One setting alone
        # keeps the plain ids.
        self.settings = list(settings)
        self.watches = [
            SoakWatch(kind, watch_id if len(settings) == 1 else f"{watch_id}-{setting}", depends, setting, watch_id)
            for setting in settings
            for kind, watch_id, depends in WATCHES
        ]
        self.stalls: List[Stall] = []
        self.stall: Optional[Stall] = None
        self.false_declarations: List[Dict[str, object]] = []
        self.samples: List[Dict[str, object]] = []
        self.cpu = soakload.CpuByWho()
        self.clients = soakload.Clients(work)
        self.stress: List[soakload.Stress] = []
        self.phase = "setup"
        self.phase_marks: Dict[str, Dict[str, object]] = {}
        # What the units say about scheduling (Nice=, CPUWeight=): the watches run with it, as under systemd.
        self.unit_scheduling = {kind: soakload.unit_scheduling(REPO / "units" / f"fswatch-{kind}@.service")
                                for kind in ("samba", "nfs")}  # fmt: skip
        self.cpu_groups: Dict[str, soakload.CpuWeightGroup] = {}
        self.cpu_hogs = 2
        self.storage: Dict[str, FuseFreeze] = {}
        self.shorts: List[ShortStall] = []
        self.short: Optional[ShortStall] = None

    # -- setup --------------------------------------------------------------------------------

    def add_watches(self) -> None:
        smb, nfs = self.smb, self.nfs
        pw = self.work / "smb.password"
        pw.write_text(smb.password + "\n")
        pw.chmod(0o600)
        options = {
            "soak-smb-guest": ["--share", PUBLIC_SHARE, "--address", smb.address, "--port", str(smb.port)],
            "soak-smb-user": ["--share", PRIVATE_SHARE, "--address", smb.address, "--port", str(smb.port),
                              "--user", smb.user, "--password-file", str(pw)],
            "soak-smb-fuse": ["--share", FUSE_SHARE, "--address", smb.address, "--port", str(smb.port)],
            "soak-nfs3": ["--export", nfs.export_path, "--address", nfs.address],
            "soak-nfs4": ["--export", nfs.export_path, "--address", nfs.address, "--nfs-version", "4"],
        }  # fmt: skip
        for w in self.watches:
            self.fleet.add(w.kind, w.watch_id, options[w.base] + ["--evidence", w.evidence], INTERVAL, RETRIES,
                           TIMEOUT)  # fmt: skip
        self.fleet.warm_bytecode(
            [["probe", "samba", *options["soak-smb-guest"], "--timeout", "5"],
             ["probe", "nfs", *options["soak-nfs3"], "--timeout", "5"]]
        )  # fmt: skip

    def start_watch(self, w: SoakWatch) -> None:
        sched = self.unit_scheduling.get(w.kind, {})
        wrapper = ("nice", "-n", sched["Nice"]) if "Nice" in sched else ()
        if w.kind == "nfs":  # on ganesha's own node: its network namespace (nsenter execs: the PID stays)
            wrapper += ("nsenter", f"--net=/run/netns/{self.nfs.netns}", "--")
        w.proc = self.fleet.run(w.kind, w.watch_id, BOUND, wrapper=wrapper)
        if w.kind in self.cpu_groups:
            self.cpu_groups[w.kind].add(w.proc.pid)
        self.cpu.by_pid.setdefault("watches", {})[w.proc.pid] = w.watch_id

    def cleanup(self) -> None:
        """Load first (it must never outlive the soak), then the clients, then the watches."""
        try:
            self.stop_stress()
        finally:
            try:
                self.clients.stop()
                self.fleet.stop([w.proc for w in self.watches if w.proc is not None])
                for group in self.cpu_groups.values():
                    group.close()
            finally:
                for resume in (self.smb.resume_all, self.nfs.resume_ganesha, self.nfs.resume_rpcbind,
                               *(fs.thaw for fs in self.storage.values())):  # fmt: skip
                    with contextlib.suppress(Exception):
                        resume()

    def stop_stress(self) -> None:
        try:
            for stress in self.stress:
                stress.stop()
        finally:
            self.stress = []

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> Dict[str, object]:
        plan = self.plan
        self.add_watches()
        for kind, sched in self.unit_scheduling.items():
            if "CPUWeight" in sched:
                self.cpu_groups[kind] = soakload.CpuWeightGroup(f"{kind}-watches", int(sched["CPUWeight"]))
        self.cpu.by_session = {
            os.getsid(0): "soak controller",
            self.smb.pid: "smbd",
            self.nfs.ganesha_pid: "ganesha + rpcbind",
            self.nfs.rpcbind_pid: "ganesha + rpcbind",
            **{fs.pid: "FUSE storage" for fs in self.storage.values()},
        }
        for w in self.watches:
            self.start_watch(w)
        wait_until(lambda: all(w.proc.healthy() for w in self.watches), 30, "the soak's watches healthy")
        say(f"{len(self.watches)} watches healthy; idle phase {plan.idle_s:.0f} s")

        self.mark("idle")
        self.loop(plan.idle_s, stalls=False)
        self.mark("idle_end")

        say(f"load phase {plan.load_s:.0f} s: clients, stress-ng, stalls")
        env = dict(os.environ, SOAK_PASSWORD=self.smb.password)
        seconds = plan.load_s + 30.0
        for i in range(plan.smb_clients):
            opts = ["--address", self.smb.address, "--port", str(self.smb.port), "--share", PRIVATE_SHARE,
                    "--user", self.smb.user]  # fmt: skip
            self.clients.start("smb", f"smb{i}", opts, seconds, plan.client_pause, self.rng.randrange(1 << 30), env)
        for i in range(plan.nfs_clients):
            opts = ["--address", self.nfs.address, "--port", str(self.nfs.nfs_port), "--mount-port",
                    str(self.nfs.mount_port), "--export", self.nfs.export_path]  # fmt: skip
            self.clients.start("nfs", f"nfs{i}", opts, seconds, plan.client_pause, self.rng.randrange(1 << 30))
        self.cpu.by_pid["clients"] = {pid: "client" for pid in self.clients.pids}
        self.stress = [
            soakload.Stress("cpu", ["--cpu", str(self.cpu_hogs)], seconds, self.work / "stress-cpu.log"),
            soakload.Stress(
                "memory-disk",
                ["--vm", "1", "--vm-bytes", plan.vm_bytes, "--mmap", "1", "--mmap-bytes", plan.mmap_bytes,
                 "--mmap-file", "--hdd", "1", "--hdd-bytes", plan.hdd_bytes, "--iomix", "1",
                 "--iomix-bytes", plan.hdd_bytes],
                seconds, self.work / "stress-memory-disk.log", memory_limit=plan.memory_limit,
            ),
        ]  # fmt: skip
        for stress in self.stress:
            stress.start()
            self.cpu.by_session[stress.session] = f"stress-ng {stress.name}"
        self.mark("load")
        self.loop(plan.load_s, stalls=True)
        self.mark("load_end")
        self.stop_stress()
        self.clients.stop()
        self.fleet.stop([w.proc for w in self.watches if w.proc is not None])
        return self.results()

    def mark(self, name: str) -> None:
        self.cpu.sample()
        self.phase_marks[name] = {
            "mono": time.monotonic(),
            "wall": time.time(),
            "psi": soakload.read_psi(),
            "cpu": self.cpu.snapshot(),
        }
        if not name.endswith("_end"):
            self.phase = name

    def loop(self, seconds: float, stalls: bool) -> None:
        end = time.monotonic() + seconds
        next_stall = time.monotonic() + self.plan.first_stall_after
        next_sample = time.monotonic()
        next_cpu = time.monotonic()
        next_short = time.monotonic() + self.rng.uniform(*self.plan.short_gap)
        while time.monotonic() < end:  # bounded by the phase's length
            now = time.monotonic()
            self.look_at_watches()
            if stalls:
                if self.short is not None and now >= self.short.end_mono:
                    self.thaw()
                    next_short = now + self.rng.uniform(*self.plan.short_gap)
                if self.stall is None and self.short is None and now >= next_stall:
                    hold = BOUND + SLACK + self.rng.uniform(*self.plan.hold_extra)
                    if end - now > hold + 20.0:  # room to lift it and restart the watches in this phase
                        self.inject(self.rng.choice(TARGETS), hold)
                    else:
                        next_stall = end
                elif self.stall is not None and now - self.stall.start_mono >= self.stall.hold:
                    self.lift()
                    next_stall = time.monotonic() + self.rng.uniform(*self.plan.gap)
                    next_short = time.monotonic() + self.rng.uniform(*self.plan.short_gap)
                elif self.stall is None and self.short is None and now >= next_short and next_stall - now > 4.0:
                    self.freeze(self.rng.choice(BACKENDS), self.rng.uniform(*self.plan.short_hold))
            if now >= next_sample:
                self.sample()
                next_sample = now + SAMPLE_EVERY
            if now >= next_cpu:
                self.cpu.sample()
                next_cpu = now + 5.0
            time.sleep(TICK)
        if self.short is not None:
            self.thaw()
        if self.stall is not None:
            self.lift()

    def freeze(self, target: str, hold: float) -> None:
        """A short hiccup of a backend: the storage under FUSE frozen for `hold` s (< timeout)."""
        affected = [w.watch_id for w in self.watches if target in w.depends]
        self.storage[target].freeze()
        self.short = ShortStall(len(self.shorts) + 1, target, affected, time.time(), hold, time.monotonic() + hold)

    def thaw(self) -> None:
        short = self.short
        self.storage[short.target].thaw()
        short.lift_wall = time.time()
        self.shorts.append(short)
        self.short = None

    def short_at(self, w: SoakWatch, wall: float) -> Optional[ShortStall]:
        """The short backend stall of what `w` depends on that was on at `wall`, or ended just before."""
        for short in ([self.short] if self.short else []) + self.shorts[-3:]:
            if w.watch_id in short.affected and short.start_wall <= wall <= (short.lift_wall or wall) + LATE_GRACE:
                return short
        return None

    def look_at_watches(self) -> None:
        for w in self.watches:
            if w.proc is None:
                continue
            w.look(self.phase, self.disturbed(w))
            rc = w.proc.proc.poll()
            if rc is None:
                continue
            state = w.proc.state()
            declared_wall = state.get("updated") if state.get("phase") == "failed" else None
            exit_rec = {
                "rc": rc,
                "wall": time.time(),
                "declared_wall": declared_wall,
                "phase": self.phase,
                "status": state.get("status"),
                "stderr_tail": w.proc.stderr().splitlines()[-4:],
            }
            w.exits.append(exit_rec)
            declared_by = (state.get("evidence") or {}).get("declared_by") or "retries"
            exit_rec["declared_by"] = declared_by
            stall = self.stall
            if stall is not None and w.watch_id in stall.affected and rc == 1 and declared_wall:
                stall.detected[w.watch_id] = declared_wall - stall.start_wall
                stall.declared_by[w.watch_id] = declared_by
                w.proc = None  # started again once the stall is lifted
                say(f"stall {stall.n} ({stall.target}): {w.watch_id} declared after {stall.detected[w.watch_id]:.2f} s "
                    f"({declared_by})")
                continue
            short = self.short_at(w, declared_wall or time.time()) if rc == 1 else None
            if short is not None:  # it rides that out by itself: a false declaration, counted apart
                short.declared.append(w.watch_id)
                exit_rec["short_stall"] = short.n
            late = self.stalls[-1] if self.stalls and stall is None else None
            if (
                late is not None
                and w.watch_id in late.affected
                and w.watch_id not in late.detected
                and declared_wall
                and declared_wall - late.lift_wall <= LATE_GRACE
            ):
                late.detected[w.watch_id] = declared_wall - late.start_wall
                late.declared_by[w.watch_id] = declared_by
                late.missed.remove(w.watch_id)
                say(f"stall {late.n}: {w.watch_id} declared late, {late.detected[w.watch_id]:.2f} s")
                self.start_watch(w)
                continue
            exit_rec["false"] = True
            self.false_declarations.append(dict(exit_rec, watch=w.watch_id, kind=w.kind))
            say(f"FALSE DECLARATION: {w.watch_id} exited {rc} in phase {self.phase}: {state.get('status')}")
            if stall is None or not set(w.depends) & {stall.target}:
                self.start_watch(w)
            else:
                w.proc = None

    def disturbed(self, w: SoakWatch) -> bool:
        if self.stall is not None and self.stall.target in w.depends:
            return True
        if self.short_at(w, time.time()) is not None:
            return True
        last = self.stalls[-1] if self.stalls else None
        return bool(last and last.lift_mono and last.target in w.depends and time.monotonic() - last.lift_mono < SETTLE)

    def inject(self, target: str, hold: float) -> None:
        affected = [w.watch_id for w in self.watches if target in w.depends]
        stop = {"smbd": self.smb.stall_all, "ganesha": self.nfs.stall_ganesha, "rpcbind": self.nfs.stall_rpcbind}
        start_mono, start_wall = time.monotonic(), time.time()
        stop[target]()
        self.stall = Stall(len(self.stalls) + 1, target, affected, start_mono, start_wall, hold)
        say(f"stall {self.stall.n}: SIGSTOP {target} for {hold:.1f} s (watches {', '.join(affected)})")

    def lift(self) -> None:
        stall = self.stall
        resume = {"smbd": self.smb.resume_all, "ganesha": self.nfs.resume_ganesha, "rpcbind": self.nfs.resume_rpcbind}
        resume[stall.target]()
        stall.lift_mono, stall.lift_wall = time.monotonic(), time.time()
        stall.missed = [a for a in stall.affected if a not in stall.detected]
        self.stalls.append(stall)
        self.stall = None
        if stall.missed:
            say(f"stall {stall.n}: NOT declared by {', '.join(stall.missed)} within {stall.hold:.1f} s")
        wait_healthy(self.smb, self.nfs, timeout=60.0)
        for w in self.watches:
            if w.proc is None:
                self.start_watch(w)

    def sample(self) -> None:
        psi = soakload.read_psi()
        self.samples.append(
            {
                "t": round(time.time(), 2),
                "phase": self.phase,
                "stall": self.stall.target if self.stall else None,
                "load1": soakload.loadavg(),
                "psi_some_avg10": {r: v.get("some_avg10") for r, v in psi.items()},
                "psi_full_avg10": {r: v.get("full_avg10") for r, v in psi.items()},
            }
        )

    # -- results ----------------------------------------------------------------------------

    def results(self) -> Dict[str, object]:
        marks = self.phase_marks
        phases = {}
        for name in ("idle", "load"):
            a, b = marks[name], marks[f"{name}_end"]
            seconds = b["mono"] - a["mono"]
            psi_share = {}
            for res in ("cpu", "memory", "io"):
                for kind in ("some", "full"):
                    key = f"{kind}_total"
                    if key in a["psi"].get(res, {}) and key in b["psi"].get(res, {}):
                        stalled_us = b["psi"][res][key] - a["psi"][res][key]
                        psi_share[f"{res}_{kind}"] = round(stalled_us / 1e6 / seconds * 100.0, 2)
            phases[name] = {
                "seconds": round(seconds, 1),
                "psi_percent": psi_share,  # share of the phase's time some / all tasks stalled
                "cpu_percent": soakload.percent_of_machine(soakload.diff(b["cpu"], a["cpu"])),
            }
        clients = {}
        windows = [(st.target, st.start_wall, st.lift_wall) for st in self.stalls]
        for path in self.clients.files:
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text())
                server = "smbd" if data["name"].startswith("smb") else "ganesha"
                clients[data["name"]] = soakreport.client_summary(data, [w[1:] for w in windows if w[0] == server])
        return {
            "watches": [
                {
                    "kind": w.kind,
                    "id": w.watch_id,
                    "depends": list(w.depends),
                    "evidence": w.evidence,
                    "probes": soakreport.pack(w.probes, PROBE_FIELDS),
                    "exits": w.exits,
                    "unseen_probes": w.unseen,
                }
                for w in self.watches
            ],
            "stalls": [s.to_dict() for s in self.stalls],
            "short_stalls": [s.to_dict() for s in self.shorts],
            "false_declarations": self.false_declarations,
            "samples": self.samples,
            "phases": phases,
            "phase_starts": {name: round(self.phase_marks[name]["wall"], 3) for name in ("idle", "load")},
            "clients": clients,
        }


if __name__ == "__main__":
    sys.exit(main())

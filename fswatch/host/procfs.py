"""The server's own process, as /proc shows it: which local process serves the connections
this process waits on, and what its threads are doing (fswatch.core.evidence judges it).

Finding the server: for each connection a probe waits on, to an address of this node (this
network namespace), the server's side (fswatch.host.sockets) is the accepted socket — for
Samba the smbd child that serves this very connection — and the listening one; the process
holding that socket's inode in its fd table is the server. The listener's owner is
remembered between probes (checked by PID, start time and inode), so a stalled probe costs
reading that one process's fd table and its children's; the first search looks at the kind's
usual server commands first and stops at the first holder.

Reading another user's fd table needs ptrace read access (the watch's own user, or
CAP_SYS_PTRACE: the units grant it, see units/); without it the server cannot be found and
there is no evidence (`problem`). wchan too needs ptrace read access; the kernel stack needs
CAP_SYS_ADMIN, so only a watch run as root reports it.

Nothing here blocks: /proc and cgroupfs answer from memory. A process or thread that ends
while it is read is simply not in the sample.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from fswatch.core.evidence import ProcessSample, ThreadSample
from fswatch.host.sockets import ServerSide, Socket, own_connections

PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")
MAX_THREADS = 4096  # threads sampled per process (ganesha runs ~20-200)
MAX_STACK_BYTES = 2048
SCAN_LIMIT = 100_000  # processes looked at in one full scan (bounded loop)
# Why a local server could not be found when only permission was missing (alert 118).
NOT_PERMITTED = "not permitted to read the server's open files in /proc (the watch needs CAP_SYS_PTRACE)"


@dataclass(frozen=True)
class ServerProcess:
    """A process serving one of the probe's connections, as (PID, start time): a PID reused
    by another process is never taken for it."""

    pid: int
    start_ticks: int
    name: str


class ProcFS:
    """Reads /proc (and the cgroup file systems) for fswatch.watch.evidence."""

    def __init__(self, proc: Path = PROC, cgroup: Path = CGROUP, clock: Optional[Callable[[], float]] = None,
                 self_pid: Optional[int] = None, prefer: Sequence[str] = ()) -> None:  # fmt: skip
        self.proc = Path(proc)
        # Command names looked at first when the owner of a socket must be searched for (the
        # kind's usual servers): a search stops at the first holder of a listening socket.
        self.prefer = frozenset(prefer)
        self.cgroup = Path(cgroup)
        self.clock = clock or time.monotonic
        self.self_pid = os.getpid() if self_pid is None else self_pid
        self._listeners: Dict[int, List[ServerProcess]] = {}  # listener inode -> its owners, checked on use

    # -- finding the server -------------------------------------------------------------------------

    def servers(self) -> Tuple[List[ServerProcess], str]:
        """The local processes serving the connections this process waits on, and why none
        were found where that is worth saying ('' otherwise: no connection, or none local)."""
        connections = [c for c in own_connections(self.proc / str(self.self_pid) / "fd") if c.awaited]
        if not connections:
            return [], ""
        side = ServerSide(self.proc / str(self.self_pid) / "net")
        found: List[ServerProcess] = []
        problems: Set[str] = set()
        for conn in connections:
            owners, problem = self._serving(conn.socket, side)
            if problem:
                problems.add(problem)
            found += [o for o in owners if o not in found]
        return found, "" if found else "; ".join(sorted(problems))

    def _serving(self, conn: Socket, side: ServerSide) -> Tuple[List[ServerProcess], str]:
        peer = side.accepted(conn)
        listeners = side.listeners(conn)
        if peer is None and not listeners:
            return [], ""  # not an address of this node (in this network namespace): a remote server
        denied = False
        owners: List[ServerProcess] = []
        for listener in listeners:
            got, no = self._owners_of_listener(listener)
            owners += got
            denied |= no
        if peer is not None and peer.inode:
            # The accepted socket: held by the listener's owner (one process serving every
            # connection: ganesha) or by one of its children (smbd forks one per client).
            candidates = [o.pid for o in owners] + [c for o in owners for c in self._children(o.pid)]
            holders, no = self._holders(peer.inode, candidates)
            denied |= no
            if not holders and not owners:
                holders, no = self._holders(peer.inode, self._all_pids(peer.uid))
                denied |= no
            if holders:
                return holders, ""
        if owners:
            return owners, ""  # not accepted yet (a stopped parent never accepts): the listener's owner
        if denied:
            return [], NOT_PERMITTED
        return [], "the server's socket belongs to no process seen here (a kernel server such as knfsd, or one in " \
                   "another PID namespace)"

    def _owners_of_listener(self, listener: Socket) -> Tuple[List[ServerProcess], bool]:
        cached = [o for o in self._listeners.get(listener.inode, []) if self._holds(o, listener.inode)]
        if cached:
            return cached, False
        owners, denied = self._holders(listener.inode, self._all_pids(listener.uid), first=True)
        if owners:
            self._listeners = {listener.inode: owners}  # the one server this watch probes
        return owners, denied

    def _holds(self, owner: ServerProcess, inode: int) -> bool:
        ident = self.identity(owner.pid)
        if ident is None or ident[0] != owner.start_ticks:
            return False
        holders, _ = self._holders(inode, [owner.pid])
        return bool(holders)

    def _holders(self, inode: int, pids: Iterable[int], first: bool = False) -> Tuple[List[ServerProcess], bool]:
        """The processes among `pids` with `inode` in their fd table (`first`: only the first
        found); and whether one could not be read for lack of permission."""
        link = f"socket:[{inode}]"
        out: List[ServerProcess] = []
        denied = False
        seen: Set[int] = set()
        for pid in pids:
            if pid in seen or pid == self.self_pid:
                continue
            seen.add(pid)
            fd_dir = self.proc / str(pid) / "fd"
            try:
                names = os.listdir(fd_dir)
            except PermissionError:
                denied = True
                continue
            except OSError:
                continue
            for name in names:
                try:
                    if os.readlink(fd_dir / name) != link:
                        continue
                except PermissionError:
                    denied = True
                    break
                except OSError:
                    continue
                ident = self.identity(pid)
                if ident is not None:
                    out.append(ServerProcess(pid, ident[0], ident[1]))
                break
            if out and first:
                break
        return out, denied

    def _children(self, pid: int) -> List[int]:
        kids: List[int] = []
        try:
            tids = os.listdir(self.proc / str(pid) / "task")
        except OSError:
            return kids
        for tid in tids[:MAX_THREADS]:
            try:
                kids += [int(c) for c in (self.proc / str(pid) / "task" / tid / "children").read_text().split()]
            except (OSError, ValueError):
                continue
        return kids

    def _all_pids(self, uid: int) -> List[int]:
        """Every process: the preferred command names first, then those of `uid` (the socket's
        owner; a server that changes its uid keeps the sockets it opened before), then the rest."""
        ranked: List[Tuple[int, int]] = []
        try:
            entries = list(os.scandir(self.proc))[:SCAN_LIMIT]
        except OSError:
            return []
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                rank = 1 if entry.stat(follow_symlinks=False).st_uid == uid else 2
                if self.prefer and _read(f"{entry.path}/comm").strip() in self.prefer:
                    rank = 0
            except OSError:
                continue
            ranked.append((rank, int(entry.name)))
        return [pid for _, pid in sorted(ranked)]

    # -- sampling ---------------------------------------------------------------------------------

    def identity(self, pid: int) -> Optional[Tuple[int, str]]:
        """(start time in clock ticks since boot, command name) of a live process; None if gone."""
        try:
            raw = (self.proc / str(pid) / "stat").read_bytes()
        except OSError:
            return None
        head, _, tail = raw.rpartition(b")")
        fields = tail.split()
        try:
            return int(fields[19]), head.partition(b"(")[2].decode("utf-8", "replace")
        except (IndexError, ValueError):
            return None

    def sample(self, server: ServerProcess, detail: bool = False) -> Optional[ProcessSample]:
        """Every thread's state, CPU time (ns) and context switches; with `detail`, also where
        each waits (wchan) and one waiting thread's kernel stack where permitted. None when the
        process is gone or its PID now belongs to another one."""
        base = self.proc / str(server.pid)
        ident = self.identity(server.pid)
        if ident is None or ident[0] != server.start_ticks:
            return None
        at = self.clock()
        try:
            tids = sorted(os.listdir(base / "task"), key=lambda t: int(t) if t.isdigit() else 0)[:MAX_THREADS]
        except OSError:
            return None
        threads = []
        for tid in tids:
            thread = self._thread(base / "task" / tid, int(tid), detail)
            if thread is not None:
                threads.append(thread)
        stack = self._stack(base, threads) if detail else ""
        again = self.identity(server.pid)  # still the same process once its threads are read
        if again is None or again[0] != server.start_ticks:
            return None
        return ProcessSample(server.pid, ident[1], server.start_ticks, at, tuple(threads), self.frozen(server.pid),
                             stack)  # fmt: skip

    def _thread(self, path: Path, tid: int, detail: bool) -> Optional[ThreadSample]:
        status, schedstat = _read(f"{path}/status"), _read(f"{path}/schedstat")
        try:
            cpu_ns = int(schedstat.split()[0])
        except (ValueError, IndexError):
            return None  # it ended while we looked
        state, switches = "?", 0
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key == "State":
                state = value.strip()[:1] or "?"
            elif key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                switches += int(value) if value.strip().isdigit() else 0
        wchan = _read(f"{path}/wchan").strip() if detail else ""
        return ThreadSample(tid, state, cpu_ns, switches, wchan)

    def _stack(self, base: Path, threads: Sequence[ThreadSample]) -> str:
        """The kernel stack of the first thread in D (else the first asleep), frames only."""
        waiting = [t for t in threads if t.state == "D"] or [t for t in threads if t.state == "S"]
        if not waiting:
            return ""
        try:
            with open(base / "task" / str(waiting[0].tid) / "stack", "rb") as f:
                raw = f.read(MAX_STACK_BYTES).decode("utf-8", "replace")
        except OSError:
            return ""  # CAP_SYS_ADMIN only
        frames = [line.split("] ", 1)[-1].split("+", 1)[0] for line in raw.splitlines() if line.strip()]
        return " < ".join(frames[:8])

    def frozen(self, pid: int) -> bool:
        """Whether the process's cgroup is frozen: cgroup v1's freezer.state FROZEN, or v2's
        cgroup.events `frozen 1` (cgroup.freeze). Unreadable counts as not frozen."""
        try:
            lines = (self.proc / str(pid) / "cgroup").read_text().splitlines()
        except OSError:
            return False
        for line in lines:
            _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
            rel = path.lstrip("/")
            if "freezer" in controllers.split(","):
                if _read(self.cgroup / "freezer" / rel / "freezer.state").strip() == "FROZEN":
                    return True
            elif controllers == "" and rel:
                for root in (self.cgroup / "unified", self.cgroup):
                    events = _read(root / rel / "cgroup.events")
                    if events:
                        return "frozen 1" in events.splitlines()
        return False


def _read(path: os.PathLike | str) -> str:
    """A small file of /proc or cgroupfs ('' if it cannot be read): os.open and os.read, as
    these are read by the hundred in a search (open() and pathlib cost several times more)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        return os.read(fd, 4096).decode("ascii", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)

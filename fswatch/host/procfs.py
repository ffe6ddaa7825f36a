"""The server's own process, as /proc shows it: which local process serves this process's
open connections, and what its threads are doing (fswatch.core.evidence judges it).

Finding the server: the kernel's socket tables (/proc/self/net/tcp, tcp6, udp, udp6: this
network namespace) show each of our connections and, for one to an address of this node,
the server's side of it (the accepted socket: for Samba the smbd child that serves this very
connection) and the listening socket; the process holding that socket's inode in its fd
table is the server. Its listener's owner is remembered between probes (checked by PID, start
time and inode), so a stalled probe costs reading that one process's fd table and its
children's, not every process's.

Reading another user's fd table needs ptrace read access (the watch's own user, or
CAP_SYS_PTRACE: the units grant it, see units/); without it the server cannot be found and
there is no evidence (`problem`). wchan too needs ptrace read access; the kernel stack needs
CAP_SYS_ADMIN, so only a watch run as root reports it.

Nothing here blocks: /proc and cgroupfs answer from memory. A process or thread that ends
while it is read is simply not in the sample.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from fswatch.core.evidence import ProcessSample, ThreadSample

PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")
TABLES = (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp"))
TCP_LISTEN, TCP_ESTABLISHED, TCP_SYN_SENT = "0A", "01", "02"
MAX_TABLE_BYTES = 16 << 20  # a socket table of a busy node; more is not read
MAX_THREADS = 4096  # threads sampled per process (ganesha runs ~20-200)
MAX_STACK_BYTES = 2048
SCAN_LIMIT = 100_000  # processes looked at in one full scan (bounded loop)

Endpoint = Tuple[str, int]  # (address as text, port)


@dataclass(frozen=True)
class Socket:
    proto: str  # "tcp" or "udp"
    local: Endpoint
    remote: Endpoint
    state: str  # TCP state in hex (0A listen), UDP 07
    uid: int
    inode: int


@dataclass(frozen=True)
class ServerProcess:
    """A process serving one of the probe's connections, as (PID, start time): a PID reused
    by another process is never taken for it."""

    pid: int
    start_ticks: int
    name: str


def _address(hexed: str) -> str:
    """/proc/net/tcp's address: the network-order bytes, each 32-bit word in host order."""
    raw = bytes.fromhex(hexed)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    addr = ipaddress.ip_address(words)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)  # a dual-stack listener's v4 peers
    return str(addr)


def parse_table(text: str, proto: str) -> List[Socket]:
    """The lines of /proc/net/{tcp,tcp6,udp,udp6}; malformed lines are skipped."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10:
            continue
        try:
            (la, lp), (ra, rp) = (x.split(":") for x in (f[1], f[2]))
            out.append(Socket(proto, (_address(la), int(lp, 16)), (_address(ra), int(rp, 16)), f[3], int(f[7]),
                              int(f[9])))  # fmt: skip
        except (ValueError, IndexError):
            continue
    return out


WILDCARDS = frozenset({"0.0.0.0", "::"})


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
        """The local processes serving this process's open connections, and why none were
        found where that is worth saying ('' otherwise: no connection, or none local)."""
        mine = self._own_sockets()
        if not mine:
            return [], ""
        table = self._sockets()
        found: List[ServerProcess] = []
        problems: Set[str] = set()
        for conn in (s for s in table if s.inode in mine and s.remote[1] != 0 and _awaited(s, mine[s.inode])):
            owners, problem = self._serving(conn, table)
            if problem:
                problems.add(problem)
            found += [o for o in owners if o not in found]
        return found, "" if found else "; ".join(sorted(problems))

    def _serving(self, conn: Socket, table: Sequence[Socket]) -> Tuple[List[ServerProcess], str]:
        peer = next((s for s in table if s.proto == conn.proto and s.local == conn.remote and s.remote == conn.local
                     and s.inode), None)  # fmt: skip
        listeners = [s for s in table if self._listens_for(s, conn)]
        if peer is None and not listeners:
            return [], ""  # not an address of this node (in this network namespace): a remote server
        denied = False
        owners: List[ServerProcess] = []
        for listener in listeners:
            got, no = self._owners_of_listener(listener)
            owners += got
            denied |= no
        if peer is not None:
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
            return [], "not permitted to read the server's open files in /proc (the watch needs CAP_SYS_PTRACE)"
        return [], "the server's socket belongs to no process (a kernel server, such as knfsd)"

    @staticmethod
    def _listens_for(s: Socket, conn: Socket) -> bool:
        if s.proto != conn.proto or s.local[1] != conn.remote[1] or s.inode == 0:
            return False
        if conn.proto == "tcp" and s.state != TCP_LISTEN:
            return False
        if conn.proto == "udp" and s.remote[1] != 0:
            return False
        return s.local[0] == conn.remote[0] or s.local[0] in WILDCARDS

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
                if self.prefer and _read(Path(entry.path) / "comm").strip() in self.prefer:
                    rank = 0
            except OSError:
                continue
            ranked.append((rank, int(entry.name)))
        return [pid for _, pid in sorted(ranked)]

    def _own_sockets(self) -> Dict[int, int]:
        """This process's sockets: inode -> fd."""
        out: Dict[int, int] = {}
        fd_dir = self.proc / str(self.self_pid) / "fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            return out
        for name in names:
            try:
                link = os.readlink(fd_dir / name)
            except OSError:
                continue
            if link.startswith("socket:[") and name.isdigit():
                out[int(link[8:-1])] = int(name)
        return out

    def _sockets(self) -> List[Socket]:
        out: List[Socket] = []
        for name, proto in TABLES:
            try:
                with open(self.proc / str(self.self_pid) / "net" / name, "rb") as f:
                    text = f.read(MAX_TABLE_BYTES).decode("ascii", "replace")
            except OSError:
                continue  # no IPv6 in this kernel, say
            out += parse_table(text, proto)
        return out

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
        try:
            status = (path / "status").read_text(errors="replace")
            cpu_ns = int((path / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None  # it ended while we looked
        state, switches = "?", 0
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key == "State":
                state = value.strip()[:1] or "?"
            elif key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                switches += int(value) if value.strip().isdigit() else 0
        wchan = ""
        if detail:
            try:
                wchan = (path / "wchan").read_text(errors="replace").strip()
            except OSError:
                wchan = ""
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


# struct tcp_info (linux/tcp.h, offsets of its u32 fields): the milliseconds since the last
# data was sent and received, and the data segments received and sent (Linux 4.6).
_LAST_DATA_SENT, _LAST_DATA_RECV, _DATA_SEGS_IN, _DATA_SEGS_OUT = 44, 52, 152, 156
_TCP_INFO_BYTES = 160


def _awaited(conn: Socket, fd: int) -> bool:
    """Whether the probe waits on this connection: over TCP, not established yet, nothing
    exchanged yet, or data sent since the last data received (a request without its answer);
    a connection whose answer came is idle (the NFS probe keeps its portmapper connection open
    while it talks to the server). UDP cannot tell: every connected UDP socket counts."""
    if conn.proto != "tcp" or conn.state != TCP_ESTABLISHED:
        return True
    try:
        dup = os.dup(fd)
    except OSError:
        return True
    try:
        if os.fstat(dup).st_ino != conn.inode:  # the fd was closed and its number reused meanwhile
            return False
        with socket.socket(fileno=dup) as sock:
            dup = -1  # the socket object owns it now
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_BYTES)
        if len(info) < _TCP_INFO_BYTES:
            return True  # an old kernel: cannot tell
        sent, received, segs_in, segs_out = (
            struct.unpack_from("=I", info, at)[0] for at in (_LAST_DATA_SENT, _LAST_DATA_RECV, _DATA_SEGS_IN,
                                                            _DATA_SEGS_OUT)
        )  # fmt: skip
        # Both are jiffies (4 ms at HZ=250): a request and its answer in the same tick look
        # alike, and count as awaited rather than be missed.
        return not segs_in or not segs_out or sent <= received
    except (OSError, struct.error):
        return True
    finally:
        if dup >= 0:
            os.close(dup)


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(4096).decode("ascii", "replace")
    except OSError:
        return ""

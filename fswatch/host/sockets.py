"""The kernel's socket tables, for finding the local server of this process's connections
(fswatch.host.procfs): which of our connections a probe waits on, and the server's side of
each — the accepted socket and the listening one.

Our own connections are read from our own fds (getsockname, getpeername, TCP_INFO on a
duplicate), never from a table. The server's sockets come from netlink sock_diag
(NETLINK_SOCK_DIAG, sock_diag(7)): one exact lookup for the accepted socket and one dump of
the listening sockets, which costs the same on a node with ten sockets or ten thousand.
/proc/self/net/{tcp,tcp6,udp,udp6} is the fallback where netlink is not allowed: the kernel
formats every socket of the namespace there (measured here: 964 sockets, 33-54 ms at load 11).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

Endpoint = Tuple[str, int]  # (address as text, IPv4-mapped IPv6 shown as IPv4; port)

TCP_ESTABLISHED, TCP_LISTEN = 1, 10  # linux/tcp_states.h
MAX_TABLE_BYTES = 16 << 20  # a /proc/net table of a busy node; more is not read
WILDCARDS = frozenset({"0.0.0.0", "::"})


@dataclass(frozen=True)
class Socket:
    """One socket of sock_diag's (or /proc/net's) answer, with its two ends and its state."""

    proto: str  # "tcp" or "udp"
    local: Endpoint
    remote: Endpoint
    state: int  # TCP state (1 established, 10 listen); UDP 7 (closed: unconnected) or 1
    uid: int
    inode: int


@dataclass(frozen=True)
class Connection:
    """One of our connections, with the fd it lives in and whether the probe waits on it."""

    socket: Socket
    fd: int
    awaited: bool


# -- our own connections -----------------------------------------------------------------------------

# struct tcp_info (linux/tcp.h): the data segments received and sent, u32s (Linux 4.6).
_DATA_SEGS_IN, _DATA_SEGS_OUT = 152, 156
_TCP_INFO_BYTES = 160


def own_connections(fd_dir: Path) -> List[Connection]:
    """This process's connected TCP and UDP sockets (fd_dir: /proc/self/fd)."""
    out = []
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
            conn = _connection(int(name), int(link[8:-1]))
            if conn is not None:
                out.append(conn)
    return out


def _connection(fd: int, inode: int) -> Optional[Connection]:
    try:
        dup = os.dup(fd)
    except OSError:
        return None  # closed meanwhile
    try:
        if os.fstat(dup).st_ino != inode:  # the fd was closed and its number reused meanwhile
            return None
        with socket.socket(fileno=dup) as sock:
            dup = -1  # the socket object owns it now
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return None
            proto = {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}.get(sock.type)
            if proto is None:
                return None
            try:
                remote = _endpoint(sock.getpeername())
            except OSError:
                return None  # not connected: nobody serves it
            local = _endpoint(sock.getsockname())
            awaited = _awaited(sock) if proto == "tcp" else True
            return Connection(Socket(proto, local, remote, TCP_ESTABLISHED, os.getuid(), inode), fd, awaited)
    except OSError:
        return None
    finally:
        if dup >= 0:
            os.close(dup)


def _awaited(sock: socket.socket) -> bool:
    """Whether the probe waits on this TCP connection: as many data segments sent as received
    means every request has its answer (the NFS probe keeps its portmapper connection open while
    it talks to the server); more sent, a request in flight; nothing sent, it has not asked yet.
    Each request and each answer of the probes is one segment to a server on this node (loopback
    MSS 64 KiB); more received than sent (an answer split in two) counts as awaited, as does a
    kernel that cannot tell: a connection is never dropped on a doubt. (tcp_info's last_data_sent
    and last_data_recv tick in jiffies, 4 ms at HZ=250: a request and its loopback answer look
    simultaneous, measured.)"""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_BYTES)
    except OSError:
        return True
    if len(info) < _TCP_INFO_BYTES:
        return True  # an old kernel: cannot tell
    segs_in, segs_out = (struct.unpack_from("=I", info, at)[0] for at in (_DATA_SEGS_IN, _DATA_SEGS_OUT))
    return segs_out == 0 or segs_out != segs_in


def _endpoint(address: tuple) -> Endpoint:
    return _plain(address[0]), int(address[1])


def _plain(address: str) -> str:
    addr = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)  # a dual-stack listener's v4 peers
    return str(addr)


# -- the server's side ------------------------------------------------------------------------------


class ServerSide:
    """The server's sockets for our connections: sock_diag, or /proc/net where netlink is not
    allowed (the table is then read once per ServerSide)."""

    def __init__(self, net_dir: Path) -> None:
        self.net_dir = net_dir
        self._table: Optional[List[Socket]] = None
        self.netlink = True

    def accepted(self, conn: Socket) -> Optional[Socket]:
        """The server's socket of this connection (its inode is 0 while not yet accepted)."""
        if conn.proto == "tcp" and self.netlink:
            found = _lookup(conn)
            if found is not None:
                return found[0] if found else None
            self.netlink = False
        return next((s for s in self._proc_table() if s.proto == conn.proto and s.local == conn.remote
                     and s.remote == conn.local), None)  # fmt: skip

    def listeners(self, conn: Socket) -> List[Socket]:
        """The sockets listening (TCP) or bound unconnected (UDP) where the connection goes."""
        found: Optional[List[Socket]] = None
        if self.netlink:
            found = _listening(conn.proto, conn.remote[1])
            if found is None:
                self.netlink = False
        if found is None:
            found = [s for s in self._proc_table() if s.proto == conn.proto and s.local[1] == conn.remote[1]
                     and (s.state == TCP_LISTEN if conn.proto == "tcp" else s.remote[1] == 0)]  # fmt: skip
        return [s for s in found if s.inode and (s.local[0] == conn.remote[0] or s.local[0] in WILDCARDS)]

    def _proc_table(self) -> List[Socket]:
        if self._table is None:
            self._table = []
            for name, proto in (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp")):
                try:
                    with open(self.net_dir / name, "rb") as f:
                        text = f.read(MAX_TABLE_BYTES).decode("ascii", "replace")
                except OSError:
                    continue  # no IPv6 in this kernel, say
                self._table += parse_table(text, proto)
        return self._table


def parse_table(text: str, proto: str, keep: Callable[[List[str]], bool] = lambda fields: True) -> List[Socket]:
    """The lines of /proc/net/{tcp,tcp6,udp,udp6} that `keep` (given the split line) wants;
    malformed lines are skipped."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or not keep(f):
            continue
        try:
            (la, lp), (ra, rp) = (x.split(":") for x in (f[1], f[2]))
            out.append(Socket(proto, (_hex_address(la), int(lp, 16)), (_hex_address(ra), int(rp, 16)), int(f[3], 16),
                              int(f[7]), int(f[9])))  # fmt: skip
        except (ValueError, IndexError):
            continue
    return out


def _hex_address(hexed: str) -> str:
    """/proc/net/tcp's address: the network-order bytes, each 32-bit word in host order."""
    raw = bytes.fromhex(hexed)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return _plain(str(ipaddress.ip_address(words)))


# -- netlink sock_diag (linux/sock_diag.h, linux/inet_diag.h) ------------------------------------------

NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY = 4, 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
_NLMSGHDR = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBxI")  # inet_diag_req_v2 without its sockid
_SOCKID = struct.Struct(">HH16s16s")  # ports and addresses in network order; then if, cookie (host order)
_MSG = struct.Struct("=BBBB")  # inet_diag_msg's family, state, timer, retrans; then the sockid
_MSG_TAIL = struct.Struct("=IIIII")  # expires, rqueue, wqueue, uid, inode
_NOCOOKIE = 0xFFFFFFFF
RECV_BYTES = 1 << 16
MAX_MESSAGES = 100_000  # sockets read from one dump (bounded loop)
NETLINK_TIMEOUT = 1.0  # seconds: the kernel answers from memory at once


def _sockid(family: int, src: Endpoint, dst: Endpoint) -> bytes:
    def packed(address: str) -> bytes:
        addr = ipaddress.ip_address(address)
        if family == socket.AF_INET6 and addr.version == 4:
            addr = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + addr.packed)
        return addr.packed.ljust(16, b"\0")

    return _SOCKID.pack(src[1], dst[1], packed(src[0]), packed(dst[0])) + struct.pack("=III", 0, _NOCOOKIE, _NOCOOKIE)


def _diag(family: int, proto: int, states: int, sockid: bytes, dump: bool) -> Optional[List[Socket]]:
    """One sock_diag request; the sockets answered ([] for none), or None where netlink is not
    allowed or the kernel refuses (the caller falls back to /proc/net)."""
    body = _REQ.pack(family, proto, 0, states) + sockid
    flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
    try:
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except OSError:
        return None  # RestrictAddressFamilies= without AF_NETLINK, say
    out: List[Socket] = []
    name = "tcp" if proto == socket.IPPROTO_TCP else "udp"
    try:
        nl.settimeout(NETLINK_TIMEOUT)
        nl.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, flags, 1, 0) + body)
        for _ in range(MAX_MESSAGES):
            data = nl.recv(RECV_BYTES)
            if not data:
                return None
            at = 0
            while at + _NLMSGHDR.size <= len(data):
                length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, at)
                if length < _NLMSGHDR.size:
                    return None
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, at + _NLMSGHDR.size)[0]
                    return out if code in (0, errno.ENOENT) else None
                out.append(_decode(data, at + _NLMSGHDR.size, name))
                at += (length + 3) & ~3
            if not dump:
                return out
        return out
    except (OSError, struct.error, ValueError):
        return None
    finally:
        nl.close()


def _decode(data: bytes, at: int, proto: str) -> Socket:
    family, state, _, _ = _MSG.unpack_from(data, at)
    sport, dport, src, dst = _SOCKID.unpack_from(data, at + _MSG.size)
    size = 4 if family == socket.AF_INET else 16
    tail = _MSG_TAIL.unpack_from(data, at + _MSG.size + _SOCKID.size + 12)
    local = (_plain(str(ipaddress.ip_address(src[:size]))), sport)
    remote = (_plain(str(ipaddress.ip_address(dst[:size]))), dport)
    return Socket(proto, local, remote, state, tail[3], tail[4])


def _lookup(conn: Socket) -> Optional[List[Socket]]:
    """The accepted socket of a TCP connection to this node, by its exact address ([]: none in
    this network namespace; None where netlink cannot be used). An IPv4 client of a dual-stack
    listener is an IPv6 socket with mapped addresses: both families are asked."""
    for family in (socket.AF_INET, socket.AF_INET6):
        if family == socket.AF_INET and ":" in conn.remote[0]:
            continue
        found = _diag(family, socket.IPPROTO_TCP, 0xFFFFFFFF, _sockid(family, conn.remote, conn.local), dump=False)
        if found is None or found:
            return found
    return []


def _listening(proto: str, port: int) -> Optional[List[Socket]]:
    """Every TCP socket listening, or UDP socket bound, on `port` (both families); None where
    netlink cannot be used."""
    number = socket.IPPROTO_TCP if proto == "tcp" else socket.IPPROTO_UDP
    states = 1 << TCP_LISTEN if proto == "tcp" else 0xFFFFFFFF
    out: List[Socket] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        found = _diag(family, number, states, _sockid(family, ("0.0.0.0" if family == socket.AF_INET else "::", 0),
                                                       ("0.0.0.0" if family == socket.AF_INET else "::", 0)),
                      dump=True)  # fmt: skip
        if found is None:
            return None
        out += [s for s in found if s.local[1] == port and (proto == "tcp" or s.remote[1] == 0)]
    return out


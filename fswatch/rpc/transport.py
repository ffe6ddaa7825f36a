"""Moving RPC messages: TCP with record marking (RFC 5531 section 11) and UDP with retransmission.

Every blocking step (connect, send, each recv) takes its bound from the probe's Deadline,
asked again before every recv, so a peer that trickles one byte at a time still ends at the
deadline. A peer that closes without replying ends the call at once.

Source ports: when the process may (root or CAP_NET_BIND_SERVICE) a socket is bound to a
reserved port first, bindresvport()-style, because Linux knfsd's `secure` export option
refuses others; otherwise, or if the reserved range is busy, the kernel picks one.
"""

from __future__ import annotations

import errno as errno_mod
import functools
import math
import os
import select
import socket
import struct
import threading
from typing import Iterator, List, Optional, Protocol, Sequence, Tuple

from fswatch.core.deadline import Deadline
from fswatch.core.errors import DeadlineExceeded
from fswatch.rpc.errors import RpcConnectionError, RpcDecodeError, RpcSystemError, RpcTimeout

# Record marking: a 4-byte header per fragment, top bit = last fragment, 31 bits = length.
LAST_FRAGMENT = 0x80000000
MAX_RECORD = 1 << 20  # no reply fswatch asks for comes near this; more is garbage
MAX_FRAGMENTS = 4096  # bounds the work on a stream of empty fragments
RECV_CHUNK = 65536

MAX_DATAGRAM = 65536
UDP_FIRST_RETRY = 0.5  # seconds until the first retransmission; doubles after each

# Linux sunrpc's xprt_min_resvport / xprt_max_resvport; the rest of 0-1023 is left to daemons.
RESERVED_LOW, RESERVED_HIGH = 665, 1023
# Like glibc's bindresvport(), try the whole range: other RPC clients (rpcinfo, showmount)
# leave its ports in TIME_WAIT, so a few random tries can all miss. 359 binds cost < 1 ms.
RESERVED_TRIES = RESERVED_HIGH - RESERVED_LOW + 1
CAP_NET_BIND_SERVICE = 10

SOURCE_RESERVED, SOURCE_UNPRIVILEGED = "reserved", "unprivileged"

_HEADER = struct.Struct(">I")
# Close with RST instead of FIN: a reserved port would otherwise sit in TIME_WAIT for 60 s,
# and the range has only 359 ports for every probe on this host.
_LINGER_ABORT = struct.pack("ii", 1, 0)


class Transport(Protocol):
    protocol: str

    @property
    def source_port(self) -> str:
        """SOURCE_RESERVED or SOURCE_UNPRIVILEGED."""
        ...

    def send(self, record: bytes, deadline: Deadline) -> None: ...

    def recv(self, deadline: Deadline) -> bytes: ...

    def close(self) -> None: ...


def random_below(n: int) -> int:
    """A random int in [0, n) from os.urandom: the random module (with bisect and _sha512) is
    ~0.1 MB of every NFS watch's private memory, for two numbers per process (issue 21)."""
    return int.from_bytes(os.urandom(8), "big") % n


def encode_record(record: bytes) -> bytes:
    """One record as a single last fragment."""
    return _HEADER.pack(LAST_FRAGMENT | len(record)) + record


class RecordAssembler:
    """Reassembles records from a TCP byte stream (RFC 5531 section 11); no I/O, so testable alone."""

    __slots__ = ("_buf", "_fragments", "_size", "_count", "max_record")

    def __init__(self, max_record: int = MAX_RECORD) -> None:
        self.max_record = max_record
        self._buf = bytearray()
        self._fragments: List[bytes] = []
        self._size = 0  # bytes of the record so far
        self._count = 0  # fragments of the record so far

    @property
    def pending(self) -> bool:
        """True while part of a record has arrived."""
        return bool(self._buf) or bool(self._count)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_record(self) -> Optional[bytes]:
        """The next complete record, or None until more bytes arrive. Garbage raises RpcDecodeError."""
        buf = self._buf
        while len(buf) >= 4:
            header = _HEADER.unpack_from(buf)[0]
            length = header & ~LAST_FRAGMENT
            # Checked before waiting for the body: a 2 GiB length is refused at once.
            if self._size + length > self.max_record:
                raise RpcDecodeError(f"record of more than {self.max_record} bytes (fragment of {length})")
            if self._count >= MAX_FRAGMENTS:
                raise RpcDecodeError(f"record of more than {MAX_FRAGMENTS} fragments")
            if len(buf) < 4 + length:
                return None
            self._fragments.append(bytes(buf[4 : 4 + length]))
            del buf[: 4 + length]
            self._size += length
            self._count += 1
            if header & LAST_FRAGMENT:
                record = b"".join(self._fragments)
                self._fragments, self._size, self._count = [], 0, 0
                return record
        return None


@functools.lru_cache(maxsize=1)
def may_bind_reserved() -> bool:
    """True if this process may bind ports below 1024 (CAP_NET_BIND_SERVICE, or root)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_BIND_SERVICE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


class _ReservedPorts:
    """Chooses reserved source ports: first ones this process gave back, then a downward walk.

    Our sockets close with RST, so a port we used is free again at once: reusing it costs one
    bind, where walking the range can cost dozens when other clients' ports sit in TIME_WAIT.
    The walk starts at a random port, so processes spread over the range.
    """

    KEEP = 8  # a v3 probe holds three sockets at a time

    def __init__(self) -> None:
        self._next = RESERVED_LOW + random_below(RESERVED_HIGH - RESERVED_LOW + 1)
        self._released: List[int] = []
        self._lock = threading.Lock()

    def _candidates(self) -> Iterator[int]:
        with self._lock:
            released = self._released[::-1]
            start = self._next
        yield from released
        span = RESERVED_HIGH - RESERVED_LOW + 1
        for i in range(RESERVED_TRIES):
            yield RESERVED_LOW + (start - RESERVED_LOW - i) % span

    def bind(self, sock: socket.socket, any_address: str) -> Optional[int]:
        """The reserved port `sock` is now bound to, or None if none could be had."""
        for port in self._candidates():
            try:
                sock.bind((any_address, port))
            except OSError as exc:
                if exc.errno != errno_mod.EADDRINUSE:
                    return None  # EACCES and the like: no port of the range will do
                continue
            with self._lock:
                if port in self._released:
                    self._released.remove(port)
                else:
                    self._next = port - 1 if port > RESERVED_LOW else RESERVED_HIGH
            return port
        return None

    def release(self, port: int) -> None:
        with self._lock:
            if port not in self._released:
                self._released = (self._released + [port])[-self.KEEP :]


_reserved_ports = _ReservedPorts()


def _bind_source(sock: socket.socket, family: int) -> Optional[int]:
    """Bind a reserved port if allowed, bindresvport()-style, and return it; else None (the kernel picks)."""
    if not may_bind_reserved():
        return None
    return _reserved_ports.bind(sock, "::" if family == socket.AF_INET6 else "0.0.0.0")


def _time_left(deadline: Deadline) -> float:
    try:
        return deadline.timeout()
    except DeadlineExceeded:
        raise RpcTimeout() from None


def _new_socket(family: int, kind: int) -> socket.socket:
    try:
        return socket.socket(family, kind)
    except OSError as exc:
        raise RpcSystemError("socket", exc.errno or errno_mod.ENOMEM) from exc


def _discard(sock: socket.socket, reserved_port: Optional[int]) -> None:
    sock.close()
    if reserved_port is not None:
        _reserved_ports.release(reserved_port)


def address_family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class _SocketTransport:
    """A socket and the reserved port it holds (None: the kernel chose an unprivileged one)."""

    def __init__(self, sock: socket.socket, reserved_port: Optional[int]) -> None:
        self._sock = sock
        self.reserved_port = reserved_port
        self._closed = False

    @property
    def source_port(self) -> str:
        return SOURCE_UNPRIVILEGED if self.reserved_port is None else SOURCE_RESERVED

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _discard(self._sock, self.reserved_port)


class TcpTransport(_SocketTransport):
    """One TCP connection carrying record-marked RPC messages.

    The socket stays non-blocking; each wait is one poll() bounded by the deadline (asked
    again before every wait, so trickles end too). start() begins the handshake and returns
    at once: the first send (or connected()) completes it, so a probe can open its next
    connection while a call on another is in flight, and a refused or unanswered connect is
    still reported by the stage that uses the connection.
    """

    protocol = "tcp"

    def __init__(
        self,
        sock: socket.socket,
        reserved_port: Optional[int],
        max_record: int = MAX_RECORD,
        connecting: Optional[Tuple[str, int]] = None,
    ) -> None:
        super().__init__(sock, reserved_port)
        self._records = RecordAssembler(max_record)
        self._connecting = connecting  # the peer while the handshake is under way
        self._failed: Optional[BaseException] = None  # how the handshake failed: every later use says so
        self._poll = select.poll()
        self._poll_for: Optional[int] = None  # the events self._sock is registered for

    @classmethod
    def connect(cls, address: str, port: int, deadline: Deadline, *, max_record: int = MAX_RECORD) -> TcpTransport:
        transport = cls.start(address, port, deadline, max_record=max_record)
        transport.connected(deadline)
        return transport

    @classmethod
    def start(cls, address: str, port: int, deadline: Deadline, *, max_record: int = MAX_RECORD) -> TcpTransport:
        """Begin connecting to `address`:`port`; a connect that fails at once raises here."""
        family = address_family(address)
        sock = _new_socket(family, socket.SOCK_STREAM)
        reserved_port = None
        try:
            reserved_port = _bind_source(sock, family)
            _time_left(deadline)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            err = sock.connect_ex((address, port))
            if err not in (0, errno_mod.EINPROGRESS):
                raise RpcConnectionError(err, f"connect to {address}:{port}: {OSError(err, os.strerror(err))}")
        except OSError as exc:
            _discard(sock, reserved_port)
            err = exc.errno or errno_mod.ECONNREFUSED
            raise RpcConnectionError(err, f"connect to {address}:{port}: {exc}") from exc
        except BaseException:
            _discard(sock, reserved_port)
            raise
        return cls(sock, reserved_port, max_record, (address, port) if err else None)

    def connected(self, deadline: Deadline) -> None:
        """Wait for the handshake start() began (bounded by the deadline); its failure raises."""
        if self._failed is not None:
            raise self._failed
        if self._connecting is None:
            return
        address, port = self._connecting
        try:
            if not self._wait(select.POLLOUT, deadline):
                raise RpcTimeout(f"connect to {address}:{port} timed out")
            err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise RpcConnectionError(err, f"connect to {address}:{port}: {OSError(err, os.strerror(err))}")
        except BaseException as exc:
            self._failed = exc
            self.close()
            raise
        self._connecting = None

    def ready(self) -> bool:
        """Whether a send now would not wait for the handshake: it is done, or has failed (the
        send then says how). Never waits (fswatch.probes.nfs: an MNT begun early)."""
        if self._connecting is None or self._failed is not None:
            return True
        self._register(select.POLLOUT)
        return bool(self._poll.poll(0))

    def _register(self, events: int) -> None:
        if self._poll_for != events:
            if self._poll_for is None:
                self._poll.register(self._sock, events)
            else:
                self._poll.modify(self._sock, events)
            self._poll_for = events

    def _wait(self, events: int, deadline: Deadline) -> bool:
        """Whether the socket became ready for `events` before the deadline."""
        self._register(events)
        left = _time_left(deadline)
        return bool(self._poll.poll(math.ceil(left * 1000.0)))  # ms, rounded up: never a busy loop

    def send(self, record: bytes, deadline: Deadline) -> None:
        self.send_records((record,), deadline)

    def send_records(self, records: Sequence[bytes], deadline: Deadline) -> None:
        """Several records in one write: calls in flight together leave in one segment, so the
        server (and this host's network stack) handles one packet for all of them."""
        self.connected(deadline)
        view = memoryview(b"".join(encode_record(record) for record in records))
        try:
            while view:
                try:
                    view = view[self._sock.send(view) :]
                except BlockingIOError:
                    if not self._wait(select.POLLOUT, deadline):
                        raise RpcTimeout("send timed out") from None
        except OSError as exc:
            raise RpcConnectionError(exc.errno or errno_mod.EPIPE, status="RPC_CANTSEND") from exc

    def recv(self, deadline: Deadline) -> bytes:
        self.connected(deadline)
        while True:
            record = self._records.next_record()
            if record is not None:
                return record
            try:
                chunk = self._sock.recv(RECV_CHUNK)
            except BlockingIOError:
                if not self._wait(select.POLLIN, deadline):  # the time left, asked again: trickles end too
                    raise RpcTimeout() from None
                continue
            except OSError as exc:
                raise RpcConnectionError(exc.errno or errno_mod.ECONNRESET) from exc
            if not chunk:
                # glibc's readtcp() calls a premature end of stream ECONNRESET too.
                what = "in the middle of a reply" if self._records.pending else "without replying"
                raise RpcConnectionError(errno_mod.ECONNRESET, f"the server closed the connection {what}")
            self._records.feed(chunk)


class UdpTransport(_SocketTransport):
    """A connected UDP socket; the last call is retransmitted after 0.5 s, 1 s, 2 s ... until the deadline.

    Connected, so the kernel drops datagrams from other peers and an ICMP port unreachable
    comes back as ECONNREFUSED.
    """

    protocol = "udp"

    def __init__(
        self, sock: socket.socket, reserved_port: Optional[int], first_retry: float = UDP_FIRST_RETRY
    ) -> None:
        super().__init__(sock, reserved_port)
        self._first_retry = first_retry
        self._pending: Optional[bytes] = None
        self._interval = first_retry
        self._retry_at = 0.0

    @classmethod
    def connect(
        cls, address: str, port: int, deadline: Deadline, *, first_retry: float = UDP_FIRST_RETRY
    ) -> UdpTransport:
        family = address_family(address)
        sock = _new_socket(family, socket.SOCK_DGRAM)
        reserved_port = None
        try:
            reserved_port = _bind_source(sock, family)
            sock.connect((address, port))  # no packet is sent: it only fixes the peer
        except OSError as exc:
            _discard(sock, reserved_port)
            raise RpcConnectionError(exc.errno or errno_mod.ENETUNREACH, f"{address}:{port}: {exc}") from exc
        except BaseException:
            _discard(sock, reserved_port)
            raise
        return cls(sock, reserved_port, first_retry)

    def _send_pending(self, deadline: Deadline) -> None:
        assert self._pending is not None
        self._sock.settimeout(_time_left(deadline))
        try:
            self._sock.send(self._pending)
        except socket.timeout:
            raise RpcTimeout("send timed out") from None
        except OSError as exc:
            raise RpcConnectionError(exc.errno or errno_mod.EIO, status="RPC_CANTSEND") from exc

    def send(self, record: bytes, deadline: Deadline) -> None:
        self._pending = record
        self._send_pending(deadline)
        self._interval = self._first_retry
        self._retry_at = deadline.clock() + self._interval

    def recv(self, deadline: Deadline) -> bytes:
        while True:
            wait = _time_left(deadline)
            if self._pending is not None:
                until_retry = self._retry_at - deadline.clock()
                if until_retry <= 0:
                    self._send_pending(deadline)
                    self._interval *= 2
                    until_retry = self._interval
                    self._retry_at = deadline.clock() + until_retry
                wait = min(wait, until_retry)
            self._sock.settimeout(wait)
            try:
                return self._sock.recv(MAX_DATAGRAM)
            except socket.timeout:
                continue  # a retransmission is due, or the deadline has passed: the loop decides
            except OSError as exc:
                raise RpcConnectionError(exc.errno or errno_mod.EIO) from exc


def open_transport(protocol: str, address: str, port: int, deadline: Deadline, wait: bool = True) -> Transport:
    """A connected transport to `address`:`port` (a numeric address) for "tcp" or "udp".

    Without `wait`, a TCP handshake is only begun: its first send completes it (TcpTransport).
    """
    if protocol == "tcp":
        return TcpTransport.connect(address, port, deadline) if wait else TcpTransport.start(address, port, deadline)
    if protocol == "udp":
        return UdpTransport.connect(address, port, deadline)
    raise ValueError(f"unknown transport {protocol!r}")

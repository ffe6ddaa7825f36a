"""Small in-process ONC RPC servers on 127.0.0.1 that misbehave on purpose.

Each accepted TCP connection (or each UDP datagram) is handed to a behaviour function the
test writes, with helpers to read a CALL and send records, so a test reads as a script of
what the server does. Everything runs in daemon threads and stops by close(); every wait
is bounded.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from typing import Callable, List, Optional, Tuple

from fswatch.rpc.message import Call, decode_call, encode_reply
from fswatch.rpc.transport import LAST_FRAGMENT, encode_record

STEP = 0.05  # seconds: how often server loops look at their stop flag
IO_LIMIT = 10.0  # seconds: no server thread blocks longer than this on one socket call


class Peer:
    """One accepted TCP connection, as a behaviour sees it."""

    def __init__(self, conn: socket.socket, stop: threading.Event) -> None:
        self.conn = conn
        self.stopped = stop
        conn.settimeout(IO_LIMIT)

    def _read_exact(self, n: int) -> Optional[bytes]:
        data = b""
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def read_record(self) -> Optional[bytes]:
        """One whole record (all fragments), or None when the client has gone."""
        parts = []
        while True:
            header = self._read_exact(4)
            if header is None:
                return None
            (word,) = struct.unpack(">I", header)
            body = self._read_exact(word & ~LAST_FRAGMENT)
            if body is None:
                return None
            parts.append(body)
            if word & LAST_FRAGMENT:
                return b"".join(parts)

    def read_call(self) -> Optional[Call]:
        record = self.read_record()
        return None if record is None else decode_call(record)

    def send_record(self, record: bytes) -> None:
        self.conn.sendall(encode_record(record))

    def send_raw(self, data: bytes) -> None:
        self.conn.sendall(data)

    def reply(self, call: Call, results: bytes = b"", **kw: object) -> None:
        self.send_record(encode_reply(call.xid, results, **kw))  # type: ignore[arg-type]

    def wait_closed(self) -> None:
        """Hold the connection open, answering nothing, until the client or the test ends it."""
        self.conn.settimeout(STEP)
        while not self.stopped.is_set():
            try:
                if not self.conn.recv(4096):
                    return
            except socket.timeout:
                continue
            except OSError:
                return


Behaviour = Callable[[Peer], None]


class TcpServer:
    """Accepts on 127.0.0.1:<port>; runs `behaviour(peer)` per connection in its own thread."""

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(STEP)
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._lock = threading.Lock()
        self._conns: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._behaviour(Peer(conn, self._stop))
        except OSError:
            pass  # the client went away: that is the client's business
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(IO_LIMIT)
        self._listener.close()
        with self._lock:
            threads, conns = list(self._threads), list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(IO_LIMIT)

    def __enter__(self) -> TcpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DatagramBehaviour = Callable[[socket.socket, bytes, Tuple[str, int], int], None]


class UdpServer:
    """Bound to 127.0.0.1:<port>; runs `behaviour(sock, datagram, client, n)` for the n-th datagram (from 1)."""

    def __init__(self, behaviour: DatagramBehaviour) -> None:
        self._behaviour = behaviour
        self._stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(STEP)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, client = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received += 1
            self._behaviour(self.sock, data, client, self.received)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(IO_LIMIT)
        self.sock.close()

    def __enter__(self) -> UdpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def closed_port() -> int:
    """A loopback TCP port with nothing listening (bound and released: connect gets refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_udp_port() -> int:
    """A loopback UDP port nobody listens on (an ICMP port unreachable answers a datagram)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))

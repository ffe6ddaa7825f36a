"""fswatch.rpc.transport against in-process servers that stall, trickle, lie and hang up.

Elapsed times are the point: a call ends at its deadline (within 0.1 s) whatever the peer
does, and at once when the peer closes.
"""

from __future__ import annotations

import errno
import socket
import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import RpcConnectionError, RpcDecodeError, RpcTimeout
from fswatch.rpc.message import decode_call, encode_reply
from fswatch.rpc.transport import (
    LAST_FRAGMENT,
    SOURCE_RESERVED,
    SOURCE_UNPRIVILEGED,
    TcpTransport,
    UdpTransport,
    may_bind_reserved,
)
from tests.socket.fakes import Peer, TcpServer, UdpServer, closed_port, closed_udp_port, open_fds
from tests.timing import PROBE_SLACK

SLACK = PROBE_SLACK  # past its deadline: derived from the bound's 0.5 s (tests/timing.py)
AT_ONCE = 1.0  # seconds: "did not wait for the deadline" (LONG is 5x more); no tighter claim is made
LONG = 5.0


def call(port: int, seconds: float, protocol: str = "tcp") -> bytes:
    deadline = Deadline.after(seconds)
    cls = TcpTransport if protocol == "tcp" else UdpTransport
    with RpcClient(cls.connect("127.0.0.1", port, deadline)) as client:
        return client.call(100003, 3, 0, b"", deadline).rest()


def timed(fn, *args):
    t0 = time.monotonic()
    try:
        return fn(*args), None, time.monotonic() - t0
    except Exception as exc:  # the test inspects what was raised
        return None, exc, time.monotonic() - t0


def answer_after(prefix: bytes):
    """A behaviour: read the call, send `prefix` raw, then a correct reply."""

    def behaviour(peer: Peer) -> None:
        call_ = peer.read_call()
        peer.send_raw(prefix)
        peer.reply(call_, b"OK!!")
        peer.wait_closed()

    return behaviour


# -- TCP ----------------------------------------------------------------------------------


def test_healthy_call_returns_results():
    with TcpServer(answer_after(b"")) as server:
        result, exc, elapsed = timed(call, server.port, LONG)
    assert exc is None and result == b"OK!!"
    assert elapsed < AT_ONCE


def test_reply_split_into_fragments_is_reassembled():
    def behaviour(peer: Peer) -> None:
        record = encode_reply(peer.read_call().xid, b"OK!!")
        head, tail = record[:5], record[5:]
        peer.send_raw(len(head).to_bytes(4, "big") + head)
        peer.send_raw((LAST_FRAGMENT | len(tail)).to_bytes(4, "big") + tail)
        peer.wait_closed()

    with TcpServer(behaviour) as server:
        assert call(server.port, LONG) == b"OK!!"


def test_fin_without_reply_fails_at_once():
    def behaviour(peer: Peer) -> None:
        peer.read_call()  # then close: FIN, no reply

    with TcpServer(behaviour) as server:
        _, exc, elapsed = timed(call, server.port, LONG)
    assert isinstance(exc, RpcConnectionError)
    assert exc.errno == errno.ECONNRESET and exc.status == "RPC_CANTRECV"
    assert elapsed < AT_ONCE


def test_truncated_record_then_fin_fails_at_once():
    def behaviour(peer: Peer) -> None:
        peer.read_call()
        peer.send_raw((LAST_FRAGMENT | 100).to_bytes(4, "big") + b"x" * 10)

    with TcpServer(behaviour) as server:
        _, exc, elapsed = timed(call, server.port, LONG)
    assert isinstance(exc, RpcConnectionError) and exc.errno == errno.ECONNRESET
    assert "middle of a reply" in str(exc)
    assert elapsed < AT_ONCE


@pytest.mark.parametrize("header", [0x7FFFFFFF, 0xFFFFFFFF], ids=["2GiB-fragment", "2GiB-last-fragment"])
def test_absurd_fragment_length_is_refused_at_once(header):
    def behaviour(peer: Peer) -> None:
        peer.read_call()
        peer.send_raw(header.to_bytes(4, "big") + b"\0" * 64)
        peer.wait_closed()  # the connection stays open: the client must not wait for 2 GiB

    with TcpServer(behaviour) as server:
        _, exc, elapsed = timed(call, server.port, LONG)
    assert isinstance(exc, RpcDecodeError) and exc.status == "RPC_CANTDECODERES"
    assert elapsed < AT_ONCE


def test_record_over_the_maximum_in_small_fragments_is_refused():
    def behaviour(peer: Peer) -> None:
        peer.read_call()
        chunk = (60000).to_bytes(4, "big") + b"\0" * 60000
        for _ in range(20):  # 1.2 MB in non-last fragments
            peer.send_raw(chunk)
        peer.wait_closed()

    with TcpServer(behaviour) as server:
        _, exc, elapsed = timed(call, server.port, LONG)
    assert isinstance(exc, RpcDecodeError)
    assert elapsed < 1.0


def test_server_that_never_answers_times_out_at_the_deadline():
    def behaviour(peer: Peer) -> None:
        peer.read_call()
        peer.wait_closed()

    with TcpServer(behaviour) as server:
        _, exc, elapsed = timed(call, server.port, 0.5)
    assert isinstance(exc, RpcTimeout) and exc.errno == errno.ETIMEDOUT
    assert 0.5 <= elapsed <= 0.5 + SLACK


def test_endless_trickle_ends_at_the_deadline():
    def behaviour(peer: Peer) -> None:
        peer.read_call()
        peer.send_raw((LAST_FRAGMENT | 1000).to_bytes(4, "big"))
        while not peer.stopped.wait(0.05):  # one byte every 50 ms, for as long as the test runs
            peer.send_raw(b"x")

    with TcpServer(behaviour) as server:
        _, exc, elapsed = timed(call, server.port, 1.0)
    assert isinstance(exc, RpcTimeout)
    assert 1.0 <= elapsed <= 1.0 + SLACK


def test_refused_connect_carries_errno():
    deadline = Deadline.after(LONG)
    t0 = time.monotonic()
    with pytest.raises(RpcConnectionError) as info:
        TcpTransport.connect("127.0.0.1", closed_port(), deadline)
    assert info.value.errno == errno.ECONNREFUSED
    assert info.value.sperror() == "RPC: Unable to receive; errno = Connection refused"
    assert time.monotonic() - t0 < AT_ONCE


def test_expired_deadline_times_out_before_connecting():
    deadline = Deadline.after(-1.0)
    with TcpServer(answer_after(b"")) as server, pytest.raises(RpcTimeout):
        TcpTransport.connect("127.0.0.1", server.port, deadline)
    assert server.accepted == 0


def test_source_port_is_reserved_when_the_process_may_bind_one():
    seen = []

    def behaviour(peer: Peer) -> None:
        seen.append(peer.conn.getpeername()[1])
        answer_after(b"")(peer)

    with TcpServer(behaviour) as server:
        deadline = Deadline.after(LONG)
        transport = TcpTransport.connect("127.0.0.1", server.port, deadline)
        with RpcClient(transport) as client:
            client.call(1, 1, 0, b"", deadline)
    if may_bind_reserved():
        assert transport.source_port == SOURCE_RESERVED and 665 <= seen[0] <= 1023
    else:
        assert transport.source_port == SOURCE_UNPRIVILEGED and seen[0] >= 1024


def test_a_closed_connections_reserved_port_is_used_again():
    """Closed with RST, a reserved port is free at once: the next connection takes it (no TIME_WAIT)."""
    with TcpServer(answer_after(b"")) as server:
        ports = []
        for _ in range(3):
            deadline = Deadline.after(LONG)
            with RpcClient(TcpTransport.connect("127.0.0.1", server.port, deadline)) as client:
                client.call(1, 1, 0, b"", deadline)
                ports.append(client.transport.reserved_port)
    if may_bind_reserved():  # the suite runs as root
        assert ports[0] is not None and ports == [ports[0]] * 3
    else:
        assert ports == [None] * 3


def test_no_fd_leaks_after_200_failing_calls():
    def hang_up(peer: Peer) -> None:
        peer.read_call()

    before = open_fds()
    with TcpServer(hang_up) as server:
        refused = closed_port()
        for i in range(200):
            port = server.port if i % 2 else refused
            with pytest.raises(RpcConnectionError):
                call(port, LONG)
        refused_udp = closed_udp_port()
        for _ in range(50):
            with pytest.raises(RpcConnectionError):
                call(refused_udp, LONG, "udp")
    assert open_fds() == before


# -- UDP ----------------------------------------------------------------------------------


def test_udp_retransmits_after_half_a_second():
    def drop_first(sock: socket.socket, data: bytes, client, n: int) -> None:
        if n >= 2:
            sock.sendto(encode_reply(decode_call(data).xid, b"OK!!"), client)

    with UdpServer(drop_first) as server:
        result, exc, elapsed = timed(call, server.port, LONG, "udp")
        received = server.received
    assert exc is None and result == b"OK!!"
    assert received == 2
    assert 0.5 <= elapsed < 0.5 + SLACK


def test_udp_retransmissions_double_and_stop_at_the_deadline():
    with UdpServer(lambda *args: None) as server:
        _, exc, elapsed = timed(call, server.port, 2.0, "udp")
        time.sleep(0.1)
        received = server.received
    assert isinstance(exc, RpcTimeout)
    assert 2.0 <= elapsed <= 2.0 + SLACK
    assert received == 3  # at 0, 0.5 and 1.5 s; the next (3.5 s) is past the deadline


def test_udp_stray_replies_are_ignored():
    def strays_first(sock: socket.socket, data: bytes, client, n: int) -> None:
        xid = decode_call(data).xid
        sock.sendto(encode_reply((xid - 1) & 0xFFFFFFFF, b"OLD!"), client)  # late reply to an older call
        sock.sendto(data, client)  # our own CALL echoed back
        sock.sendto(encode_reply(xid, b"OK!!"), client)

    with UdpServer(strays_first) as server:
        assert call(server.port, LONG, "udp") == b"OK!!"


def test_udp_refused_port_fails_at_once():
    _, exc, elapsed = timed(call, closed_udp_port(), LONG, "udp")
    assert isinstance(exc, RpcConnectionError) and exc.errno == errno.ECONNREFUSED
    assert elapsed < AT_ONCE


def test_a_begun_connect_is_completed_and_judged_at_the_first_send():
    """TcpTransport.start() returns at once; the first send waits for the handshake, and a
    refusal is raised there (again at every later use), with the connect's errno."""
    before = open_fds()
    transport = TcpTransport.start("127.0.0.1", closed_port(), Deadline.after(LONG))
    for _ in range(2):
        _, exc, elapsed = timed(transport.send, b"x", Deadline.after(LONG))
        assert isinstance(exc, RpcConnectionError) and exc.errno == errno.ECONNREFUSED and elapsed < AT_ONCE
    transport.close()
    assert open_fds() == before
    with TcpServer(answer_after(b"")) as server:
        deadline = Deadline.after(LONG)
        with RpcClient(TcpTransport.start("127.0.0.1", server.port, deadline)) as client:
            assert client.call(100003, 3, 0, b"", deadline).rest() == b"OK!!"

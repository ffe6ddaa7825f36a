"""fswatch.rpc.client over real sockets: only the REPLY with this call's XID is the answer."""

from __future__ import annotations

import time

import pytest

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import RpcDecodeError, RpcReplyError, RpcTimeout
from fswatch.rpc.message import encode_reply
from fswatch.rpc.transport import TcpTransport
from tests.socket.fakes import Peer, TcpServer
from tests.timing import PROBE_SLACK

LONG = 5.0
SLACK = PROBE_SLACK  # past its deadline: derived from the bound's 0.5 s (tests/timing.py)


def connect(server: TcpServer, deadline: Deadline) -> RpcClient:
    return RpcClient(TcpTransport.connect("127.0.0.1", server.port, deadline))


def call_once(behaviour, seconds: float = LONG) -> bytes:
    with TcpServer(behaviour) as server:
        deadline = Deadline.after(seconds)
        with connect(server, deadline) as client:
            return client.call(100005, 3, 1, b"", deadline).rest()


def test_wrong_xid_then_right_xid_takes_the_right_one():
    def behaviour(peer: Peer) -> None:
        call = peer.read_call()
        peer.send_record(encode_reply((call.xid + 7) & 0xFFFFFFFF, b"WRNG"))
        peer.reply(call, b"RGHT")
        peer.wait_closed()

    assert call_once(behaviour) == b"RGHT"


def test_only_wrong_xids_times_out_at_the_deadline():
    def behaviour(peer: Peer) -> None:
        call = peer.read_call()
        while not peer.stopped.wait(0.05):
            peer.send_record(encode_reply((call.xid ^ 0x5A5A) & 0xFFFFFFFF, b"WRNG"))

    t0 = time.monotonic()
    with pytest.raises(RpcTimeout):
        call_once(behaviour, 0.6)
    assert 0.6 <= time.monotonic() - t0 <= 0.6 + SLACK


def test_reply_for_another_programs_call_is_skipped():
    """A reply carries no program number: a (late, duplicate) reply to the portmapper call made
    earlier on this connection must not become the MNT call's answer."""

    def behaviour(peer: Peer) -> None:
        first = peer.read_call()
        peer.reply(first, accept_stat=2, mismatch=(2, 2))  # a PROG_MISMATCH for the first program
        second = peer.read_call()
        peer.reply(first, b"LATE")  # a duplicate, late reply to the first call
        peer.reply(second, b"MNT!")
        peer.wait_closed()

    with TcpServer(behaviour) as server:
        deadline = Deadline.after(LONG)
        with connect(server, deadline) as client:
            with pytest.raises(RpcReplyError) as info:
                client.call(100000, 2, 3, b"", deadline)
            assert info.value.status == "PROG_MISMATCH" and (info.value.low, info.value.high) == (2, 2)
            assert client.call(100005, 3, 1, b"", deadline).rest() == b"MNT!"


def test_call_echoed_back_is_not_the_answer():
    def behaviour(peer: Peer) -> None:
        record = peer.read_record()
        peer.send_record(record)  # same XID, but a CALL
        peer.send_record(encode_reply(int.from_bytes(record[:4], "big"), b"RGHT"))
        peer.wait_closed()

    assert call_once(behaviour) == b"RGHT"


def test_only_echoed_calls_time_out():
    def behaviour(peer: Peer) -> None:
        record = peer.read_record()
        while not peer.stopped.wait(0.05):
            peer.send_record(record)

    t0 = time.monotonic()
    with pytest.raises(RpcTimeout):
        call_once(behaviour, 0.4)
    assert time.monotonic() - t0 <= 0.4 + SLACK


def test_short_record_is_garbage():
    def behaviour(peer: Peer) -> None:
        peer.read_call()
        peer.send_record(b"\0\0\0")
        peer.wait_closed()

    with pytest.raises(RpcDecodeError):
        call_once(behaviour)


def test_denied_call_raises_with_the_auth_stat_name():
    def behaviour(peer: Peer) -> None:
        peer.reply(peer.read_call(), denied=(1, 5))  # AUTH_ERROR, AUTH_TOOWEAK
        peer.wait_closed()

    with pytest.raises(RpcReplyError) as info:
        call_once(behaviour)
    assert info.value.status == "AUTH_TOOWEAK"
    assert info.value.sperror() == "RPC: Authentication error; why = Client credential too weak (AUTH_TOOWEAK)"


def test_calls_on_one_connection_get_fresh_xids():
    xids = []

    def behaviour(peer: Peer) -> None:
        for _ in range(3):
            call = peer.read_call()
            xids.append(call.xid)
            peer.reply(call)
        peer.wait_closed()

    with TcpServer(behaviour) as server:
        deadline = Deadline.after(LONG)
        with connect(server, deadline) as client:
            for _ in range(3):
                client.call(100003, 3, 0, b"", deadline)
    assert len(set(xids)) == 3
    assert [(x - xids[0]) & 0xFFFFFFFF for x in xids] == [0, 1, 2]

"""fswatch.rpc.client's XID matching, over a scripted in-memory transport (no sockets)."""

from __future__ import annotations

import itertools
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fswatch.core.deadline import Deadline
from fswatch.rpc import client as rpc_client
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import RpcConnectionError, RpcDecodeError, RpcError, RpcReplyError, RpcTimeout
from fswatch.rpc.message import auth_sys, decode_call, encode_call, encode_reply
from tests.unit.garbage import PROPERTY, garbage_from
from tests.unit.scripted import Script, ScriptedTransport


def call(script: Script) -> bytes:
    client = RpcClient(ScriptedTransport(script), auth_sys(stamp=1, name=b"n"))
    return client.call(100003, 3, 1, b"ARGS", Deadline.after(5)).rest()


def test_the_call_carries_program_version_procedure_credential_and_args():
    transport = ScriptedTransport(lambda xid: [encode_reply(xid)])
    cred = auth_sys(stamp=1, name=b"n")
    RpcClient(transport, cred).call(100005, 3, 1, b"ARGS", Deadline.after(5))
    sent = decode_call(transport.sent[0])
    assert (sent.program, sent.version, sent.procedure, sent.cred, sent.args) == (100005, 3, 1, cred, b"ARGS")


def test_reply_with_its_xid_is_the_answer():
    assert call(lambda xid: [encode_reply(xid, b"RGHT")]) == b"RGHT"


def test_other_xids_and_echoed_calls_are_skipped():
    def script(xid: int) -> List[bytes]:
        return [
            encode_reply(xid - 1, b"OLD!"),
            encode_call(xid, 100003, 3, 1, b"ARGS"),  # the call itself, echoed
            encode_reply(xid + 1, b"NEW!"),
            encode_reply(xid, b"RGHT"),
        ]

    assert call(script) == b"RGHT"


def test_nothing_but_strays_times_out():
    with pytest.raises(RpcTimeout):
        call(lambda xid: [encode_reply(xid + 1)] * 5)


def test_short_record_is_garbage():
    with pytest.raises(RpcDecodeError):
        call(lambda xid: [b"\0" * 7])


def test_error_reply_raises_with_its_status():
    with pytest.raises(RpcReplyError) as info:
        call(lambda xid: [encode_reply(xid, accept_stat=1)])
    assert info.value.status == "PROG_UNAVAIL"


def test_xids_are_fresh_per_call_and_wrap(monkeypatch):
    """One sequence for the process (fswatch.rpc.client._xids), over every client."""
    monkeypatch.setattr(rpc_client, "_xids", itertools.count(0x1FFFFFFFF))
    transport = ScriptedTransport(lambda xid: [encode_reply(xid)])
    client, other = RpcClient(transport), RpcClient(transport)
    for each in (client, other, client):
        each.call(1, 1, 0, b"", Deadline.after(5))
    assert [decode_call(r).xid for r in transport.sent] == [0xFFFFFFFF, 0, 1]


def test_close_closes_the_transport():
    transport = ScriptedTransport(lambda xid: [])
    with RpcClient(transport):
        pass
    assert transport.closed


XID = 0x01020304
VALID = (
    encode_reply(XID, b"RGHT"),
    encode_reply(XID, accept_stat=2, mismatch=(3, 4)),
    encode_reply(XID, denied=(1, 5)),
    encode_reply(XID + 1, b"WRNG"),
)


@given(records=st.lists(garbage_from(*VALID), max_size=4))
@PROPERTY
def test_any_records_give_an_answer_or_an_rpc_error(records):
    client = RpcClient(ScriptedTransport(lambda xid: records))
    client._xid = XID - 1
    try:
        client.call(100003, 3, 1, b"", Deadline.after(5))
    except RpcError:
        pass


class Wire:
    """A TCP-like transport: what was written in which write, and replies the test queues."""

    protocol = "tcp"
    source_port = "unprivileged"

    def __init__(self, fail_writes: int = 0) -> None:
        self.writes: List[List[bytes]] = []
        self.replies: List[bytes] = []
        self.fail_writes = fail_writes

    def send(self, record: bytes, deadline: Deadline) -> None:
        self.send_records([record], deadline)

    def send_records(self, records, deadline: Deadline) -> None:
        if len(self.writes) < self.fail_writes:
            self.writes.append([])
            raise RpcConnectionError(32, status="RPC_CANTSEND")
        self.writes.append(list(records))

    def recv(self, deadline: Deadline) -> bytes:
        if not self.replies:
            raise RpcTimeout()
        return self.replies.pop(0)

    def close(self) -> None:
        pass


def test_calls_in_flight_leave_in_one_write_and_replies_find_their_calls_in_any_order():
    wire = Wire()
    client = RpcClient(wire)
    deadline = Deadline.after(5)
    calls = [client.start(100003, 3, proc, b"", deadline, lambda dec: dec.rest()) for proc in (0, 1, 18)]
    assert wire.writes == []  # queued until a flush or a result
    client.flush(deadline)
    assert len(wire.writes) == 1 and [decode_call(r).procedure for r in wire.writes[0]] == [0, 1, 18]
    xids = [decode_call(r).xid for r in wire.writes[0]]
    wire.replies = [encode_reply(xids[2], b"FSST"), encode_reply(xids[0] - 5, b"OLD!"), encode_reply(xids[1], b"ATTR"),
                    encode_reply(xids[0], b"NULL")]
    assert [c.result(deadline) for c in calls] == [b"NULL", b"ATTR", b"FSST"]
    assert wire.replies == [] and client._replies == {} and client._in_flight == {}


def test_a_call_that_could_not_be_sent_fails_at_its_own_result():
    wire = Wire(fail_writes=1)
    client = RpcClient(wire)
    deadline = Deadline.after(5)
    first = client.start(100003, 3, 0, b"", deadline)
    client.flush(deadline)  # never raises: the failure belongs to the call
    second = client.start(100003, 3, 1, b"", deadline)
    client.flush(deadline)
    wire.replies = [encode_reply(decode_call(wire.writes[1][0]).xid, b"ATTR")]
    with pytest.raises(RpcConnectionError):
        first.result(deadline)
    assert second.result(deadline).rest() == b"ATTR"

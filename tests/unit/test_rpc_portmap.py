"""fswatch.rpc.portmap: GETPORT arguments and result."""

from __future__ import annotations

import pytest
from hypothesis import given

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import ProgramNotRegistered, RpcDecodeError
from fswatch.rpc.message import decode_call, encode_reply
from fswatch.rpc.portmap import decode_getport_result, encode_getport_args, getport
from fswatch.rpc.xdr import Decoder
from tests.unit.garbage import PROPERTY, garbage_from
from tests.unit.scripted import ScriptedTransport


def test_getport_args():
    assert encode_getport_args(100003, 3, "udp").hex() == "000186a3" "00000003" "00000011" "00000000"


def test_getport_result():
    assert decode_getport_result(Decoder(bytes.fromhex("00000801"))) == 2049
    with pytest.raises(RpcDecodeError):
        decode_getport_result(Decoder(bytes.fromhex("00010000")))  # 65536 is no port


def test_getport_sends_getport_and_refuses_port_zero():
    transport = ScriptedTransport(lambda xid: [encode_reply(xid, bytes(4))])
    with pytest.raises(ProgramNotRegistered) as info:
        getport(RpcClient(transport), 100005, 3, "tcp", Deadline.after(5))
    assert info.value.status == "RPC_PROGNOTREGISTERED"
    assert info.value.sperror() == "RPC: Program not registered"
    sent = decode_call(transport.sent[0])
    assert (sent.program, sent.version, sent.procedure) == (100000, 2, 3)


@given(results=garbage_from(bytes.fromhex("00000801")))
@PROPERTY
def test_any_bytes_give_a_port_or_rpc_decode_error(results):
    try:
        assert 0 <= decode_getport_result(Decoder(results)) <= 0xFFFF
    except RpcDecodeError:
        pass

"""fswatch.rpc.message: CALL bytes checked by hand, every REPLY status decoded to its name."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given

from fswatch.rpc.errors import RpcDecodeError, RpcReplyError
from fswatch.rpc.message import (
    AUTH_NONE,
    AUTH_NULL,
    AUTH_SYS,
    OpaqueAuth,
    auth_sys,
    decode_call,
    decode_reply,
    encode_call,
    encode_reply,
    machine_name,
    reply_xid,
)
from fswatch.rpc.portmap import encode_getport_args
from fswatch.rpc.xdr import Decoder
from tests.unit.garbage import PROPERTY, garbage_from

WHY = "RPC: Authentication error; why = "

# GETPORT(MOUNT v3, TCP) to the portmapper, XID 0x01020304, AUTH_NONE, worked out from
# RFC 5531 section 9 and RFC 1833 section 3.
GETPORT_CALL = (
    "01020304"  # xid
    "00000000"  # msg_type CALL
    "00000002"  # rpcvers 2
    "000186a0"  # prog 100000
    "00000002"  # vers 2
    "00000003"  # proc GETPORT
    "00000000 00000000"  # cred AUTH_NONE, empty body
    "00000000 00000000"  # verf AUTH_NONE, empty body
    "000186a5 00000003 00000006 00000000"  # mapping: MOUNT 100005, v3, IPPROTO_TCP, port 0
)


def test_getport_call_bytes():
    record = encode_call(0x01020304, 100000, 2, 3, encode_getport_args(100005, 3, "tcp"))
    assert record == bytes.fromhex(GETPORT_CALL.replace(" ", ""))


def test_auth_sys_credential_bytes():
    cred = auth_sys(stamp=0x11223344, name=b"host")
    assert cred.flavor == AUTH_SYS
    # stamp, machinename<255> "host", uid 0, gid 0, gids<16> empty
    assert cred.body.hex() == "11223344" "00000004" "686f7374" "00000000" "00000000" "00000000"
    assert cred.encode().hex() == "00000001" "00000018" + cred.body.hex()


def test_machine_name_is_at_most_255_bytes(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "h" * 300)
    machine_name.cache_clear()  # read once per process: read it again under the patch
    assert machine_name() == b"h" * 255
    machine_name.cache_clear()
    assert Decoder(auth_sys(stamp=1).body).uint32() == 1


def test_call_round_trip():
    cred = auth_sys(stamp=7, name=b"node1", uid=0, gid=0, gids=[0, 10])
    record = encode_call(0xFFFFFFFF, 100003, 3, 1, b"ARGS", cred)
    call = decode_call(record)
    assert (call.xid, call.program, call.version, call.procedure) == (0xFFFFFFFF, 100003, 3, 1)
    assert call.cred == cred and call.verf == AUTH_NULL and call.args == b"ARGS"


def test_reply_xid_tells_replies_from_calls():
    assert reply_xid(encode_reply(42)) == 42
    assert reply_xid(encode_call(42, 1, 1, 0)) is None
    assert reply_xid(b"\0\0\0") is None


def test_success_reply_positions_the_results():
    reply = decode_reply(encode_reply(9, bytes.fromhex("00000801")))
    assert (reply.xid, reply.accepted, reply.status, reply.ok) == (9, True, "SUCCESS", True)
    assert reply.check().uint32() == 0x801


@pytest.mark.parametrize(
    "kw, status, low_high, text",
    [
        ({"accept_stat": 1}, "PROG_UNAVAIL", (None, None), "RPC: Program unavailable (PROG_UNAVAIL)"),
        (
            {"accept_stat": 2, "mismatch": (3, 4)},
            "PROG_MISMATCH",
            (3, 4),
            "RPC: Program/version mismatch; low version = 3, high version = 4 (PROG_MISMATCH)",
        ),
        ({"accept_stat": 3}, "PROC_UNAVAIL", (None, None), "RPC: Procedure unavailable (PROC_UNAVAIL)"),
        ({"accept_stat": 4}, "GARBAGE_ARGS", (None, None), "RPC: Server can't decode arguments (GARBAGE_ARGS)"),
        ({"accept_stat": 5}, "SYSTEM_ERR", (None, None), "RPC: Remote system error (SYSTEM_ERR)"),
        ({"accept_stat": 9}, "accept_stat(9)", (None, None), "RPC: accept_stat(9) (accept_stat(9))"),
        (
            {"denied": (0, 2, 2)},
            "RPC_MISMATCH",
            (2, 2),
            "RPC: Incompatible versions of RPC; low version = 2, high version = 2 (RPC_MISMATCH)",
        ),
        ({"denied": (1, 1)}, "AUTH_BADCRED", (None, None), WHY + "Invalid client credential (AUTH_BADCRED)"),
        ({"denied": (1, 2)}, "AUTH_REJECTEDCRED", (None, None), WHY + "Server rejected credential (AUTH_REJECTEDCRED)"),
        ({"denied": (1, 3)}, "AUTH_BADVERF", (None, None), WHY + "Invalid client verifier (AUTH_BADVERF)"),
        ({"denied": (1, 4)}, "AUTH_REJECTEDVERF", (None, None), WHY + "Server rejected verifier (AUTH_REJECTEDVERF)"),
        ({"denied": (1, 5)}, "AUTH_TOOWEAK", (None, None), WHY + "Client credential too weak (AUTH_TOOWEAK)"),
        (
            {"denied": (1, 13)},
            "RPCSEC_GSS_CREDPROBLEM",
            (None, None),
            WHY + "GSS credential problem (RPCSEC_GSS_CREDPROBLEM)",
        ),
        ({"denied": (1, 99)}, "auth_stat(99)", (None, None), WHY + "auth_stat(99) (auth_stat(99))"),
    ],
)
def test_every_error_status_decodes_to_a_name(kw, status, low_high, text):
    reply = decode_reply(encode_reply(5, **kw))
    assert reply.status == status and not reply.ok
    assert (reply.low, reply.high) == low_high
    with pytest.raises(RpcReplyError) as info:
        reply.check()
    assert info.value.status == status
    assert info.value.sperror() == text


@pytest.mark.parametrize(
    "record, message",
    [
        (encode_call(1, 1, 1, 1), "not REPLY"),
        (bytes.fromhex("00000001 00000001 00000002".replace(" ", "")), "reply_stat"),
        (bytes.fromhex("00000001 00000001 00000001 00000007".replace(" ", "")), "reject_stat"),
        (bytes.fromhex("00000001 00000001 00000000 00000000 00000191".replace(" ", "")), "maximum"),  # verf > 400
        (encode_reply(1, accept_stat=2), "truncated"),  # PROG_MISMATCH without low/high
    ],
)
def test_undecodable_replies(record, message):
    with pytest.raises(RpcDecodeError, match=message):
        decode_reply(record)


def test_opaque_auth_body_limit():
    with pytest.raises(ValueError):
        OpaqueAuth(AUTH_NONE, b"x" * 401).encode()


VALID_REPLIES = (
    encode_reply(1, b"\0\0\0\1"),
    encode_reply(2, accept_stat=2, mismatch=(3, 4)),
    encode_reply(3, denied=(0, 2, 2)),
    encode_reply(4, denied=(1, 5)),
)


@given(record=garbage_from(*VALID_REPLIES))
@PROPERTY
def test_any_bytes_decode_to_a_reply_or_raise_rpc_decode_error(record):
    try:
        reply = decode_reply(record)
    except RpcDecodeError:
        return
    assert isinstance(reply.status, str) and reply.status
    try:
        reply.check()
    except RpcReplyError as exc:
        assert exc.status == reply.status


@given(record=garbage_from(encode_call(1, 100003, 3, 1, b"ARGS", auth_sys(stamp=1, name=b"n"))))
@PROPERTY
def test_any_bytes_decode_to_a_call_or_raise_rpc_decode_error(record):
    try:
        decode_call(record)
    except RpcDecodeError:
        pass


# -- edges found by mutation testing ------------------------------------------------------


def test_machine_name_survives_a_host_name_that_is_not_utf8(monkeypatch):
    import socket as _socket

    monkeypatch.setattr(_socket, "gethostname", lambda: "node\udcff")  # surrogate-escaped byte
    machine_name.cache_clear()
    assert machine_name() == b"node?"
    machine_name.cache_clear()


def test_auth_sys_stamps_the_time_and_enforces_rfc_limits():
    import time as _time

    before = int(_time.time())
    cred = auth_sys()
    dec = Decoder(cred.body)
    assert before <= dec.uint32() <= int(_time.time())
    with pytest.raises(ValueError):
        auth_sys(name=b"x" * 256)  # RFC 5531: machinename<255>
    with pytest.raises(ValueError):
        auth_sys(gids=range(17))
    assert Decoder(auth_sys(name=b"x" * 255, gids=range(16), stamp=5).body).uint32() == 5


def test_decode_call_names_what_is_wrong():
    reply = encode_reply(9)
    with pytest.raises(RpcDecodeError) as info:
        decode_call(reply)
    assert str(info.value) == "not a CALL message"
    call = bytearray(encode_call(9, 100000, 2, 0))
    call[8:12] = (3).to_bytes(4, "big")  # rpcvers 3
    with pytest.raises(RpcDecodeError) as info:
        decode_call(bytes(call))
    assert str(info.value) == "CALL with an RPC version other than 2"


def test_reply_xid_of_the_shortest_reply_header():
    assert reply_xid((7).to_bytes(4, "big") + (1).to_bytes(4, "big")) == 7
    assert reply_xid((7).to_bytes(4, "big") + (0).to_bytes(4, "big")) is None
    assert reply_xid(b"\x00" * 7) is None


def test_encode_reply_default_has_no_results():
    reply = decode_reply(encode_reply(5))
    assert reply.xid == 5 and reply.ok and reply.check().rest() == b""


@pytest.mark.parametrize(
    "kw,accepted",
    [({}, True), ({"accept_stat": 1}, True), ({"accept_stat": 2, "mismatch": (3, 3)}, True),
     ({"denied": (0, 2, 2)}, False), ({"denied": (1, 5)}, False)],
)
def test_every_reply_keeps_its_xid_and_whether_it_was_accepted(kw, accepted):
    reply = decode_reply(encode_reply(0x0A0B0C0D, **kw))
    assert reply.xid == 0x0A0B0C0D and reply.accepted is accepted


def test_a_call_without_args_ends_after_the_verifier():
    call = encode_call(3, 100000, 2, 0)
    assert len(call) == 6 * 4 + 2 * 8 and decode_call(call).args == b""


def test_the_usual_reply_decodes_the_quick_way_to_what_the_full_decoding_gives():
    """Nearly every reply is accepted, with an empty AUTH_NONE verifier, SUCCESS: decode_reply
    reads those 24 bytes in one unpack; anything else (a verifier with a body, another status)
    takes the full decoding, with the same results."""
    from fswatch.rpc.message import AUTH_NONE, OpaqueAuth

    quick = decode_reply(encode_reply(7, b"RSLT"))
    assert (quick.xid, quick.accepted, quick.status, quick.results.rest()) == (7, True, "SUCCESS", b"RSLT")
    verifier = OpaqueAuth(AUTH_NONE, b"\x01\x02\x03\x04").encode()
    slow = decode_reply(struct.pack(">3I", 7, 1, 0) + verifier + struct.pack(">I", 0) + b"RSLT")
    assert (slow.xid, slow.accepted, slow.status, slow.results.rest()) == (7, True, "SUCCESS", b"RSLT")
    assert decode_reply(encode_reply(7, accept_stat=1)).status == "PROG_UNAVAIL"


@pytest.mark.parametrize("accept_stat, tail, status", [(2, (3, 4), "PROG_MISMATCH"), (4, (), "GARBAGE_ARGS")])
def test_an_accepted_reply_that_failed_keeps_its_verifier(accept_stat, tail, status):
    """RPCSEC_GSS verifies an accepted reply's verifier (fswatch.rpc.rpcsec_gss): decode_reply
    keeps it whatever the accept_stat, not only for SUCCESS."""
    record = struct.pack(f">IIIII4sI{len(tail)}I", 7, 1, 0, 6, 4, b"\x01\x02\x03\x04", accept_stat, *tail)
    reply = decode_reply(record)
    assert (reply.xid, reply.accepted, reply.status) == (7, True, status)
    assert reply.verf == OpaqueAuth(6, b"\x01\x02\x03\x04")
    if tail:
        assert (reply.low, reply.high) == tail


def test_machine_name_is_read_once_per_process(monkeypatch):
    """Issue 21: not a gethostname() per probe; a renamed node says its new name at the next start."""
    import socket as _socket

    asked = []
    monkeypatch.setattr(_socket, "gethostname", lambda: asked.append(1) or "node")
    machine_name.cache_clear()
    assert machine_name() == machine_name() == b"node" and len(asked) == 1
    machine_name.cache_clear()

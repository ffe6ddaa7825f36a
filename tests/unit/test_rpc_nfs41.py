"""fswatch.rpc.nfs41: the session operations' arguments byte for byte, their results, and garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fswatch.rpc import nfs4, nfs41
from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.xdr import Decoder, Encoder
from tests.unit.garbage import PROPERTY, garbage_from

SESSION = bytes(range(16))
OWNER = b"fswatch/host/42/abcd"
NAME = ".fswatch-grace-00"


def compound_res(status: int, results, tag: bytes = b"fswatch") -> bytes:
    enc = Encoder()
    enc.uint32(status)
    enc.opaque(tag)
    enc.uint32(len(results))
    for op, op_status, extra in results:
        enc.uint32(op)
        enc.uint32(op_status)
        enc.raw(extra)
    return enc.bytes()


def exchange_id_resok(how: int = nfs41.SP4_NONE, impl: bool = True) -> bytes:
    enc = Encoder()
    enc.uint64(0x1122334455667788)  # clientid
    enc.uint32(7)  # sequenceid
    enc.uint32(0x00010000)  # EXCHGID4_FLAG_USE_NON_PNFS
    enc.uint32(how)
    if how in (nfs41.SP4_MACH_CRED, nfs41.SP4_SSV):
        enc.array([0b11], Encoder.uint32)
        enc.array([], Encoder.uint32)
    if how == nfs41.SP4_SSV:
        for value in (1, 2, 32, 4):
            enc.uint32(value)
        enc.array([b"handle"], lambda e, h: e.opaque(h))
    enc.uint64(0)  # so_minor_id
    enc.opaque(b"server-major")
    enc.opaque(b"scope")
    if impl:
        enc.uint32(1)
        enc.string("nfs-ganesha.org")
        enc.string("NFS-Ganesha 4.3")
        enc.int64(0)
        enc.uint32(0)
    else:
        enc.uint32(0)
    return enc.bytes()


def channel_attrs(enc: Encoder, ird: int = 0) -> None:
    for value in (0, 1 << 20, 1 << 20, 4096, 16, 1):
        enc.uint32(value)
    enc.array([5] * ird, Encoder.uint32)


def create_session_resok(sessionid: bytes = SESSION) -> bytes:
    enc = Encoder()
    enc.opaque_fixed(sessionid, 16)
    enc.uint32(1)
    enc.uint32(0)
    channel_attrs(enc)
    channel_attrs(enc, ird=1)
    return enc.bytes()


def sequence_resok(sessionid: bytes = SESSION) -> bytes:
    enc = Encoder()
    enc.opaque_fixed(sessionid, 16)
    for value in (1, 0, 0, 0, 0):
        enc.uint32(value)
    return enc.bytes()


def getattr_resok(lease: int = 60) -> bytes:
    vals = Encoder()
    vals.uint32(2)  # NF4DIR
    vals.uint32(lease)  # lease_time (10) comes before the counts (21-23, 42-44)
    for value in (1, 2, 3, 4, 5, 6):
        vals.uint64(value)
    enc = Encoder()
    enc.array(nfs4.bitmap4(nfs41.SESSION_PROBE_ATTRS), Encoder.uint32)
    enc.opaque(vals.bytes())
    return enc.bytes()


OPS = [op for op, _ in nfs41.session_operations(SESSION, 1, ["srv", "export"], 9, OWNER, NAME)]


def session_res(open_status: int = 2, sessionid: bytes = SESSION) -> bytes:
    results = [(nfs41.OP_SEQUENCE, 0, sequence_resok(sessionid)), (nfs41.OP_RECLAIM_COMPLETE, 0, b""),
               (nfs4.OP_PUTROOTFH, 0, b""), (nfs4.OP_LOOKUP, 0, b""), (nfs4.OP_LOOKUP, 0, b""),
               (nfs4.OP_GETATTR, 0, getattr_resok()), (nfs41.OP_OPEN, open_status, b"")]  # fmt: skip
    return compound_res(open_status, results)


# -- arguments -----------------------------------------------------------------------------------


def test_exchange_id_arguments():
    assert nfs41.encode_exchange_id(b"own", b"12345678").hex() == (
        "3132333435363738"  # co_verifier
        "00000003" "6f776e00"  # co_ownerid "own"
        "00000000"  # eia_flags
        "00000000"  # SP4_NONE
        "00000000"  # no implementation id
    )  # fmt: skip


def test_exchange_id_verifier_must_be_8_bytes():
    with pytest.raises(ValueError):
        nfs41.encode_exchange_id(b"own", b"short")


def test_create_session_arguments():
    args = nfs41.encode_create_session(nfs41.ClientId(0x0102030405060708, 7, 0))
    dec = Decoder(args)
    assert (dec.uint64(), dec.uint32(), dec.uint32()) == (0x0102030405060708, 7, 0)
    fore = [dec.uint32() for _ in range(6)]
    assert fore == list(nfs41.FORE_CHANNEL) and dec.array(Decoder.uint32) == []
    back = [dec.uint32() for _ in range(6)]
    assert back == list(nfs41.BACK_CHANNEL) and dec.array(Decoder.uint32) == []
    # ganesha answers NFS4ERR_TOOSMALL below 256 bytes or 2 operations (sal_data.h NFS41_MIN_*)
    for attrs in (fore, back):
        assert attrs[1] >= 256 and attrs[2] >= 256 and attrs[4] >= 2 and attrs[5] >= 1
    assert dec.uint32() == nfs41.CB_PROGRAM
    assert dec.array(Decoder.uint32) == [0]  # callback security: AUTH_NONE
    assert dec.remaining() == 0


def test_sequence_arguments():
    assert nfs41.encode_sequence(SESSION, 1).hex() == SESSION.hex() + "00000001" "00000000" "00000000" "00000000"


def test_open_nocreate_arguments():
    assert nfs41.encode_open_nocreate(0xAB, b"own", "x").hex() == (
        "00000000"  # seqid
        "00000401"  # OPEN4_SHARE_ACCESS_READ | OPEN4_SHARE_ACCESS_WANT_NO_DELEG
        "00000000"  # OPEN4_SHARE_DENY_NONE
        "00000000000000ab" "00000003" "6f776e00"  # open_owner4
        "00000000"  # OPEN4_NOCREATE
        "00000000" "00000001" "78000000"  # CLAIM_NULL "x"
    )  # fmt: skip


def test_session_compound_operations_and_minor_version():
    ops = nfs41.session_operations(SESSION, 1, ["a"], 9, OWNER, NAME)
    assert [op for op, _ in ops] == [53, 58, 24, 15, 9, 18]
    assert ops[1][1] == bytes(4)  # RECLAIM_COMPLETE rca_one_fs = false
    getattr_args = Decoder(ops[4][1]).array(Decoder.uint32)
    assert getattr_args == nfs4.bitmap4(nfs4.PROBE_ATTRS + (nfs4.FATTR4_LEASE_TIME,))
    dec = Decoder(nfs4.encode_compound(2, ops))
    assert (dec.opaque(), dec.uint32(), dec.uint32()) == (b"fswatch", 2, 6)


def test_single_operations_compounds():
    dec = Decoder(nfs4.encode_compound(1, [(nfs41.OP_DESTROY_CLIENTID, nfs41._clientid(5))]))
    assert (dec.opaque(), dec.uint32(), dec.uint32(), dec.uint32(), dec.uint64()) == (b"fswatch", 1, 1, 57, 5)
    assert nfs41._sessionid(SESSION) == SESSION


def test_grace_names_are_fresh_and_short():
    names = {nfs41.grace_name() for _ in range(100)}
    assert len(names) == 100 and all(len(n) < 255 and "/" not in n for n in names)


def test_client_owner_is_one_per_process_and_verifiers_differ():
    assert nfs41.client_owner() is nfs41.client_owner()
    assert len(nfs41.client_owner().ownerid) <= nfs41.NFS4_OPAQUE_LIMIT
    assert nfs41.ClientOwner.verifier() != nfs41.ClientOwner.verifier()


# -- results -------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", [nfs41.SP4_NONE, nfs41.SP4_MACH_CRED, nfs41.SP4_SSV])
def test_exchange_id_result(how):
    client = nfs41.decode_exchange_id(Decoder(exchange_id_resok(how)))
    assert client == nfs41.ClientId(0x1122334455667788, 7, 0x00010000)


def test_exchange_id_result_with_unknown_protection_is_garbage():
    with pytest.raises(RpcDecodeError, match="state_protect_how4"):
        nfs41.decode_exchange_id(Decoder(exchange_id_resok(how=3)))


def test_create_session_result_gives_the_session_id():
    assert nfs41.decode_create_session(Decoder(create_session_resok())) == SESSION


def test_session_lookup_outside_a_grace_period():
    seen = nfs41.decode_session_lookup(Decoder(session_res(open_status=2)), OPS, SESSION)
    assert seen.open_status == "NFS4ERR_NOENT"
    assert seen.attributes == nfs4.PathAttributes("NF4DIR", 1, 2, 3, 4, 5, 6, lease_time=60)


def test_session_lookup_in_a_grace_period():
    seen = nfs41.decode_session_lookup(Decoder(session_res(open_status=10013)), OPS, SESSION)
    assert seen.open_status == "NFS4ERR_GRACE"


def test_session_lookup_for_another_session_is_garbage():
    with pytest.raises(RpcDecodeError, match="another session"):
        nfs41.decode_session_lookup(Decoder(session_res(sessionid=b"\xff" * 16)), OPS, SESSION)


@pytest.mark.parametrize(
    "results, status, operation",
    [
        ([(nfs41.OP_SEQUENCE, 10052, b"")], "NFS4ERR_BADSESSION", "SEQUENCE"),
        ([(nfs41.OP_SEQUENCE, 0, sequence_resok()), (nfs41.OP_RECLAIM_COMPLETE, 10054, b"")],
         "NFS4ERR_COMPLETE_ALREADY", "RECLAIM_COMPLETE"),
        ([(nfs41.OP_SEQUENCE, 0, sequence_resok()), (nfs41.OP_RECLAIM_COMPLETE, 0, b""),
          (nfs4.OP_PUTROOTFH, 0, b""), (nfs4.OP_LOOKUP, 2, b"")], "NFS4ERR_NOENT", "LOOKUP"),
    ],
    ids=["badsession", "complete-already", "lookup-noent"],
)  # fmt: skip
def test_session_lookup_failures_name_the_operation(results, status, operation):
    with pytest.raises(NfsError) as info:
        nfs41.decode_session_lookup(Decoder(compound_res(results[-1][1], results)), OPS, SESSION)
    assert (info.value.status, info.value.operation) == (status, operation)


def test_single_operation_failure_and_minor_version_mismatch():
    res = compound_res(10074, [(nfs41.OP_DESTROY_CLIENTID, 10074, b"")])
    with pytest.raises(NfsError) as info:
        nfs4.decode_compound(Decoder(res), (nfs41.OP_DESTROY_CLIENTID,), {}).check()
    assert (info.value.status, info.value.operation) == ("NFS4ERR_CLIENTID_BUSY", "DESTROY_CLIENTID")
    with pytest.raises(NfsError) as info:
        nfs4.decode_compound(Decoder(compound_res(10021, [])), (nfs41.OP_EXCHANGE_ID,), {})
    assert (info.value.status, info.value.operation) == ("NFS4ERR_MINOR_VERS_MISMATCH", "COMPOUND")


# -- garbage never escapes as anything but RpcDecodeError or NfsError ------------------------------


@given(data=garbage_from(exchange_id_resok(), exchange_id_resok(nfs41.SP4_SSV), exchange_id_resok(impl=False)))
@PROPERTY
def test_exchange_id_any_bytes(data):
    try:
        nfs41.decode_exchange_id(Decoder(data))
    except RpcDecodeError:
        pass


@given(data=garbage_from(create_session_resok()))
@PROPERTY
def test_create_session_any_bytes(data):
    try:
        nfs41.decode_create_session(Decoder(data))
    except RpcDecodeError:
        pass


@given(data=garbage_from(session_res(2), session_res(10013), session_res(0)))
@PROPERTY
def test_session_lookup_any_bytes(data):
    try:
        nfs41.decode_session_lookup(Decoder(data), OPS, SESSION)
    except (RpcDecodeError, NfsError):
        pass


@given(
    op=st.sampled_from([nfs41.OP_EXCHANGE_ID, nfs41.OP_CREATE_SESSION, nfs41.OP_DESTROY_SESSION]),
    data=garbage_from(
        compound_res(0, [(nfs41.OP_EXCHANGE_ID, 0, exchange_id_resok())]),
        compound_res(0, [(nfs41.OP_CREATE_SESSION, 0, create_session_resok())]),
        compound_res(0, [(nfs41.OP_DESTROY_SESSION, 0, b"")]),
    ),
)
@PROPERTY
def test_single_operation_compounds_any_bytes(op, data):
    readers = {nfs41.OP_EXCHANGE_ID: nfs41.decode_exchange_id, nfs41.OP_CREATE_SESSION: nfs41.decode_create_session}
    try:
        nfs4.decode_compound(Decoder(data), (op,), readers).check()
    except (RpcDecodeError, NfsError):
        pass

"""The data-path check's pieces without I/O: the canary setting, the XDR of NFSv3 LOOKUP/READ,
NFSv4 READ (v4.0 COMPOUND and in a v4.1 session), byte for byte; the decoders on valid answers,
on every failure status, and on garbage (never anything but a fswatch error)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given

from fswatch.core.errors import ProbeFailure, UsageError
from fswatch.core.settings import Schedule, check_canary, parse_conf
from fswatch.kinds import NFS, SAMBA, WatchSettings
from fswatch.probes.samba import SambaTarget
from fswatch.rpc import nfs3, nfs4, nfs41
from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.xdr import Decoder, Encoder
from fswatch.watch.reporter import failure_fields
from tests.unit.garbage import PROPERTY, garbage_from
from tests.unit.test_rpc_nfs3 import FATTR3
from tests.unit.test_rpc_nfs41 import compound_res

SESSION = bytes(range(16))

# -- the setting -------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["alive.txt", "dir/sub/alive", "データ/カナリア.txt", "a" * 255, "x/" * 300 + "y"])
def test_good_canaries(good):
    if len(good.encode()) <= 1024:
        assert check_canary(good) == good


@pytest.mark.parametrize(
    "bad",
    ["", "/abs/file", "../up", "a/../b", "a/./b", "./a", "a//b", "a/", "a\\b", "a\x00b", "a\nb", "a\x7fb",
     " lead", "trail ", "a" * 256, "x/" * 600 + "y"],
)  # fmt: skip
def test_bad_canaries_are_refused(bad):
    with pytest.raises(UsageError) as info:
        check_canary(bad)
    assert info.value.alert == 11


def test_the_kinds_refuse_a_canary_outside_the_share_or_export():
    # The kind is the one validation of a target (the probe targets trust their values).
    with pytest.raises(UsageError):
        NFS.check_target({"export": "/x", "canary": "../etc/shadow"})
    with pytest.raises(UsageError):
        SAMBA.check_target({"share": "s", "canary": "/etc/shadow"})


@pytest.mark.parametrize("kind, base", [(SAMBA, {"share": "s"}), (NFS, {"export": "/x", "address": "127.0.0.1"})])
def test_canary_round_trips_through_the_conf_file_to_the_probe_target(kind, base):
    target = kind.check_target({**base, "canary": "dir/alive.txt"})
    values = parse_conf(WatchSettings(kind, "c1", Schedule(), target).to_conf(), "c1.conf")
    assert values["canary"] == "dir/alive.txt"
    again = kind.check_target({k: v for k, v in values.items() if k in {f.name for f in kind.fields}})
    assert kind.make_target(again).canary == "dir/alive.txt"
    assert kind.make_target(kind.check_target(base)).canary is None  # opt-in


def test_journal_fields_carry_the_canary_path():
    failure = ProbeFailure(105, "canary", "r", "a/b: NFS3ERR_ACCES", rpc_status="NFS3ERR_ACCES", canary="a/b")
    fields = failure_fields(failure)
    assert fields["FSWATCH_CANARY"] == "a/b" and fields["FSWATCH_STAGE"] == "canary"
    assert failure.fields()["canary"] == "a/b"
    assert "FSWATCH_CANARY" not in failure_fields(ProbeFailure(84, "mount", "r"))


# -- NFSv3 LOOKUP and READ (RFC 1813 sections 3.3.3, 3.3.6) -------------------------------------


def test_nfs3_lookup_and_read_arguments():
    assert nfs3.encode_lookup(b"\x01\x02", "ab").hex() == "00000002" "01020000" "00000002" "61620000"
    assert nfs3.encode_read(b"\x01", 0, 4096).hex() == "00000001" "01000000" "0000000000000000" "00001000"


def lookup3_ok(fh: bytes = b"H" * 8, attrs: bool = True) -> bytes:
    enc = Encoder()
    enc.uint32(0)
    enc.opaque(fh)
    for _ in range(2):
        enc.boolean(attrs)
        if attrs:
            enc.raw(FATTR3)
    return enc.bytes()


def read3_ok(data: bytes, eof: bool = True, count=None) -> bytes:
    enc = Encoder()
    enc.uint32(0)
    enc.boolean(True)
    enc.raw(FATTR3)
    enc.uint32(len(data) if count is None else count)
    enc.boolean(eof)
    enc.opaque(data)
    return enc.bytes()


LOOKUP3_NOENT = struct.pack(">II", 2, 0)
READ3_ACCES = struct.pack(">II", 13, 1) + FATTR3


def test_nfs3_lookup_gives_the_handle():
    assert nfs3.decode_lookup_result(Decoder(lookup3_ok())) == b"H" * 8
    assert nfs3.decode_lookup_result(Decoder(lookup3_ok(b"h", attrs=False))) == b"h"


def test_nfs3_read_gives_count_and_eof_never_the_data():
    result = nfs3.decode_read_result(Decoder(read3_ok(b"secret")), 4096)
    assert (result.count, result.eof) == (6, True)
    assert "secret" not in repr(result)


@pytest.mark.parametrize(
    "res, decode, status, op",
    [
        (LOOKUP3_NOENT, nfs3.decode_lookup_result, "NFS3ERR_NOENT", "LOOKUP"),
        (READ3_ACCES, nfs3.decode_read_result, "NFS3ERR_ACCES", "READ"),
        (struct.pack(">II", 5, 0), nfs3.decode_read_result, "NFS3ERR_IO", "READ"),
        (struct.pack(">II", 21, 0), nfs3.decode_read_result, "NFS3ERR_ISDIR", "READ"),
    ],
)
def test_nfs3_failures_by_name(res, decode, status, op):
    with pytest.raises(NfsError) as info:
        decode(Decoder(res))
    assert (info.value.status, info.value.operation) == (status, op)


def test_nfs3_read_more_than_asked_or_a_wrong_count_is_garbage():
    with pytest.raises(RpcDecodeError):
        nfs3.decode_read_result(Decoder(read3_ok(b"x" * 16)), 8)
    with pytest.raises(RpcDecodeError, match="said 9 bytes"):
        nfs3.decode_read_result(Decoder(read3_ok(b"x" * 4, count=9)), 4096)


@given(results=garbage_from(lookup3_ok(), LOOKUP3_NOENT))
@PROPERTY
def test_nfs3_lookup_any_bytes_give_a_handle_or_a_typed_error(results):
    try:
        assert isinstance(nfs3.decode_lookup_result(Decoder(results)), bytes)
    except (RpcDecodeError, NfsError):
        pass


@given(results=garbage_from(read3_ok(b"abcdefgh"), read3_ok(b""), READ3_ACCES))
@PROPERTY
def test_nfs3_read_any_bytes_give_a_result_or_a_typed_error(results):
    try:
        assert nfs3.decode_read_result(Decoder(results), 4096).count <= 4096
    except (RpcDecodeError, NfsError):
        pass


# -- NFSv4 READ with the anonymous stateid (RFC 7530 section 16.23, RFC 8881 section 18.22) ----


def test_nfs4_read_compound_arguments():
    ops = nfs4.read_operations(["ex", "c"], 4096)
    assert nfs4.encode_compound(0, ops).hex() == (
        "00000007" "66737761746368 00"  # tag "fswatch"
        "00000000" "00000004"  # minorversion 0, 4 operations
        "00000018"  # PUTROOTFH
        "0000000f" "00000002" "65780000"  # LOOKUP "ex"
        "0000000f" "00000001" "63000000"  # LOOKUP "c"
        "00000019" "00000000" "000000000000000000000000"  # READ, the anonymous stateid
        "0000000000000000" "00001000"  # offset 0, count 4096
    ).replace(" ", "")


def read4_ok(data: bytes, eof: bool = True) -> bytes:
    enc = Encoder()
    enc.boolean(eof)
    enc.opaque(data)
    return enc.bytes()


READ_OPS = [nfs4.OP_PUTROOTFH, nfs4.OP_LOOKUP, nfs4.OP_LOOKUP, nfs4.OP_READ]
READ4_OK = compound_res(
    0,
    [(nfs4.OP_PUTROOTFH, 0, b""), (nfs4.OP_LOOKUP, 0, b""), (nfs4.OP_LOOKUP, 0, b""),
     (nfs4.OP_READ, 0, read4_ok(b"s3"))],
)  # fmt: skip
READ4_NOENT = compound_res(2, [(nfs4.OP_PUTROOTFH, 0, b""), (nfs4.OP_LOOKUP, 0, b""), (nfs4.OP_LOOKUP, 2, b"")])
READ4_ACCESS = compound_res(
    13, [(nfs4.OP_PUTROOTFH, 0, b""), (nfs4.OP_LOOKUP, 0, b""), (nfs4.OP_LOOKUP, 0, b""), (nfs4.OP_READ, 13, b"")]
)
READ4_GRACE = compound_res(
    10013, [(nfs4.OP_PUTROOTFH, 0, b""), (nfs4.OP_LOOKUP, 0, b""), (nfs4.OP_LOOKUP, 0, b""), (nfs4.OP_READ, 10013, b"")]
)


def test_nfs4_read_gives_the_count():
    result = nfs4.decode_read_compound(Decoder(READ4_OK), READ_OPS)
    assert (result.count, result.eof) == (2, True)


@pytest.mark.parametrize(
    "res, status, op",
    [(READ4_NOENT, "NFS4ERR_NOENT", "LOOKUP"), (READ4_ACCESS, "NFS4ERR_ACCESS", "READ"),
     (READ4_GRACE, "NFS4ERR_GRACE", "READ")],
)  # fmt: skip
def test_nfs4_read_failures_name_the_operation(res, status, op):
    with pytest.raises(NfsError) as info:
        nfs4.decode_read_compound(Decoder(res), READ_OPS)
    assert (info.value.status, info.value.operation) == (status, op)


@given(results=garbage_from(READ4_OK, READ4_NOENT, READ4_ACCESS))
@PROPERTY
def test_nfs4_read_any_bytes_give_a_result_or_a_typed_error(results):
    try:
        nfs4.decode_read_compound(Decoder(results), READ_OPS)
    except (RpcDecodeError, NfsError):
        pass


# -- the same READ inside a v4.1 session -------------------------------------------------------


def sequence_ok(sessionid: bytes = SESSION) -> bytes:
    enc = Encoder()
    enc.opaque_fixed(sessionid, 16)
    for value in (2, 0, 0, 0, 0):
        enc.uint32(value)
    return enc.bytes()


SESSION_OPS = [nfs41.OP_SEQUENCE] + READ_OPS
SESSION_OK = compound_res(
    0,
    [(nfs41.OP_SEQUENCE, 0, sequence_ok()), (nfs4.OP_PUTROOTFH, 0, b""), (nfs4.OP_LOOKUP, 0, b""),
     (nfs4.OP_LOOKUP, 0, b""), (nfs4.OP_READ, 0, read4_ok(b"abc", eof=False))],
)  # fmt: skip
SESSION_NOENT = compound_res(
    2, [(nfs41.OP_SEQUENCE, 0, sequence_ok()), (nfs4.OP_PUTROOTFH, 0, b""), (nfs4.OP_LOOKUP, 2, b"")]
)


def test_session_read_arguments_start_with_sequence_2():
    ops = [(nfs41.OP_SEQUENCE, nfs41.encode_sequence(SESSION, 2))] + nfs4.read_operations(["ex", "c"], 4096)
    encoded = nfs4.encode_compound(1, ops)
    assert encoded[12:20].hex() == "00000001" "00000005"  # after the tag: minorversion 1, 5 operations
    assert encoded[20:24].hex() == "00000035" and encoded[24:40] == SESSION  # SEQUENCE, the session
    assert encoded[40:44].hex() == "00000002"  # slot 0's second request


def test_session_read_gives_the_count():
    result = nfs41.decode_read_in_session(Decoder(SESSION_OK), SESSION_OPS, SESSION)
    assert (result.count, result.eof) == (3, False)


def test_session_read_noent_and_another_session():
    with pytest.raises(NfsError, match="NFS4ERR_NOENT"):
        nfs41.decode_read_in_session(Decoder(SESSION_NOENT), SESSION_OPS, SESSION)
    with pytest.raises(RpcDecodeError, match="another session"):
        nfs41.decode_read_in_session(Decoder(SESSION_OK), SESSION_OPS, bytes(16))


@given(results=garbage_from(SESSION_OK, SESSION_NOENT))
@PROPERTY
def test_session_read_any_bytes_give_a_result_or_a_typed_error(results):
    try:
        nfs41.decode_read_in_session(Decoder(results), SESSION_OPS, SESSION)
    except (RpcDecodeError, NfsError):
        pass


# -- how the NFS probe's canary stage judges what it met ---------------------------------------


def test_nfs_canary_stage_turns_errors_into_its_alerts():
    from fswatch.core.observation import StageRecorder
    from fswatch.probes.nfs import _canary_stage
    from fswatch.rpc.errors import RpcConnectionError, RpcTimeout

    cases = [
        (NfsError("NFS3ERR_NOENT", "LOOKUP"), 105, False),
        (NfsError("NFS4ERR_ACCESS", "READ"), 105, False),
        (RpcTimeout(), 106, True),
        (RpcConnectionError(104), 106, False),
    ]
    for exc, alert, timed_out in cases:
        rec = StageRecorder()
        with pytest.raises(ProbeFailure) as info:
            with _canary_stage(rec, "a/b", "where"):
                raise exc
        failure = info.value
        assert (failure.alert, failure.stage, failure.canary, failure.timed_out) == (alert, "canary", "a/b", timed_out)
        assert failure.detail.startswith("a/b: ") and [(s.stage, s.ok) for s in rec.stages] == [("canary", False)]


def test_nfs_canary_stage_in_a_grace_period_is_a_degradation():
    from fswatch.core.observation import StageRecorder
    from fswatch.probes.nfs import _canary_stage

    rec = StageRecorder()
    with _canary_stage(rec, "a/b", "where") as grace:
        raise NfsError("NFS4ERR_GRACE", "READ")
    degraded = grace.degradation("NFSv4.0 at x", 45)
    assert degraded is not None and (degraded.stage, degraded.status, degraded.lease_seconds) == (
        "canary", "NFS4ERR_GRACE", 45
    )


# -- how the Samba probe's canary stage judges what it met -------------------------------------


def _smb_error(status: int, body: bytes):
    from smbprotocol.exceptions import SMBResponseException
    from smbprotocol.header import SMB2HeaderResponse

    from tests.socket import smbfakes

    header = SMB2HeaderResponse()
    header.unpack(smbfakes.smb2_header(5, status, 3) + body)  # 5: CREATE
    return SMBResponseException(header)


SAMBA_CANARY = SambaTarget("public", canary="a/b")


@pytest.mark.parametrize(
    "status, body, name",
    [(0xC0000034, bytes.fromhex("0900000000000000") + b"\0", "STATUS_OBJECT_NAME_NOT_FOUND"),
     (0xC0000022, bytes.fromhex("0900000000000000") + b"\0", "STATUS_ACCESS_DENIED"),
     (0xC0000034, b"", "STATUS_OBJECT_NAME_NOT_FOUND")],  # an error body that does not decode
    ids=["not-found", "denied", "garbled-body"],
)  # fmt: skip
def test_samba_canary_refusals_are_alert_105_with_the_nt_status(status, body, name):
    from fswatch.probes.samba import _canary_failure

    failure = _canary_failure(_smb_error(status, body), SAMBA_CANARY, False)
    assert (failure.alert, failure.stage, failure.ntstatus, failure.canary) == (105, "canary", status, "a/b")
    assert failure.detail == f"a/b: {name} (0x{status:08x})" and "\n" not in failure.reason


def test_samba_canary_deadline_and_lost_connection_are_alert_106():
    from fswatch.probes.samba import _canary_failure

    timed_out = _canary_failure(_smb_error(0xC0000034, b""), SAMBA_CANARY, True)  # the reaper fired first
    assert (timed_out.alert, timed_out.timed_out, timed_out.errno) == (106, True, 110)
    closed = _canary_failure(TypeError("'NoneType' object is not subscriptable"), SAMBA_CANARY, False)
    assert (closed.alert, closed.timed_out, closed.canary) == (106, False, "a/b")
    assert closed.detail.startswith("a/b: ")

"""fswatch.rpc.nfs4: the lookup COMPOUND's arguments and COMPOUND4res, nfsstat4 by name."""

from __future__ import annotations

import pytest
from hypothesis import given

from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.nfs4 import (
    NFSSTAT4,
    OP_GETATTR,
    OP_LOOKUP,
    OP_PUTROOTFH,
    PathAttributes,
    decode_lookup_compound,
    encode_lookup_compound,
    path_components,
)
from fswatch.rpc.xdr import Decoder, Encoder
from tests.unit.garbage import PROPERTY, garbage_from


def compound_res(status: int, results, tag: bytes = b"fswatch") -> bytes:
    """COMPOUND4res from (op, status, extra bytes) triples."""
    enc = Encoder()
    enc.uint32(status)
    enc.opaque(tag)
    enc.uint32(len(results))
    for op, op_status, extra in results:
        enc.uint32(op)
        enc.uint32(op_status)
        enc.raw(extra)
    return enc.bytes()


def fattr4_type(ftype: int, with_supported: bool = False) -> bytes:
    vals = Encoder()
    mask = 0b10
    if with_supported:
        mask |= 0b01
        vals.array([0b11], Encoder.uint32)
    vals.uint32(ftype)
    enc = Encoder()
    enc.array([mask], Encoder.uint32)
    enc.opaque(vals.bytes())
    return enc.bytes()


COMPONENTS = ["srv", "export"]
OK = compound_res(
    0, [(OP_PUTROOTFH, 0, b""), (OP_LOOKUP, 0, b""), (OP_LOOKUP, 0, b""), (OP_GETATTR, 0, fattr4_type(2))]
)
NOENT = compound_res(2, [(OP_PUTROOTFH, 0, b""), (OP_LOOKUP, 0, b""), (OP_LOOKUP, 2, b"")])
MINOR_VERS_MISMATCH = compound_res(10021, [])


def test_path_components():
    assert path_components("/srv//nfs/export/") == ["srv", "nfs", "export"]
    assert path_components("/") == []


def test_compound_arguments():
    assert encode_lookup_compound(["ab"]).hex() == (
        "00000007" "66737761746368 00"  # tag "fswatch"
        "00000000"  # minorversion 0
        "00000003"  # 3 operations
        "00000018"  # PUTROOTFH
        "0000000f" "00000002" "61620000"  # LOOKUP "ab"
        "00000009" "00000001" "00000002"  # GETATTR {type}
    ).replace(" ", "")


def test_lookup_ok_gives_the_type():
    assert decode_lookup_compound(Decoder(OK), COMPONENTS) == PathAttributes("NF4DIR")


def test_type_after_supported_attrs():
    res = compound_res(0, [(OP_PUTROOTFH, 0, b""), (OP_GETATTR, 0, fattr4_type(1, with_supported=True))])
    assert decode_lookup_compound(Decoder(res), []) == PathAttributes("NF4REG")


def test_lookup_noent_names_the_failed_operation():
    with pytest.raises(NfsError) as info:
        decode_lookup_compound(Decoder(NOENT), COMPONENTS)
    assert (info.value.status, info.value.operation) == ("NFS4ERR_NOENT", "LOOKUP")


def test_status_without_results():
    with pytest.raises(NfsError) as info:
        decode_lookup_compound(Decoder(MINOR_VERS_MISMATCH), COMPONENTS)
    assert (info.value.status, info.value.operation) == ("NFS4ERR_MINOR_VERS_MISMATCH", "COMPOUND")


@pytest.mark.parametrize(
    "status, name",
    [(13, "NFS4ERR_ACCESS"), (70, "NFS4ERR_STALE"), (10016, "NFS4ERR_WRONGSEC"), (10001, "NFS4ERR_BADHANDLE"),
     (10008, "NFS4ERR_DELAY"), (10006, "NFS4ERR_SERVERFAULT"), (99999, "nfsstat4(99999)")],
)  # fmt: skip
def test_putrootfh_errors_by_name(status, name):
    res = compound_res(status, [(OP_PUTROOTFH, status, b"")])
    with pytest.raises(NfsError) as info:
        decode_lookup_compound(Decoder(res), COMPONENTS)
    assert (info.value.status, info.value.operation) == (name, "PUTROOTFH")


def test_nfsstat4_names_are_unique():
    assert len(set(NFSSTAT4.values())) == len(NFSSTAT4)


@pytest.mark.parametrize(
    "res, components, message",
    [
        (compound_res(0, [(OP_LOOKUP, 0, b"")]), COMPONENTS, "operation"),
        (compound_res(0, [(OP_PUTROOTFH, 0, b"")]), COMPONENTS, "1 results for 4"),
        (compound_res(0, [(OP_PUTROOTFH, 0, b"")] * 5), COMPONENTS, "5 results"),
        (compound_res(0, [(OP_PUTROOTFH, 0, b""), (OP_GETATTR, 0, fattr4_type(42))]), [], "nfs_ftype4"),
    ],
    ids=["out-of-order", "ok-but-missing", "too-many", "bad-type"],
)
def test_inconsistent_results_are_garbage(res, components, message):
    with pytest.raises(RpcDecodeError, match=message):
        decode_lookup_compound(Decoder(res), components)


@given(results=garbage_from(OK, NOENT, MINOR_VERS_MISMATCH))
@PROPERTY
def test_any_bytes_give_attributes_or_a_typed_error(results):
    try:
        decode_lookup_compound(Decoder(results), COMPONENTS)
    except (RpcDecodeError, NfsError):
        pass

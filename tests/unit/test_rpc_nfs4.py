"""fswatch.rpc.nfs4: the lookup COMPOUND's arguments and COMPOUND4res, fattr4, nfsstat4 by name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.nfs4 import (
    FATTR4_FILES_AVAIL,
    FATTR4_SPACE_AVAIL,
    FATTR4_SPACE_TOTAL,
    FATTR4_TYPE,
    NFSSTAT4,
    OP_GETATTR,
    OP_LOOKUP,
    OP_PUTROOTFH,
    PROBE_ATTRS,
    PathAttributes,
    bitmap4,
    decode_fattr4,
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
        "00000009" "00000002"  # GETATTR, a bitmap4 of 2 words:
        "00e00002"  # type (1), files_avail/free/total (21-23)
        "00001c00"  # space_avail/free/total (42-44)
    ).replace(" ", "")


def test_bitmap4_sets_bit_n_in_word_n_div_32():
    assert bitmap4([0, 1, 31]) == [0x80000003]
    assert bitmap4([33]) == [0, 2]
    assert bitmap4(PROBE_ATTRS) == [0x00E00002, 0x00001C00]


# fattr4 values as a server sends them for the probe's GETATTR, in bit order.
COUNTS = {"files_avail": 900, "files_free": 1000, "files_total": 2000,
          "space_avail": 5 << 30, "space_free": 6 << 30, "space_total": 1 << 40}  # fmt: skip


def fattr4_probe(ftype: int = 2) -> bytes:
    vals = Encoder()
    vals.uint32(ftype)
    for name in ("files_avail", "files_free", "files_total", "space_avail", "space_free", "space_total"):
        vals.uint64(COUNTS[name])
    enc = Encoder()
    enc.array(bitmap4(PROBE_ATTRS), Encoder.uint32)
    enc.opaque(vals.bytes())
    return enc.bytes()


def test_fattr4_gives_type_and_counts():
    dec = Decoder(fattr4_probe())
    attributes = decode_fattr4(dec.array(Decoder.uint32), dec.opaque())
    assert attributes == PathAttributes("NF4DIR", **COUNTS)


def test_fattr4_without_counts_leaves_them_none():
    # A server that does not support the counts answers GETATTR without them (RFC 7530 15.9).
    vals = Encoder()
    vals.uint32(1)
    assert decode_fattr4([1 << FATTR4_TYPE], vals.bytes()) == PathAttributes("NF4REG")


def test_fattr4_stops_at_an_attribute_it_cannot_size():
    # mode (33) sits between files_avail (21) and space_avail (42): what follows it is unreadable.
    vals = Encoder()
    vals.uint32(2)
    vals.uint64(7)
    vals.uint32(0o755)
    vals.uint64(9)
    mask = bitmap4([FATTR4_TYPE, FATTR4_FILES_AVAIL, 33, FATTR4_SPACE_AVAIL])
    assert decode_fattr4(mask, vals.bytes()) == PathAttributes("NF4DIR", files_avail=7)


def test_fattr4_values_cut_short_are_garbage():
    vals = Encoder()
    vals.uint32(2)
    vals.uint32(0)  # half of a uint64
    with pytest.raises(RpcDecodeError):
        decode_fattr4(bitmap4([FATTR4_TYPE, FATTR4_SPACE_TOTAL]), vals.bytes())


@given(
    attrmask=st.lists(st.integers(0, 0xFFFFFFFF), max_size=8)
    | st.lists(st.sampled_from(PROBE_ATTRS + (0, 33)), min_size=1).map(bitmap4),
    attr_vals=st.binary(max_size=128),
)
@PROPERTY
def test_fattr4_any_bytes_give_attributes_or_a_decode_error(attrmask, attr_vals):
    try:
        decode_fattr4(attrmask, attr_vals)
    except RpcDecodeError:
        pass


def test_lookup_ok_gives_the_type():
    assert decode_lookup_compound(Decoder(OK), COMPONENTS) == PathAttributes("NF4DIR")


def test_lookup_ok_gives_type_and_storage_counts():
    res = compound_res(
        0, [(OP_PUTROOTFH, 0, b""), (OP_LOOKUP, 0, b""), (OP_LOOKUP, 0, b""), (OP_GETATTR, 0, fattr4_probe())]
    )
    attributes = decode_lookup_compound(Decoder(res), COMPONENTS)
    assert attributes == PathAttributes("NF4DIR", **COUNTS)
    assert attributes.space_avail == 5 << 30 and FATTR4_SPACE_AVAIL == 42


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


OK_COUNTS = compound_res(
    0, [(OP_PUTROOTFH, 0, b""), (OP_LOOKUP, 0, b""), (OP_LOOKUP, 0, b""), (OP_GETATTR, 0, fattr4_probe())]
)


@given(results=garbage_from(OK, OK_COUNTS, NOENT, MINOR_VERS_MISMATCH))
@PROPERTY
def test_any_bytes_give_attributes_or_a_typed_error(results):
    try:
        decode_lookup_compound(Decoder(results), COMPONENTS)
    except (RpcDecodeError, NfsError):
        pass

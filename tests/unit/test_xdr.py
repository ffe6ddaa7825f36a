"""fswatch.rpc.xdr: RFC 4506 encodings, and a Decoder that fails only with RpcDecodeError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fswatch.core.errors import ProtocolError
from fswatch.rpc.errors import RpcDecodeError
from fswatch.rpc.xdr import Decoder, Encoder
from tests.unit.garbage import PROPERTY

# -- known vectors (RFC 4506 sections 4.1-4.13) -------------------------------------------


@pytest.mark.parametrize(
    "method, args, expected",
    [
        ("uint32", (1,), "00000001"),
        ("uint32", (0xFFFFFFFF,), "ffffffff"),
        ("int32", (-1,), "ffffffff"),
        ("int32", (-2,), "fffffffe"),
        ("uint64", (1 << 32,), "0000000100000000"),
        ("int64", (-1,), "ffffffffffffffff"),
        ("boolean", (True,), "00000001"),
        ("boolean", (False,), "00000000"),
        ("enum", (3,), "00000003"),
        ("opaque_fixed", (b"abc", 3), "61626300"),
        ("opaque", (b"", 10), "00000000"),
        ("opaque", (b"abcde", 10), "000000056162636465000000"),
        ("string", ("sillyprog", 255), "0000000973696c6c7970726f67000000"),  # RFC 4506 section 4.11
        ("string", (b"\xff\xfe", 4), "00000002fffe0000"),
    ],
)
def test_encoding_vectors(method, args, expected):
    enc = Encoder()
    getattr(enc, method)(*args)
    assert enc.bytes().hex() == expected


def test_array_encodes_count_then_items():
    enc = Encoder()
    enc.array([1, 2], Encoder.uint32, 16)
    assert enc.bytes().hex() == "000000020000000100000002"


@pytest.mark.parametrize(
    "method, args",
    [
        ("uint32", (-1,)),
        ("uint32", (1 << 32,)),
        ("int32", (1 << 31,)),
        ("uint64", (1 << 64,)),
        ("opaque", (b"x" * 11, 10)),
        ("string", ("toolong", 3)),
        ("opaque_fixed", (b"ab", 3)),
    ],
)
def test_encoder_refuses_what_does_not_fit(method, args):
    with pytest.raises(ValueError):
        getattr(Encoder(), method)(*args)


def test_encoder_refuses_too_many_items():
    with pytest.raises(ValueError):
        Encoder().array([1, 2, 3], Encoder.uint32, 2)


# -- decoding -----------------------------------------------------------------------------


@given(
    u=st.integers(0, 0xFFFFFFFF),
    i=st.integers(-(1 << 31), (1 << 31) - 1),
    h=st.integers(-(1 << 63), (1 << 63) - 1),
    uh=st.integers(0, (1 << 64) - 1),
    b=st.booleans(),
    blob=st.binary(max_size=40),
    text=st.text(max_size=20),
    items=st.lists(st.integers(0, 0xFFFFFFFF), max_size=8),
)
@PROPERTY
def test_round_trip(u, i, h, uh, b, blob, text, items):
    enc = Encoder()
    enc.uint32(u)
    enc.int32(i)
    enc.int64(h)
    enc.uint64(uh)
    enc.boolean(b)
    enc.opaque(blob, 40)
    enc.opaque_fixed(blob, len(blob))
    enc.string(text, 100)
    enc.array(items, Encoder.uint32, 8)
    data = enc.bytes()
    assert len(data) % 4 == 0
    dec = Decoder(data)
    assert dec.uint32() == u
    assert dec.int32() == i
    assert dec.int64() == h
    assert dec.uint64() == uh
    assert dec.boolean() is b
    assert dec.opaque(40) == blob
    assert dec.opaque_fixed(len(blob)) == blob
    assert dec.string(100) == text
    assert dec.array(Decoder.uint32, 8) == items
    assert dec.remaining() == 0


@pytest.mark.parametrize(
    "data, read, message",
    [
        ("000000", lambda d: d.uint32(), "truncated"),
        ("00000000000000", lambda d: d.uint64(), "truncated"),
        ("00000002", lambda d: d.boolean(), "bool"),
        ("0000000561626364", lambda d: d.opaque(), "truncated"),
        ("000000056162636465", lambda d: d.opaque(), "truncated"),  # padding missing
        ("000000056162636465000001", lambda d: d.opaque(), "padding"),
        ("0000000b", lambda d: d.opaque(10), "maximum"),
        ("80000000", lambda d: d.opaque(), "maximum"),  # 2 GiB claimed: refused, never allocated
        ("00000002fffe0000", lambda d: d.string(), "UTF-8"),
        ("00000011", lambda d: d.array(Decoder.uint32, 16), "maximum"),
        ("0000000200000001", lambda d: d.array(Decoder.uint32, 16), "truncated"),
        ("00000007", lambda d: d.optional(Decoder.uint32), "bool"),
    ],
)
def test_decoder_refuses_garbage(data, read, message):
    with pytest.raises(RpcDecodeError, match=message) as info:
        read(Decoder(bytes.fromhex(data)))
    assert isinstance(info.value, ProtocolError)


def test_optional_reads_the_item_only_when_present():
    assert Decoder(bytes.fromhex("0000000100000007")).optional(Decoder.uint32) == 7
    dec = Decoder(bytes.fromhex("00000000"))
    assert dec.optional(Decoder.uint32) is None and dec.remaining() == 0


READS = {
    "uint32": lambda d: d.uint32(),
    "int32": lambda d: d.int32(),
    "uint64": lambda d: d.uint64(),
    "int64": lambda d: d.int64(),
    "boolean": lambda d: d.boolean(),
    "enum": lambda d: d.enum(),
    "opaque_fixed": lambda d: d.opaque_fixed(5),
    "opaque": lambda d: d.opaque(64),
    "string": lambda d: d.string(64),
    "array": lambda d: d.array(Decoder.uint64, 8),
    "optional": lambda d: d.optional(Decoder.int32),
}


@given(data=st.binary(max_size=64), reads=st.lists(st.sampled_from(sorted(READS)), min_size=1, max_size=12))
@PROPERTY
def test_any_bytes_decode_or_raise_rpc_decode_error(data, reads):
    dec = Decoder(data)
    for name in reads:
        before = dec.position
        try:
            READS[name](dec)
        except RpcDecodeError:
            return
        assert before < dec.position <= len(data)  # every item moves on, never past the end


# -- the exact error texts: they reach an alert's reason, so they are part of the contract ----


def test_encoder_errors_say_what_did_not_fit():
    import struct as _struct

    cases = [
        (lambda e: e.uint32(-1), "-1 does not fit XDR '>I'"),
        (lambda e: e.opaque_fixed(b"ab", 3), "fixed opaque needs 3 bytes, got 2"),
        (lambda e: e.opaque(b"abc", 2), "opaque of 3 bytes exceeds its maximum 2"),
        (lambda e: e.array([1, 2], Encoder.uint32, 1), "array of 2 items exceeds its maximum 1"),
    ]
    for write, message in cases:
        with pytest.raises(ValueError) as info:
            write(Encoder())
        assert str(info.value) == message
    assert _struct.calcsize(">I") == 4


def test_decoder_truncation_names_the_item_and_the_offset():
    import struct as _struct

    cases = [
        (Decoder.uint32, "uint", 4),
        (Decoder.int32, "int", 4),
        (Decoder.uint64, "hyper", 8),
        (Decoder.int64, "hyper", 8),
        (lambda d: d.opaque_fixed(3), "opaque", 4),
        (lambda d: d.skip(3), "fixed-size item", 3),
        (lambda d: d.fixed(_struct.Struct(">III")), "structure", 12),
    ]
    for read, what, needs in cases:
        dec = Decoder(b"\x00\x00\x00\x01ab")
        dec.uint32()
        with pytest.raises(RpcDecodeError) as info:
            read(dec)
        assert str(info.value) == f"truncated {what}: needs {needs} bytes at offset 4, 2 left"


def test_skip_moves_past_the_item():
    dec = Decoder(b"\x01\x02\x03\x00\x00\x00\x07")
    dec.skip(3)
    assert dec.uint32() == 7

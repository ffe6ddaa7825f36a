"""Record marking (RFC 5531 section 11), the socket-free part of fswatch.rpc.transport."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fswatch.rpc.errors import RpcDecodeError
from fswatch.rpc.transport import LAST_FRAGMENT, MAX_FRAGMENTS, RecordAssembler, encode_record
from tests.unit.garbage import PROPERTY


def fragment(body: bytes, last: bool) -> bytes:
    return ((LAST_FRAGMENT if last else 0) | len(body)).to_bytes(4, "big") + body


def test_encode_record_is_one_last_fragment():
    assert encode_record(b"abcd").hex() == "80000004" "61626364"
    assert encode_record(b"").hex() == "80000000"


def test_fragments_join_into_one_record():
    records = RecordAssembler()
    records.feed(fragment(b"ab", False) + fragment(b"", False) + fragment(b"cd", True) + fragment(b"x", True))
    assert records.next_record() == b"abcd"
    assert records.next_record() == b"x"
    assert records.next_record() is None and not records.pending


def test_partial_record_waits_for_more():
    records = RecordAssembler()
    data = fragment(b"abc", False) + fragment(b"de", True)
    for byte in data[:-1]:
        records.feed(bytes([byte]))
        assert records.next_record() is None
    assert records.pending
    records.feed(data[-1:])
    assert records.next_record() == b"abcde"


@pytest.mark.parametrize("header", ["7fffffff", "ffffffff", "80100001"])
def test_oversized_fragment_is_refused_from_its_header(header):
    records = RecordAssembler()
    records.feed(bytes.fromhex(header))
    with pytest.raises(RpcDecodeError, match="more than"):
        records.next_record()


def test_oversized_record_in_small_fragments_is_refused():
    records = RecordAssembler(max_record=100)
    records.feed(fragment(b"x" * 60, False) + fragment(b"y" * 60, True))
    with pytest.raises(RpcDecodeError):
        records.next_record()


def test_endless_empty_fragments_are_refused():
    records = RecordAssembler()
    records.feed(fragment(b"", False) * (MAX_FRAGMENTS + 1))
    with pytest.raises(RpcDecodeError, match="fragments"):
        records.next_record()


@given(
    bodies=st.lists(st.binary(max_size=40), min_size=1, max_size=5),
    data=st.data(),
)
@PROPERTY
def test_any_fragmentation_and_chunking_gives_back_the_records(bodies, data):
    stream = b""
    for body in bodies:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=3)))
        pieces = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)])]
        stream += b"".join(fragment(p, i == len(pieces) - 1) for i, p in enumerate(pieces))
    records = RecordAssembler()
    got = []
    at = 0
    while at < len(stream):
        step = data.draw(st.integers(1, 16))
        records.feed(stream[at : at + step])
        at += step
        while (record := records.next_record()) is not None:
            got.append(record)
    assert got == bodies


@given(chunks=st.lists(st.binary(max_size=64), max_size=8), limit=st.integers(0, 256))
@PROPERTY
def test_any_bytes_give_records_or_rpc_decode_error(chunks, limit):
    records = RecordAssembler(max_record=limit)
    try:
        for chunk in chunks:
            records.feed(chunk)
            while (record := records.next_record()) is not None:
                assert len(record) <= limit
    except RpcDecodeError:
        pass

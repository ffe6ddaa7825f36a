"""Hypothesis strategies for hostile input: arbitrary bytes, and valid messages broken a little.

Random bytes mostly die at the first length check; valid encodings that are cut short or have
one word overwritten reach the decoders' deeper paths.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

# Decoders are bounded by their input, so a slow example means a bug: 1 s per example is lenient.
PROPERTY = settings(max_examples=300, deadline=1000)

# Words a decoder treats specially: 0/1 (bool, status OK), small counts, huge lengths, top bit.
_WORDS = st.one_of(
    st.integers(0, 8),
    st.sampled_from([13, 70, 10004, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 20, (1 << 20) + 1]),
    st.integers(0, 0xFFFFFFFF),
)


@st.composite
def _mutated(draw, valid: bytes) -> bytes:
    data = bytearray(valid)
    how = draw(st.sampled_from(["truncate", "overwrite", "append", "overwrite+truncate"]))
    if "overwrite" in how and len(data) >= 4:
        at = draw(st.integers(0, len(data) // 4 - 1)) * 4
        data[at : at + 4] = draw(_WORDS).to_bytes(4, "big")
    if "truncate" in how:
        data = data[: draw(st.integers(0, len(data)))]
    if how == "append":
        data += draw(st.binary(max_size=16))
    return bytes(data)


def garbage_from(*valid: bytes) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, or one of `valid` truncated / with a word overwritten / with bytes appended."""
    return st.one_of(st.binary(max_size=256), st.sampled_from(valid).flatmap(_mutated))

"""Breaking real replies a little: the mutations a hostile or broken server (or a bad link) produces.

Random bytes die at the first length check; a real reply broken in one or a few places
reaches the decoders' deeper paths. Operations: bit flips, byte sets, truncation,
extension, insertion and deletion, length/count-field tweaks (32-bit big-endian words for
XDR, 16/32-bit little-endian fields for SMB2), and splicing with another reply of the
corpus. All randomness comes from the `random.Random` passed in, so a seed replays a run.
"""

from __future__ import annotations

import random
import struct
from typing import Callable, List, Sequence, Tuple

# Values decoders treat specially: 0/1 (bool, OK), small counts, lengths at and past the
# limits, sign and top bits.
INTERESTING_32 = (0, 1, 2, 3, 4, 7, 8, 16, 64, 255, 256, 1024, 4096, 0xFFFF, 0x10000, 1 << 20, (1 << 20) + 1,
                  0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)  # fmt: skip
INTERESTING_16 = (0, 1, 2, 8, 9, 64, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
INTERESTING_8 = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
MAX_GROWTH = 4096  # bytes an extension may add: the harnesses' memory bound must not come from the fuzzer

Op = Callable[[random.Random, bytearray, Sequence[bytes]], str]


def _flip(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    bits = rng.choice((1, 1, 2, 4, 8))
    for _ in range(bits):
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
    return f"flip{bits}"


def _byte(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    at = rng.randrange(len(data))
    data[at] = rng.choice(INTERESTING_8) if rng.random() < 0.5 else rng.randrange(256)
    return "byte"


def _word_be(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    """An XDR word (aligned, big-endian) set to an interesting or random value."""
    if len(data) < 4:
        return _byte(rng, data, pool)
    at = rng.randrange(len(data) // 4) * 4
    value = rng.choice(INTERESTING_32) if rng.random() < 0.7 else rng.getrandbits(32)
    data[at : at + 4] = struct.pack(">I", value)
    return "word_be"


def _field_le(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    """An SMB2 field (2 or 4 bytes, little-endian, naturally aligned) set to an interesting value."""
    size = rng.choice((2, 4))
    if len(data) < size:
        return _byte(rng, data, pool)
    at = rng.randrange(len(data) // size) * size
    value = rng.choice(INTERESTING_16 if size == 2 else INTERESTING_32)
    data[at : at + size] = value.to_bytes(size, "little")
    return f"field_le{size}"


def _length_tweak(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    """A word that looks like a length or count (small, non-zero) nudged: +-1..8, doubled, or made huge."""
    candidates: List[Tuple[int, int, str]] = []
    for _ in range(6):  # a sample of positions, not a scan: this runs a million times
        size, fmt = (4, ">I") if rng.random() < 0.5 else (2, "<H")
        if len(data) < size:
            break
        at = rng.randrange(len(data) // size) * size
        if 0 < struct.unpack_from(fmt, data, at)[0] <= 4096:
            candidates.append((at, size, fmt))
    if not candidates:
        return _word_be(rng, data, pool)
    at, size, fmt = rng.choice(candidates)
    value = struct.unpack_from(fmt, data, at)[0]
    how = rng.randrange(4)
    if how == 0:
        value += rng.choice((1, 2, 3, 4, 8))
    elif how == 1:
        value -= rng.choice((1, 2, 3, 4, 8))
    elif how == 2:
        value *= 2
    else:
        value = (1 << (8 * size)) - 1
    struct.pack_into(fmt, data, at, value % (1 << (8 * size)))
    return f"length{size}"


def _truncate(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    del data[rng.randrange(len(data)) :]
    return "truncate"


def _extend(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    n = rng.choice((1, 3, 4, 8, 64, 512))
    if rng.random() < 0.5 and data:
        start = rng.randrange(len(data))
        chunk = bytes(data[start : start + n])
    else:
        chunk = rng.getrandbits(8 * n).to_bytes(n, "big")
    data += chunk[: MAX_GROWTH]
    return "extend"


def _insert(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    at = rng.randrange(len(data) + 1)
    n = rng.choice((1, 2, 4))
    data[at:at] = rng.getrandbits(8 * n).to_bytes(n, "big")
    return "insert"


def _delete(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    at = rng.randrange(len(data))
    del data[at : at + rng.choice((1, 2, 4, 8))]
    return "delete"


def _splice(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> str:
    """Our head, another reply's tail, cut at the same aligned offset (or anywhere)."""
    other = rng.choice(pool)
    if not other:
        return _truncate(rng, data, pool)
    cut = rng.randrange(min(len(data), len(other)) + 1)
    if rng.random() < 0.7:
        cut -= cut % 4
    data[cut:] = other[cut:]
    return "splice"


OPS: Tuple[Op, ...] = (_flip, _byte, _word_be, _field_le, _length_tweak, _length_tweak, _truncate, _extend,
                       _insert, _delete, _splice)  # fmt: skip


class Mutator:
    """Mutates replies with one to four operations; `pool` is what splicing draws from."""

    def __init__(self, rng: random.Random, pool: Sequence[bytes]) -> None:
        self.rng = rng
        self.pool = [bytes(p) for p in pool]

    def mutate(self, reply: bytes) -> Tuple[bytes, str]:
        data = bytearray(reply)
        ops = []
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3, 4))):
            if not data:
                data += bytes(self.rng.getrandbits(8) for _ in range(self.rng.choice((1, 4, 8))))
                ops.append("refill")
                continue
            ops.append(self.rng.choice(OPS)(self.rng, data, self.pool))
        return bytes(data), "+".join(ops)

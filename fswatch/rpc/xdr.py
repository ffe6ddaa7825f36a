"""XDR, the External Data Representation (RFC 4506), on `struct`.

The Encoder builds what fswatch sends; the Decoder reads what a server sent and is written
for hostile input: every read checks the bytes left, every variable length and count has
a maximum, padding must be zero (section 4.10) and a bool must be 0 or 1 (section 4.4).
Anything else raises RpcDecodeError, never IndexError, struct.error or UnicodeError.
"""

from __future__ import annotations

import struct
from typing import Callable, List, Optional, Sequence, TypeVar, Union

from fswatch.rpc.errors import RpcDecodeError

T = TypeVar("T")

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")

# Lengths and counts a server may claim; anything larger is garbage, not a reason to allocate.
DEFAULT_MAX = 1 << 20

_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")  # by len % 4


def _pad(n: int) -> int:
    return -n & 3


class Encoder:
    """Appends XDR items; bytes() gives the encoding. Out-of-range values raise ValueError."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: List[bytes] = []

    def _pack(self, fmt: struct.Struct, value: int) -> None:
        try:
            self._parts.append(fmt.pack(value))
        except struct.error as exc:
            raise ValueError(f"{value!r} does not fit XDR {fmt.format!r}") from exc

    def uint32(self, value: int) -> None:
        self._pack(_U32, value)

    def int32(self, value: int) -> None:
        self._pack(_I32, value)

    def uint64(self, value: int) -> None:
        self._pack(_U64, value)

    def int64(self, value: int) -> None:
        self._pack(_I64, value)

    def boolean(self, value: bool) -> None:
        self._parts.append(_U32.pack(1 if value else 0))

    def enum(self, value: int) -> None:
        self._pack(_I32, value)

    def opaque_fixed(self, data: bytes, size: int) -> None:
        if len(data) != size:
            raise ValueError(f"fixed opaque needs {size} bytes, got {len(data)}")
        self._parts.append(bytes(data) + _PAD[size & 3])

    def opaque(self, data: bytes, max_len: int = DEFAULT_MAX) -> None:
        if len(data) > max_len:
            raise ValueError(f"opaque of {len(data)} bytes exceeds its maximum {max_len}")
        self._parts.append(_U32.pack(len(data)) + bytes(data) + _PAD[len(data) & 3])

    def string(self, text: Union[str, bytes], max_len: int = DEFAULT_MAX) -> None:
        self.opaque(text.encode("utf-8") if isinstance(text, str) else text, max_len)

    def array(self, items: Sequence[T], item: Callable[[Encoder, T], None], max_count: int = DEFAULT_MAX) -> None:
        if len(items) > max_count:
            raise ValueError(f"array of {len(items)} items exceeds its maximum {max_count}")
        self._parts.append(_U32.pack(len(items)))
        for value in items:
            item(self, value)

    def raw(self, data: bytes) -> None:
        """Bytes already in XDR (e.g. a pre-encoded credential)."""
        self._parts.append(data)

    def bytes(self) -> bytes:
        return b"".join(self._parts)


class Decoder:
    """Reads XDR items from `data`, front to back; every failure is RpcDecodeError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self._data = data
        self._pos = pos

    @property
    def position(self) -> int:
        return self._pos

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def _need(self, n: int, what: str) -> int:
        pos = self._pos
        if n < 0 or n > len(self._data) - pos:
            raise RpcDecodeError(f"truncated {what}: needs {n} bytes at offset {pos}, {len(self._data) - pos} left")
        self._pos = pos + n
        return pos

    def uint32(self) -> int:
        return _U32.unpack_from(self._data, self._need(4, "uint"))[0]

    def int32(self) -> int:
        return _I32.unpack_from(self._data, self._need(4, "int"))[0]

    def uint64(self) -> int:
        return _U64.unpack_from(self._data, self._need(8, "hyper"))[0]

    def int64(self) -> int:
        return _I64.unpack_from(self._data, self._need(8, "hyper"))[0]

    def boolean(self) -> bool:
        value = self.uint32()
        if value > 1:
            raise RpcDecodeError(f"bool must be 0 or 1, got {value}")
        return value == 1

    def enum(self) -> int:
        return self.int32()

    def opaque_fixed(self, size: int) -> bytes:
        padded = size + _pad(size)
        pos = self._need(padded, "opaque")
        if padded != size and any(self._data[pos + size : pos + padded]):
            raise RpcDecodeError(f"non-zero padding after opaque at offset {pos}")
        return bytes(self._data[pos : pos + size])

    def opaque(self, max_len: int = DEFAULT_MAX) -> bytes:
        size = self.uint32()
        if size > max_len:
            raise RpcDecodeError(f"opaque length {size} exceeds its maximum {max_len}")
        return self.opaque_fixed(size)

    def string(self, max_len: int = DEFAULT_MAX) -> str:
        raw = self.opaque(max_len)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RpcDecodeError(f"string is not UTF-8: {exc.reason}") from exc

    def array(self, item: Callable[[Decoder], T], max_count: int = DEFAULT_MAX) -> List[T]:
        count = self.uint32()
        if count > max_count:
            raise RpcDecodeError(f"array count {count} exceeds its maximum {max_count}")
        return [item(self) for _ in range(count)]

    def optional(self, item: Callable[[Decoder], T]) -> Optional[T]:
        """RFC 4506 section 4.19 optional-data (`type *name`): a bool, then the item if TRUE."""
        return item(self) if self.boolean() else None

    def fixed(self, layout: struct.Struct) -> tuple:
        """A run of fixed-size items in one unpack (e.g. a whole fattr3)."""
        return layout.unpack_from(self._data, self._need(layout.size, "structure"))

    def skip(self, n: int) -> None:
        self._need(n, "fixed-size item")

    def rest(self) -> bytes:
        """The bytes not yet read (e.g. results after an RPC reply header)."""
        return bytes(self._data[self._pos :])

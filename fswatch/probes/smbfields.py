"""smbprotocol.structure's generic field machinery, giving the same results with less work.

smbprotocol builds and parses every SMB2 message through Structure and Field objects: a
Samba probe makes ~40 structures and ~700 integer parses, and that machinery was about half
of the probe's CPU (bench/RESULTS.md). The replacements below take a short way for the
common case and hand every other case to smbprotocol's own method, so a value the short way
does not recognise is treated exactly as before, errors and their messages included:

- an integer field parses bytes with a precompiled struct.Struct, not a format string built
  and looked up per value;
- an enum or flag field checks a value against its class's values, collected once per class,
  instead of walking the class's attributes per value (a miss goes to smbprotocol's own
  check, which then raises as it always did);
- a field's lambda value or size is expanded in a loop, not by recursion;
- a structure packs with one join instead of growing a bytes object field by field;
- a list entry's template is copied through its attribute dict (_FieldCopies).

install() puts them in place; fswatch.probes.smb calls it when it is imported. PATCHES keeps
smbprotocol's own methods beside them (the tests compare the two).
"""

from __future__ import annotations

import copy
import enum
import struct
import types
from typing import Any, Callable, Dict, FrozenSet, Optional, Tuple

import smbprotocol.structure as st

# (little_endian, size, unsigned) -> the struct smbprotocol's IntField formats that field with
# (its _endian_prefix and _get_struct_format: "<" or ">", then B/H/L/Q, lower case if signed).
_CODECS = {
    (little, size, unsigned): struct.Struct(("<" if little else ">") + (char if unsigned else char.lower()))
    for little in (True, False)
    for size, char in ((1, "B"), (2, "H"), (4, "L"), (8, "Q"))
    for unsigned in (True, False)
}
_ENUM_VALUES: Dict[type, FrozenSet[int]] = {}
_FLAG_MASKS: Dict[type, int] = {}


def _codec(field: Any) -> Optional[struct.Struct]:
    """The field's struct, or None where smbprotocol's own method must decide (a callable size)."""
    try:
        return _CODECS.get((field.little_endian, field.size, field.unsigned))
    except TypeError:  # an unhashable size: smbprotocol's own method says what it makes of it
        return None


def _enum_values(enum_type: type) -> FrozenSet[int]:
    values = _ENUM_VALUES.get(enum_type)
    if values is None:
        values = _ENUM_VALUES[enum_type] = frozenset(v for v in vars(enum_type).values() if isinstance(v, int))
    return values


def _flag_mask(flag_type: type) -> int:
    """Every flag of the class together: clearing each in turn (smbprotocol's loop) clears this."""
    mask = _FLAG_MASKS.get(flag_type)
    if mask is None:
        mask = 0
        for value in vars(flag_type).values():
            if isinstance(value, int):
                mask |= value
        _FLAG_MASKS[flag_type] = mask
    return mask


def _int_parse(self: Any, value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return value
    if kind is bytes:
        codec = _codec(self)
        if codec is not None and len(value) == codec.size:
            return codec.unpack(value)[0]
    elif value is None:
        return 0
    return _original(st.IntField, "_parse_value")(self, value)


def _int_pack(self: Any, value: Any) -> Any:
    codec = _codec(self)
    if codec is None:
        return _original(st.IntField, "_pack_value")(self, value)
    return codec.pack(value)


def _enum_parse(self: Any, value: Any) -> Any:
    number = st.IntField._parse_value(self, value)
    if type(number) is int and (number == 0 or not self.enum_strict or number in _enum_values(self.enum_type)):
        return number
    return _original(st.EnumField, "_parse_value")(self, value)


def _flag_parse(self: Any, value: Any) -> Any:
    number = st.IntField._parse_value(self, value)
    if type(number) is int and not (self.flag_strict and number & ~_flag_mask(self.flag_type)):
        return number
    return _original(st.FlagField, "_parse_value")(self, value)


def _bytes_parse(self: Any, value: Any) -> Any:
    if type(value) is bytes:
        return value
    return _original(st.BytesField, "_parse_value")(self, value)


def _calculated_value(self: Any, value: Any) -> Any:
    while callable(value):
        value = value(self.structure)
    return self._parse_value(value)


def _calculated_size(self: Any, size: Any, data: Any) -> Any:
    while callable(size):
        size = size(self.structure)
    return len(data) if size is None else size


def _structure_pack(self: Any) -> bytes:
    return b"".join([field.pack() for field in self.fields.values()])


def _structure_len(self: Any) -> int:
    return sum([len(field) for field in self.fields.values()])


# Atoms: what copy.deepcopy returns as is (Lib/copy.py's _deepcopy_atomic, and a class or a
# function), so an object holding only these is deep-copied by copying its attribute dict.
_ATOMS = (type(None), bool, int, float, str, bytes, type, types.FunctionType, types.BuiltinFunctionType, enum.Enum)


class _FieldCopies:
    """smbprotocol.structure's `copy`, for the one call it makes per list entry: a ListField
    deep-copies its entry template (an EnumField for each dialect, cipher and hash the
    NEGOTIATE carries, 16 per probe). Such a template holds atoms only (ints, bools, None, its
    enum class), and for that a copy of its attribute dict is the deep copy: ~0.3 ms of CPU per
    Samba probe spent in copy's generic recursion (bench/RESULTS.md). Anything else still gets
    copy.deepcopy itself."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(obj: object, memo: Optional[dict] = None) -> object:
        state = getattr(obj, "__dict__", None)
        if memo is None and type(state) is dict and all(isinstance(v, _ATOMS) for v in state.values()):
            twin = object.__new__(type(obj))
            twin.__dict__.update(state)
            return twin
        return copy.deepcopy(obj, memo)


# (class, method) -> (smbprotocol's own, the replacement)
PATCHES: Dict[Tuple[type, str], Tuple[Callable[..., Any], Callable[..., Any]]] = {
    (cls, name): (vars(cls)[name], fast)
    for cls, name, fast in (
        (st.IntField, "_parse_value", _int_parse),
        (st.IntField, "_pack_value", _int_pack),
        (st.EnumField, "_parse_value", _enum_parse),
        (st.FlagField, "_parse_value", _flag_parse),
        (st.BytesField, "_parse_value", _bytes_parse),
        (st.Field, "_get_calculated_value", _calculated_value),
        (st.Field, "_get_calculated_size", _calculated_size),
        (st.Structure, "pack", _structure_pack),
        (st.Structure, "__len__", _structure_len),
    )
}


def _original(cls: type, name: str) -> Callable[..., Any]:
    return PATCHES[cls, name][0]


def install() -> None:
    for (cls, name), (_, fast) in PATCHES.items():
        setattr(cls, name, fast)
    st.copy = _FieldCopies  # type: ignore[assignment]

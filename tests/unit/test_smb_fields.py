"""fswatch.probes.smbfields: smbprotocol.structure's field machinery with less work per field
(issue 21), giving what smbprotocol's own gives, values, bytes and errors alike. _FieldCopies:
the deep copy of a list entry's template, by copying its attribute dict where the template
holds atoms only, and by copy.deepcopy itself for anything else."""

from __future__ import annotations

import copy
import uuid
from enum import IntEnum

import pytest
import smbprotocol.structure as st
from smbprotocol.connection import (
    Dialects,
    SecurityMode,
    SMB2HeaderRequest,
    SMB2NegotiateRequest,
    SMB2NegotiateResponse,
)
from smbprotocol.header import Commands
from smbprotocol.tree import SMB2TreeConnectRequest

from fswatch.probes import smbfields
from fswatch.probes.smbfields import _FieldCopies


def test_an_atom_only_template_is_copied_as_deepcopy_would():
    template = st.EnumField(size=2, enum_type=Dialects)
    fast, slow = _FieldCopies.deepcopy(template), copy.deepcopy(template)
    assert type(fast) is type(slow) is st.EnumField and fast is not template
    assert vars(fast) == vars(slow)
    fast.set_value(Dialects.SMB_3_1_1)
    assert template.value is None and fast.pack() == b"\x11\x03"  # the template is untouched


def test_anything_mutable_inside_gets_the_real_deepcopy():
    holder = st.EnumField(size=2, enum_type=Dialects)
    holder.extra = [1, 2]
    twin = _FieldCopies.deepcopy(holder)
    assert twin.extra == [1, 2] and twin.extra is not holder.extra
    assert _FieldCopies.deepcopy([1, [2]]) == [1, [2]]


def test_a_negotiate_request_packs_the_same_either_way(monkeypatch):
    def packed() -> bytes:
        request = SMB2NegotiateRequest()
        request["dialects"] = [Dialects.SMB_2_0_2, Dialects.SMB_2_1_0, Dialects.SMB_3_0_2, Dialects.SMB_3_1_1]
        return request.pack()

    fast = packed()
    monkeypatch.setattr(st, "copy", copy)
    assert packed() == fast


# -- the field machinery (fswatch.probes.smbfields): the same values, bytes and errors as smbprotocol's own


@pytest.fixture
def original(monkeypatch):
    """A function that runs its argument with smbprotocol's own methods back in place."""

    def run(work):
        with monkeypatch.context() as undo:
            for (cls, name), (own, _) in smbfields.PATCHES.items():
                undo.setattr(cls, name, own)
            undo.setattr(st, "copy", copy)
            return work()

    return run


def outcome(work):
    """What `work` returns, or the type and text of what it raises."""
    try:
        return ("value", work())
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def named(field, name="n"):
    """A field as a structure leaves it: named, its structure given (none here)."""
    field.name, field.structure = name, None
    return field


def made_by(make, method, value):
    """What a new field from make() makes of `value` with `method`: its value, or what it raises."""
    return outcome(lambda: getattr(make(), method)(value))


def assert_alike(original, make, values, method="_parse_value"):
    for value in values:
        assert made_by(make, method, value) == original(lambda value=value: made_by(make, method, value)), value


def test_the_replacements_are_in_place_once_the_probe_module_is_loaded():
    import fswatch.probes.smb  # noqa: F401  (installs them)

    for (cls, name), (own, fast) in smbfields.PATCHES.items():
        assert vars(cls)[name] is fast and own is not fast
    assert st.copy is _FieldCopies


class Answer(IntEnum):
    YES = 1


def lambda_of(value):
    return lambda structure: (lambda structure: value)


INT_INPUTS = [None, 0, 7, -1, 255, 256, 1 << 64, True, Answer.YES, b"\x01", b"\x01\x02", b"\xff" * 4, b"\x80" * 8,
              b"", bytearray(b"\x01"), "1", 1.0, lambda structure: 3]  # fmt: skip


@pytest.mark.parametrize("size", [1, 2, 4, 8])
@pytest.mark.parametrize("unsigned", [True, False])
@pytest.mark.parametrize("little_endian", [True, False])
def test_an_int_field_parses_and_packs_as_smbprotocol_does(original, size, unsigned, little_endian):
    def field():
        return named(st.IntField(size=size, unsigned=unsigned, little_endian=little_endian))

    assert_alike(original, field, INT_INPUTS)
    assert_alike(original, field, (0, 1, -1, 127, 128, 255, 65535, 1 << 31, (1 << 63) - 1, Answer.YES, "x"),
                 "_pack_value")  # fmt: skip


def test_a_callable_size_is_left_to_smbprotocol():
    made = named(st.IntField(size=2))
    made.size = lambda structure: 4
    assert made._parse_value(b"\x01\x00\x00\x00") == 1 and made._pack_value(1) == b"\x01\x00\x00\x00"


@pytest.mark.parametrize("strict", [True, False])
def test_an_enum_field_accepts_and_refuses_as_smbprotocol_does(original, strict):
    def field():
        return named(st.EnumField(size=2, enum_type=Dialects, enum_strict=strict), "dialect")

    assert_alike(original, field, (0, Dialects.SMB_3_1_1, 0x0311, 0x0312, b"\x11\x03", b"\x12\x03", None, "x",
                                   lambda s: 1))  # fmt: skip
    assert made_by(field, "_parse_value", 0x0312)[0] == ("value" if not strict else "raised")


@pytest.mark.parametrize("strict", [True, False])
def test_a_flag_field_accepts_and_refuses_as_smbprotocol_does(original, strict):
    def field():
        return named(st.FlagField(size=2, flag_type=SecurityMode, flag_strict=strict), "security_mode")

    assert_alike(original, field, (0, 1, 2, 3, 4, 7, b"\x03\x00", b"\x04\x00", None, "x"))
    assert made_by(field, "_parse_value", 4)[0] == ("value" if not strict else "raised")


def test_a_bytes_field_parses_as_smbprotocol_does(original):
    assert_alike(original, lambda: named(st.BytesField(size=4), "blob"),
                 (b"", b"abcd", None, 5, SMB2NegotiateRequest(), "text", bytearray(b"ab"), memoryview(b"ab")))


def test_lambdas_are_expanded_as_smbprotocol_does(original):
    def expand():
        made = st.IntField(size=4)
        made.name, made.structure = "n", "the structure"
        seen = []

        def size(structure):
            seen.append(structure)
            return 4

        return (made._get_calculated_value(lambda_of(9)), made._get_calculated_value(None),
                made._get_calculated_size(lambda s: size, b"12345"), made._get_calculated_size(None, b"123"),
                made._get_calculated_size(2, b"123"), seen)  # fmt: skip

    assert expand() == original(expand) == (9, 0, 4, 3, 2, ["the structure"])


def negotiate_request():
    request = SMB2NegotiateRequest()
    request["security_mode"] = SecurityMode.SMB2_NEGOTIATE_SIGNING_ENABLED
    request["dialects"] = [Dialects.SMB_2_0_2, Dialects.SMB_2_1_0, Dialects.SMB_3_0_2, Dialects.SMB_3_1_1]
    request["client_guid"] = uuid.UUID(int=0x1234)
    return request


def header_request():
    header = SMB2HeaderRequest()
    header["command"] = Commands.SMB2_TREE_CONNECT
    header["message_id"] = 5
    header["session_id"] = 0x1122334455667788
    tree = SMB2TreeConnectRequest()
    tree["buffer"] = "\\\\127.0.0.1\\public".encode("utf-16-le")
    header["data"] = tree
    return header


def negotiate_answer():
    answer = SMB2NegotiateResponse()
    answer["security_mode"] = SecurityMode.SMB2_NEGOTIATE_SIGNING_ENABLED
    answer["dialect_revision"] = Dialects.SMB_3_0_2
    answer["server_guid"] = uuid.UUID(int=0xABCD)
    answer["capabilities"] = 0x2F
    answer["max_transact_size"] = answer["max_read_size"] = answer["max_write_size"] = 8388608
    answer["system_time"] = 133_000_000_000_000_000
    answer["server_start_time"] = 132_000_000_000_000_000  # its default is now: two calls differ
    answer["buffer"] = b"\x60\x28" + b"\x06" * 40
    return answer


@pytest.mark.parametrize("make", [negotiate_request, header_request, negotiate_answer])
def test_whole_messages_pack_and_parse_to_the_same_bytes_and_fields(original, make):
    def round_trip():
        message = make()
        packed = message.pack()
        again = type(message)()
        rest = again.unpack(packed)
        return packed, len(message), rest, str(again)

    assert round_trip() == original(round_trip)

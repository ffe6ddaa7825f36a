"""fswatch.probes.smb._FieldCopies: the deep copy smbprotocol.structure makes of a list entry's
template, by copying its attribute dict where the template holds atoms only (issue 21: ~0.3 ms
of CPU per Samba probe), and by copy.deepcopy itself for anything else."""

from __future__ import annotations

import copy

import smbprotocol.structure as st
from smbprotocol.connection import Dialects, SMB2NegotiateRequest

from fswatch.probes.smb import _FieldCopies


def test_smbprotocol_takes_its_copies_from_fswatch():
    assert st.copy is _FieldCopies


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

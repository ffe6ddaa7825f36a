"""The write canary's pieces without I/O (issue 22): the setting on every surface, the file's
name and the leftover rule, which alert a server's answer is, the XDR of NFSv3 CREATE/WRITE/
COMMIT/REMOVE/READDIR and of the NFSv4 OPEN/WRITE/READ/CLOSE/REMOVE/READDIR/SETCLIENTID
operations byte for byte, their decoders on valid answers and on garbage, and SMB's directory
listing on garbage. The real proof is tests/integration/test_write_canary.py."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.errors import ProbeFailure, ProtocolError, UsageError
from fswatch.core.observation import StageRecorder
from fswatch.core.settings import Schedule, check_canary_write, parse_conf
from fswatch.kinds import NFS, SAMBA, WatchSettings
from fswatch.probes import smb, write_canary
from fswatch.probes.nfs import NfsTarget, _WriteCanary
from fswatch.probes.samba import SambaTarget, _write_failure
from fswatch.rpc import nfs3, nfs4, nfs4write, nfs41
from fswatch.rpc.errors import NfsError, RpcConnectionError, RpcDecodeError, RpcTimeout
from fswatch.rpc.xdr import Decoder, Encoder
from fswatch.surfaces import clp
from fswatch.surfaces.ocf import watches as ocf
from tests.unit.garbage import PROPERTY, garbage_from
from tests.unit.test_canary import _smb_error
from tests.unit.test_rpc_nfs3 import FATTR3
from tests.unit.test_rpc_nfs41 import compound_res

# -- the setting, on every surface --------------------------------------------------------------


@pytest.mark.parametrize("good", [".", "cw", "a/b", "データ/書き込み"])
def test_good_canary_write_directories(good):
    assert check_canary_write(good) == good


@pytest.mark.parametrize("bad", ["", "/abs", "..", "a/../b", "./a", "a/.", "a//b", "a\\b", "a\nb", " a"])
def test_bad_canary_write_directories_are_refused(bad):
    with pytest.raises(UsageError) as info:
        check_canary_write(bad)
    assert info.value.alert == 11 and ("canary-write" in str(info.value) or bad == "")


@pytest.mark.parametrize("kind, base", [(SAMBA, {"share": "s"}), (NFS, {"export": "/x", "address": "127.0.0.1"})])
def test_canary_write_round_trips_to_the_probe_target_with_the_watch_as_owner(kind, base):
    target = kind.check_target({**base, "canary_write": "cw/dir"})
    values = parse_conf(WatchSettings(kind, "c1", Schedule(), target).to_conf(), "c1.conf")
    assert values["canary_write"] == "cw/dir"
    probe_target = kind.make_target(target, None, "c1")
    assert (probe_target.canary_write, probe_target.canary_owner) == ("cw/dir", f"{kind.name}.c1")
    assert kind.make_target(kind.check_target(base)).canary_write is None  # opt-in
    assert kind.make_target(target).canary_owner == f"{kind.name}._probe"  # `fswatch probe`


@pytest.mark.parametrize("kind", [SAMBA, NFS])
def test_clp_w_and_the_ocf_parameter(kind):
    option = "-s" if kind is SAMBA else "-d"
    req = clp.parse(kind, ["w1", option, "x" if kind is SAMBA else "/x", "-w", "cw"])
    assert req.values["canary_write"] == "cw" and clp.settings_of(req).target["canary_write"] == "cw"
    with pytest.raises(UsageError):
        clp.settings_of(clp.parse(kind, ["w1", option, "x" if kind is SAMBA else "/x", "-w", "../up"]))
    assert "canary_write" in [p.name for p in ocf.agent_for(kind).parameters]


@pytest.mark.parametrize("kind", [SAMBA, NFS])
def test_the_write_stages_can_be_injected_with_their_alerts(kind):
    assert [(s.name, s.alert) for s in kind.stages if s.name.startswith("write")] == [
        ("write_create", 135), ("write", 139), ("write_readback", 140), ("write_remove", 141), ("write_sweep", 139)
    ]  # fmt: skip


# -- names and leftovers ------------------------------------------------------------------------


def test_a_new_file_names_its_owner_and_life_and_carries_4_kib_of_random_data():
    clock = iter([100.0, 100.0, 100.0]).__next__
    deadline = Deadline(102.3, clock)
    first = write_canary.new_file("cw/dir", "nfs.web-1", deadline)
    assert first.name.startswith(".fswatch-canary.nfs.web-1.3.") and len(first.name.rpartition(".")[2]) == 16
    assert first.path == f"cw/dir/{first.name}" and first.directory_components == ["cw", "dir"]
    assert len(first.data) == 4096 and "data=" not in repr(first)  # never logged
    second = write_canary.new_file(".", "nfs.web-1", Deadline.after(1))
    assert second.path == second.name and second.directory_components == []
    assert (first.name != second.name) and (first.data != second.data)
    assert write_canary.life_of(first.name, "nfs.web-1") == 3


def test_life_is_at_least_one_second_and_at_most_five_digits():
    assert ".1." in write_canary.new_file(".", "o", Deadline.after(0)).name
    assert f".{write_canary.MAX_LIFE}." in write_canary.new_file(".", "o", Deadline.after(1e9)).name


@pytest.mark.parametrize(
    "name",
    [".fswatch-canary.nfs.web.2.0123456789abcdeX",  # not hex
     ".fswatch-canary.nfs.web.2.0123456789abcde",  # 15 digits
     ".fswatch-canary.nfs.web.2.0123456789abcdef.bak",  # a suffix
     "fswatch-canary.nfs.web.2.0123456789abcdef",  # no dot
     ".fswatch-canary.nfs.web-2.2.0123456789abcdef",  # another watch whose ID starts alike
     ".fswatch-canary.nfs.WEB.2.0123456789abcdef",  # IDs are case-sensitive
     ".fswatch-canary.samba.web.2.0123456789abcdef",  # another kind
     ".fswatch-canary.nfs.web.123456.0123456789abcdef",  # six digits of life
     ".fswatch-canary.nfs.web..0123456789abcdef"],  # no life
)  # fmt: skip
def test_only_the_owners_exact_grammar_is_its_canary_file(name):
    assert write_canary.life_of(name, "nfs.web") is None
    assert not write_canary.is_leftover(name, "nfs.web", 0.0, 1e9)


def test_a_leftover_is_older_than_its_life_plus_the_slack_on_one_clock():
    name = ".fswatch-canary.nfs.web.5.0123456789abcdef"
    assert write_canary.life_of(name, "nfs.web") == 5
    assert not write_canary.is_leftover(name, "nfs.web", 1000.0, 1000.0 + 5 + write_canary.CLOCK_SLACK)
    assert write_canary.is_leftover(name, "nfs.web", 1000.0, 1000.0 + 5 + write_canary.CLOCK_SLACK + 0.001)
    assert not write_canary.is_leftover(name, "nfs.web", 2000.0, 1000.0)  # modified "after" now: kept
    assert write_canary.search_pattern("nfs.web") == ".fswatch-canary.nfs.web.*"


def test_mismatch_says_what_differs_never_the_bytes():
    data = bytes(range(256)) * 16
    assert write_canary.mismatch(data, data) is None
    assert write_canary.mismatch(data, data[:100]) == "read back 100 of 4096 bytes"
    changed = bytearray(data)
    changed[7] ^= 1
    changed[4000] ^= 1
    assert write_canary.mismatch(data, bytes(changed)) == "2 of 4096 bytes differ, the first at offset 7"


@pytest.mark.parametrize(
    "status, alert",
    [("STATUS_MEDIA_WRITE_PROTECTED", 135), ("NFS3ERR_ROFS", 135), ("NFS4ERR_ROFS", 135),
     ("STATUS_DISK_FULL", 136), ("NFS3ERR_NOSPC", 136), ("NFS4ERR_NOSPC", 136),
     ("STATUS_QUOTA_EXCEEDED", 137), ("NFS3ERR_DQUOT", 137), ("NFS4ERR_DQUOT", 137),
     ("STATUS_ACCESS_DENIED", 138), ("NFS3ERR_ACCES", 138), ("NFS3ERR_PERM", 138), ("NFS4ERR_ACCESS", 138),
     ("NFS4ERR_PERM", 138), ("NFS3ERR_NOENT", 141), ("NFS3ERR_IO", 141), ("STATUS_OBJECT_PATH_NOT_FOUND", 141)],
)  # fmt: skip
def test_each_refusal_has_its_alert(status, alert):
    assert write_canary.alert_of(status) == alert


def _observed(failure=None, identity="the guest account (usually nobody)"):
    rec = StageRecorder()
    rec.note(write_canary.IDENTITY_NOTE, identity)
    return rec.observation(failure)


def test_add_refuses_only_a_denied_identity():
    denied = ProbeFailure(alerts.WRITE_DENIED, "write_create", "r", "cw: STATUS_ACCESS_DENIED (0xc0000022)")
    refusal = write_canary.refusal(_observed(denied))
    assert refusal == (
        "the server denies the guest account (usually nobody) the write canary (cw: STATUS_ACCESS_DENIED "
        "(0xc0000022), at write_create): give it write access to that directory, or choose another "
        "--canary-write directory"
    )
    assert write_canary.refusal(_observed()) is None  # it wrote
    for other in (alerts.WRITE_READ_ONLY, alerts.WRITE_BLOCKED, alerts.CONNECT):
        assert write_canary.refusal(_observed(ProbeFailure(other, "write", "r"))) is None  # the watch's to report


# -- how the probes judge a write canary stage ---------------------------------------------------

SMB_WRITE = SambaTarget("public", canary_write="cw", canary_owner="samba.w")
CANARY = write_canary.CanaryFile("cw", ".fswatch-canary.samba.w.2.0123456789abcdef", b"")


@pytest.mark.parametrize(
    "status, alert, name",
    [(0xC00000A2, 135, "STATUS_MEDIA_WRITE_PROTECTED"), (0xC000007F, 136, "STATUS_DISK_FULL"),
     (0xC0000044, 137, "STATUS_QUOTA_EXCEEDED"), (0xC0000022, 138, "STATUS_ACCESS_DENIED"),
     (0xC000003A, 141, "STATUS_OBJECT_PATH_NOT_FOUND")],
)  # fmt: skip
def test_samba_write_refusals_are_the_alert_of_their_status(status, alert, name):
    failure = _write_failure(_smb_error(status, bytes.fromhex("0900000000000000") + b"\0"), "write", SMB_WRITE,
                             CANARY, False)  # fmt: skip
    assert (failure.alert, failure.stage, failure.ntstatus, failure.canary) == (alert, "write", status, CANARY.path)
    assert failure.detail == f"cw: {name} (0x{status:08x})" and "\n" not in failure.reason


def test_samba_write_deadline_and_lost_connection_are_alert_139():
    timed_out = _write_failure(_smb_error(0xC000007F, b""), "write", SMB_WRITE, CANARY, True)
    assert (timed_out.alert, timed_out.timed_out, timed_out.errno, timed_out.detail) == (
        139, True, 110, "cw, write: Connection timed out"
    )  # fmt: skip
    closed = _write_failure(ConnectionResetError(104, "reset"), "write_create", SMB_WRITE, CANARY, False)
    assert (closed.alert, closed.timed_out, closed.stage) == (139, False, "write_create")
    garbled = _write_failure(ProtocolError("garbage"), "write_sweep", SMB_WRITE, CANARY, False)
    assert (garbled.alert, garbled.canary) == (alerts.RECEIVE, CANARY.path)


class _Raising(_WriteCanary):
    def __init__(self, exc):
        super().__init__(NfsTarget("/x", canary_write="cw", canary_owner="nfs.w"), StageRecorder(), "NFS at x",
                         Deadline.after(5))  # fmt: skip
        self.exc = exc


@pytest.mark.parametrize(
    "exc, alert, timed_out",
    [(NfsError("NFS3ERR_ROFS", "CREATE"), 135, False), (NfsError("NFS4ERR_NOSPC", "WRITE"), 136, False),
     (NfsError("NFS3ERR_DQUOT", "WRITE"), 137, False), (NfsError("NFS4ERR_ACCESS", "OPEN"), 138, False),
     (NfsError("NFS3ERR_NOENT", "LOOKUP"), 141, False), (RpcTimeout(), 139, True),
     (RpcConnectionError(104), 139, False), (RpcDecodeError("garbage"), alerts.NFS_STATUS, False)],
)  # fmt: skip
def test_nfs_write_stages_turn_errors_into_their_alerts(exc, alert, timed_out):
    flow = _Raising(exc)
    with pytest.raises(ProbeFailure) as info:
        with flow._stage("write"):
            raise exc
    failure = info.value
    assert (failure.alert, failure.stage, failure.timed_out, failure.canary) == (alert, "write", timed_out,
                                                                                  flow.canary.path)  # fmt: skip
    assert [(s.stage, s.ok) for s in flow.rec.stages] == [("write", False)]


def test_nfs_open_in_a_grace_period_is_a_degradation_not_a_failure():
    flow = _Raising(None)
    with flow._stage("write_create"):
        raise NfsError("NFS4ERR_GRACE", "OPEN")
    degraded = flow.grace.degradation("NFSv4.0 at x", 45)
    assert degraded is not None and (degraded.stage, degraded.status) == ("write_create", "NFS4ERR_GRACE")
    with pytest.raises(ProbeFailure):  # only the OPEN meets a grace period; a WRITE refused so fails
        with flow._stage("write"):
            raise NfsError("NFS4ERR_GRACE", "WRITE")


# -- NFSv3 (RFC 1813 sections 3.3.7, 3.3.8, 3.3.12, 3.3.16, 3.3.21) ---------------------------------


def test_nfs3_write_canary_arguments():
    assert nfs3.encode_create(b"\x01", "ab", 0o600).hex() == (
        "00000001" "01000000" "00000002" "61620000" "00000001"  # dir, name, GUARDED
        "00000001" "00000180" "00000000" "00000000" "00000000" "00000000" "00000000"  # mode 0600 only
    )  # fmt: skip
    assert nfs3.encode_write(b"\x01", 0, b"abcde", nfs3.FILE_SYNC).hex() == (
        "00000001" "01000000" "0000000000000000" "00000005" "00000002" "00000005" "6162636465000000"
    )  # fmt: skip
    assert nfs3.encode_commit(b"\x01").hex() == "00000001" "01000000" "0000000000000000" "00000000"
    assert nfs3.encode_readdir(b"\x01", 7, b"V" * 8, 32768).hex() == (
        "00000001" "01000000" "0000000000000007" + (b"V" * 8).hex() + "00008000"
    )


def wcc(after: bool = True) -> bytes:
    enc = Encoder()
    enc.boolean(True)
    enc.raw(b"\0" * 24)
    enc.boolean(after)
    if after:
        enc.raw(FATTR3)
    return enc.bytes()


def create3_ok(fh=b"F" * 8) -> bytes:
    enc = Encoder()
    enc.uint32(0)
    enc.boolean(fh is not None)
    if fh is not None:
        enc.opaque(fh)
    enc.boolean(True)
    enc.raw(FATTR3)
    enc.raw(wcc())
    return enc.bytes()


def write3_ok(count=4096, committed=2) -> bytes:
    return struct.pack(">I", 0) + wcc() + struct.pack(">II", count, committed) + b"V" * 8


def readdir3_ok(names, eof=True) -> bytes:
    enc = Encoder()
    enc.uint32(0)
    enc.boolean(False)
    enc.raw(b"C" * 8)
    for i, name in enumerate(names):
        enc.boolean(True)
        enc.uint64(100 + i)
        enc.string(name)
        enc.uint64(i + 1)
    enc.boolean(False)
    enc.boolean(eof)
    return enc.bytes()


def test_nfs3_write_canary_results():
    handle, attributes = nfs3.decode_create_result(Decoder(create3_ok()))
    assert handle == b"F" * 8 and attributes is not None and attributes.type
    assert nfs3.decode_create_result(Decoder(create3_ok(None)))[0] is None  # post_op_fh3 may be absent
    written = nfs3.decode_write_result(Decoder(write3_ok()))
    assert (written.count, written.committed) == (4096, nfs3.FILE_SYNC) and written.mtime is not None
    page = nfs3.decode_readdir_result(Decoder(readdir3_ok(["a", ".fswatch-canary.x"], eof=False)), 0)
    assert (page.names, page.cookie, page.cookieverf, page.eof) == (("a", ".fswatch-canary.x"), 2, b"C" * 8, False)
    assert nfs3.decode_readdir_result(Decoder(readdir3_ok([])), 9).cookie == 9


@pytest.mark.parametrize(
    "res, decode, status, op",
    [(struct.pack(">I", 30) + wcc(), nfs3.decode_create_result, "NFS3ERR_ROFS", "CREATE"),
     (struct.pack(">I", 28) + wcc(), nfs3.decode_write_result, "NFS3ERR_NOSPC", "WRITE"),
     (struct.pack(">I", 69) + wcc(False), nfs3.decode_write_result, "NFS3ERR_DQUOT", "WRITE"),
     (struct.pack(">I", 13) + wcc(), nfs3.decode_remove_result, "NFS3ERR_ACCES", "REMOVE"),
     (struct.pack(">II", 2, 0), lambda d: nfs3.decode_readdir_result(d, 0), "NFS3ERR_NOENT", "READDIR"),
     (struct.pack(">I", 5) + wcc(), nfs3.decode_commit_result, "NFS3ERR_IO", "COMMIT")],
)  # fmt: skip
def test_nfs3_write_canary_failures_by_name(res, decode, status, op):
    with pytest.raises(NfsError) as info:
        decode(Decoder(res))
    assert (info.value.status, info.value.operation) == (status, op)


def test_nfs3_a_stability_that_is_none_is_garbage():
    with pytest.raises(RpcDecodeError, match="stable_how"):
        nfs3.decode_write_result(Decoder(write3_ok(committed=7)))


@given(results=garbage_from(create3_ok(), write3_ok(), readdir3_ok(["a", "b"])))
@PROPERTY
def test_nfs3_write_canary_decoders_give_a_result_or_a_typed_error(results):
    for decode in (nfs3.decode_create_result, nfs3.decode_write_result, nfs3.decode_remove_result,
                   lambda d: nfs3.decode_readdir_result(d, 0), nfs3.decode_lookup_attributes):  # fmt: skip
        try:
            decode(Decoder(results))
        except (RpcDecodeError, NfsError):
            pass


# -- NFSv4 (RFC 7530 section 16, RFC 8881 section 18) ---------------------------------------------


def test_nfs4_open_create_arguments():
    op, args = nfs4write.open_create(0, 0x1122334455667788, b"own", "f", 0o600, 0)
    assert op == nfs4write.OP_OPEN and args.hex() == (
        "00000000" "00000003" "00000000"  # seqid, share access both, deny none
        "1122334455667788" "00000003" "6f776e00"  # open owner: client ID, "own"
        "00000001" "00000001"  # OPEN4_CREATE, GUARDED4
        "00000002" "00000000" "00000002" "00000004" "00000180"  # fattr4: bit 33 (mode), 4 bytes: 0600
        "00000000" "00000001" "66000000"  # CLAIM_NULL "f"
    )  # fmt: skip
    _, args41 = nfs4write.open_create(0, 1, b"o", "f", 0o600, 1)
    assert args41[4:8].hex() == "00000403"  # and WANT_NO_DELEG from v4.1 on


def test_nfs4_state_arguments():
    stateid = bytes(range(16))
    assert nfs4write.write(stateid, b"ab")[1] == stateid + bytes.fromhex("0000000000000000" "00000002" "00000002"
                                                                          "61620000")  # fmt: skip
    assert nfs4write.read(stateid, 4096)[1] == stateid + bytes.fromhex("0000000000000000" "00001000")
    assert nfs4write.close(2, stateid)[1] == bytes.fromhex("00000002") + stateid
    assert nfs4write.open_confirm(stateid, 1)[1] == stateid + bytes.fromhex("00000001")
    assert nfs4write.remove("f")[1].hex() == "00000001" "66000000"
    assert nfs4write.readdir(0, bytes(8), 32768)[1].hex() == (
        "0000000000000000" "0000000000000000" "00008000" "00008000" "00000002" "00000002" "00200000"
    )  # fmt: skip  (type: bit 1; time_modify: bit 53 = word 1 bit 21)
    op, args = nfs4write.setclientid(b"V" * 8, b"me")
    assert op == nfs4write.OP_SETCLIENTID and args.hex() == (
        (b"V" * 8).hex() + "00000002" "6d650000" "40000000" "00000003" "74637000" "0000000b"
        + b"0.0.0.0.0.0".hex() + "00" + "00000000"
    )


def open_resok(delegation: bytes = struct.pack(">I", 0), rflags: int = 2) -> bytes:
    return bytes(range(16)) + struct.pack(">IQQI", 1, 1, 2, rflags) + struct.pack(">I", 0) + delegation


READ_DELEGATION = struct.pack(">I", 1) + b"D" * 16 + struct.pack(">IIIII", 0, 0, 0, 0, 0)
WRITE_DELEGATION = struct.pack(">I", 2) + b"D" * 16 + struct.pack(">IIQ", 0, 1, 4096) + struct.pack(">IIII", 0, 0, 0, 0)


@pytest.mark.parametrize(
    "delegation, expected",
    [(struct.pack(">I", 0), None), (struct.pack(">II", 3, 7) + struct.pack(">I", 1), None),
     (struct.pack(">II", 3, 0), None), (READ_DELEGATION, b"D" * 16), (WRITE_DELEGATION, b"D" * 16)],
)  # fmt: skip
def test_nfs4_open_result_with_every_kind_of_delegation(delegation, expected):
    result = nfs4write.decode_open(Decoder(open_resok(delegation)))
    assert (result.stateid, result.rflags, result.delegation) == (bytes(range(16)), 2, expected)


def readdir4_ok(entries, eof=True) -> bytes:
    enc = Encoder()
    enc.raw(b"C" * 8)
    for i, (name, ftype, seconds) in enumerate(entries):
        enc.boolean(True)
        enc.uint64(i + 1)
        enc.string(name)
        enc.array(nfs4.bitmap4([nfs4.FATTR4_TYPE, nfs4.FATTR4_TIME_MODIFY]), Encoder.uint32)
        enc.opaque(struct.pack(">IqI", ftype, seconds, 500_000_000))
    enc.boolean(False)
    enc.boolean(eof)
    return enc.bytes()


def test_nfs4_readdir_gives_names_types_and_times():
    page = nfs4write.decode_readdir(Decoder(readdir4_ok([("a", 1, 10), ("d", 2, 20)], eof=False)))
    assert [(e.name, e.attributes.type, e.attributes.time_modify) for e in page.entries] == [
        ("a", "NF4REG", 10.5), ("d", "NF4DIR", 20.5)
    ]  # fmt: skip
    assert (page.cookie, page.eof) == (2, False)


def test_nfs4_bad_nanoseconds_and_delegation_types_are_garbage():
    with pytest.raises(RpcDecodeError, match="nseconds"):
        nfs4.decode_fattr4(nfs4.bitmap4([nfs4.FATTR4_TIME_MODIFY]), struct.pack(">qI", 1, 10**9))
    with pytest.raises(RpcDecodeError, match="delegation"):
        nfs4write.decode_open(Decoder(open_resok(struct.pack(">I", 9))))


def test_nfs4_channel_puts_sequence_first_in_a_session_and_counts_it_up():
    sent = []

    class Client:
        def call(self, program, version, procedure, args, deadline):
            sent.append(args)
            seq = nfs41.encode_sequence(bytes(16), 0)[:16]  # the session id the answer names
            resok = seq + struct.pack(">5I", 0, 0, 0, 0, 0)
            return Decoder(compound_res(0, [(nfs41.OP_SEQUENCE, 0, resok), (nfs4write.OP_REMOVE, 0,
                                                                           struct.pack(">IQQ", 1, 1, 2))]))  # fmt: skip

    channel = nfs4write.Channel(Client(), 1, Deadline.after(5), nfs41.Sequencer(bytes(16), 3))
    channel.call([nfs4write.remove("f")], nfs4write.READERS)
    channel.call([nfs4write.remove("f")], nfs4write.READERS)
    # after the tag "fswatch" (4 + 8 bytes): minor 1, 2 operations, SEQUENCE, the session, sequence id
    assert [args[12:20].hex() for args in sent] == ["00000001" "00000002"] * 2
    assert [struct.unpack(">I", args[40:44])[0] for args in sent] == [3, 4]
    other = nfs4write.Channel(Client(), 1, Deadline.after(5), nfs41.Sequencer(b"\x01" * 16, 1))
    with pytest.raises(RpcDecodeError, match="another session"):
        other.call([nfs4write.remove("f")], nfs4write.READERS)


@given(results=garbage_from(open_resok(WRITE_DELEGATION), readdir4_ok([("a", 1, 1)])))
@PROPERTY
def test_nfs4_write_canary_decoders_give_a_result_or_a_typed_error(results):
    for decode in (nfs4write.decode_open, nfs4write.decode_readdir, nfs4write.decode_write,
                   nfs4write.decode_setclientid, nfs4write.decode_read_data):  # fmt: skip
        try:
            decode(Decoder(results))
        except RpcDecodeError:
            pass


# -- SMB's directory listing (MS-FSCC 2.4.10) -------------------------------------------------------


def directory_entry(name: str, written: int, attributes: int = 0x20, last: bool = True) -> bytes:
    encoded = name.encode("utf-16-le")
    size = smb._DIRECTORY_ENTRY.size + len(encoded)
    size += -size % 8
    following = 0 if last else size
    body = smb._DIRECTORY_ENTRY.pack(following, 0, 0, 0, written, 0, 0, 0, attributes, len(encoded)) + encoded
    return body + b"\0" * (size - len(body))


def test_smb_directory_entries_give_names_times_and_directories():
    seconds = 1_700_000_000
    filetime = seconds * 10_000_000 + smb.FILETIME_EPOCH
    listing = directory_entry("a.txt", filetime, last=False) + directory_entry("d", filetime, 0x10)
    entries = smb.parse_directory(listing)
    assert [(e.name, e.last_write, e.directory) for e in entries] == [("a.txt", seconds, False), ("d", seconds, True)]


@pytest.mark.parametrize(
    "listing",
    [b"", b"\0" * 10, directory_entry("a", 0)[:-8], struct.pack("<I", 3) + directory_entry("a", 0)[4:],
     directory_entry("ab", 0)[:60] + struct.pack("<I", 3) + directory_entry("ab", 0)[64:]],
    ids=["empty", "short", "cut-name", "points-inside-itself", "odd-name-length"],
)  # fmt: skip
def test_smb_garbled_directory_listings_are_protocol_errors(listing):
    with pytest.raises(ProtocolError):
        smb.parse_directory(listing)


@given(buffer=garbage_from(directory_entry("a", 5, last=False) + directory_entry("bc", 7)))
@PROPERTY
def test_smb_directory_listing_any_bytes_give_entries_or_a_protocol_error(buffer):
    try:
        entries = smb.parse_directory(buffer)
    except ProtocolError:
        return
    assert len(entries) <= len(buffer) // smb._DIRECTORY_ENTRY.size

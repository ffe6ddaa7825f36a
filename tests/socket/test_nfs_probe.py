"""probe_nfs against in-process fake RPC services: each server answer -> its alert and stage.

The real proof is tests/integration/test_nfs_probe.py (rpcbind + nfs-ganesha); these fakes
produce the answers a real server is hard to provoke (NFS3ERR_STALE, AUTH_TOOWEAK, garbage,
a portmapper with nothing registered) and check the probe's timing and cleanup.
"""

from __future__ import annotations

import errno
import os
import resource
import struct
import threading
import time
from typing import Callable, Dict, Tuple, Union

import pytest

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.kinds import KINDS
from fswatch.probes.nfs import NfsTarget, probe_nfs
from fswatch.rpc import nfs4, portmap
from fswatch.rpc.message import AUTH_SYS, Call, encode_reply
from fswatch.rpc.transport import may_bind_reserved
from fswatch.rpc.xdr import Decoder, Encoder
from tests.socket.fakes import Peer, TcpServer, closed_port, open_fds
from tests.timing import PROBE_SLACK

SLACK = PROBE_SLACK  # past its deadline: derived from the bound's 0.5 s (tests/timing.py)
LONG = 5.0
AT_ONCE = 1.0  # seconds: "did not wait for the deadline" (LONG is 5x more); no tighter claim is made
EXPORT = "/srv/export"
FHANDLE = b"\x42" * 32
FIN, STALL, GARBAGE = "fin", "stall", "garbage"

Answer = Union[bytes, dict, str]  # results of a SUCCESS, encode_reply keywords, or FIN/STALL/GARBAGE
Handler = Callable[[Call], Answer]
Key = Tuple[int, int, int]  # program, version, procedure


def _mnt_ok(call: Call) -> bytes:
    enc = Encoder()
    enc.uint32(0)
    enc.opaque(FHANDLE)
    enc.array([1], Encoder.int32)
    return enc.bytes()


FATTR3 = struct.pack(">5I2Q2I2Q6I", 2, 0o755, 2, 0, 0, 4096, 4096, 0, 0, 7, 2, 0, 0, 0, 0, 0, 0)


def _minor_vers_mismatch() -> bytes:
    enc = Encoder()
    enc.uint32(nfs4.NFS4ERR_MINOR_VERS_MISMATCH)
    enc.opaque(b"")
    enc.uint32(0)  # no results
    return enc.bytes()


def _compound_ok(call: Call) -> bytes:
    """A v4.0-only server: the walk's results, or NFS4ERR_MINOR_VERS_MISMATCH for v4.1 and 4.2."""
    dec = Decoder(call.args)
    dec.opaque()  # tag
    if dec.uint32() != 0:  # minorversion
        return _minor_vers_mismatch()
    ops = dec.uint32() - 2  # LOOKUPs between PUTROOTFH and GETATTR
    enc = Encoder()
    enc.uint32(0)
    enc.opaque(b"")
    enc.uint32(ops + 2)
    for op in [24] + [15] * ops:
        enc.uint32(op)
        enc.uint32(0)
    enc.uint32(9)
    enc.uint32(0)
    enc.array([0b10], Encoder.uint32)
    enc.opaque(struct.pack(">I", 2))  # NF4DIR
    return enc.bytes()


HEALTHY: Dict[Key, Handler] = {
    (100005, 3, 1): _mnt_ok,
    (100005, 3, 3): lambda call: b"",
    (100003, 3, 0): lambda call: b"",
    (100003, 3, 1): lambda call: bytes(4) + FATTR3,
    (100003, 3, 18): lambda call: bytes(4) + b"\0\0\0\0" + struct.pack(">6QI", 9, 8, 7, 6, 5, 4, 0),
    (100003, 4, 1): _compound_ok,
}


class FakeService:
    """One TCP server speaking whatever programs `handlers` answer; records every call."""

    def __init__(self, **overrides: Handler) -> None:
        self.handlers = dict(HEALTHY)
        self.calls: list = []
        names = {"mnt": (100005, 3, 1), "umnt": (100005, 3, 3), "null": (100003, 3, 0),
                 "getattr": (100003, 3, 1), "fsstat": (100003, 3, 18), "compound": (100003, 4, 1),
                 "getport": (100000, 2, 3)}  # fmt: skip
        for name, handler in overrides.items():
            self.handlers[names[name]] = handler
        self.server = TcpServer(self._serve)
        self.port = self.server.port

    def _serve(self, peer: Peer) -> None:
        while True:
            call = peer.read_call()
            if call is None:
                return
            self.calls.append(call)
            handler = self.handlers.get((call.program, call.version, call.procedure))
            answer = handler(call) if handler else {"accept_stat": 1}
            if answer == FIN:
                return
            if answer == STALL:
                peer.wait_closed()
                return
            if answer == GARBAGE:
                peer.send_record(encode_reply(call.xid)[:10])
            elif isinstance(answer, dict):
                peer.reply(call, **answer)
            else:
                peer.reply(call, answer)

    def target(self, **kw) -> NfsTarget:
        kw.setdefault("port", self.port)
        kw.setdefault("mount_port", self.port)
        return NfsTarget(EXPORT, **kw)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def service_factory():
    made = []

    def make(**overrides: Handler) -> FakeService:
        made.append(FakeService(**overrides))
        return made[-1]

    yield make
    for service in made:
        service.close()


def probe(target: NfsTarget, seconds: float = LONG):
    t0 = time.monotonic()
    obs = probe_nfs(target, Deadline.after(seconds))
    return obs, time.monotonic() - t0


def stages(obs) -> list:
    return [(s.stage, s.ok) for s in obs.stages]


def test_healthy_v3_runs_every_stage_on_one_connection(service_factory):
    service = service_factory()
    obs, elapsed = probe(service.target())
    assert obs.ok, obs.to_dict()
    assert stages(obs) == [("mount", True), ("nfs_null", True), ("getattr", True), ("fsstat", True), ("umount", True)]
    assert service.server.accepted == 1  # MOUNT and NFS share the port here, so one connection
    assert [c.procedure for c in service.calls] == [1, 0, 1, 18, 3]
    mnt = service.calls[0]
    assert Decoder(mnt.args).string() == EXPORT
    assert Decoder(service.calls[2].args).opaque() == FHANDLE
    assert all(c.cred.flavor == AUTH_SYS for c in service.calls)
    assert dict(obs.notes)["source_port"] == ("reserved" if may_bind_reserved() else "unprivileged")
    assert elapsed < AT_ONCE


def test_healthy_v4(service_factory):
    service = service_factory()
    obs, _ = probe(service.target(version=4, minor_version=0, mount_port=None))
    assert obs.ok, obs.to_dict()
    assert stages(obs) == [("connect", True), ("compound", True)]
    dec = Decoder(service.calls[0].args)
    assert dec.opaque() == b"fswatch" and dec.uint32() == 0 and dec.uint32() == 4  # PUTROOTFH, 2x LOOKUP, GETATTR
    assert dict(obs.notes)["nfs_version"] == "4.0"


def test_v4_falls_back_to_4_0_on_a_server_without_sessions(service_factory):
    service = service_factory()  # answers NFS4ERR_MINOR_VERS_MISMATCH to minor versions 1 and 2
    obs, _ = probe(service.target(version=4, mount_port=None))
    assert obs.ok, obs.to_dict()
    assert stages(obs) == [("connect", True), ("exchange_id", True), ("compound", True)]
    minors = []
    for call in service.calls:
        dec = Decoder(call.args)
        dec.opaque()
        minors.append(dec.uint32())
    assert minors == [2, 1, 0]
    assert dict(obs.notes)["nfs_version"] == "4.0"


@pytest.mark.parametrize("minor", [1, 2])
def test_v4_pinned_minor_version_the_server_refuses_is_alert_85(service_factory, minor):
    service = service_factory()
    obs, _ = probe(service.target(version=4, minor_version=minor, mount_port=None))
    failure = obs.failure
    assert (failure.alert, failure.stage, failure.detail) == (85, "exchange_id", "NFS4ERR_MINOR_VERS_MISMATCH")
    assert obs.failure.message(KINDS["nfs"], EXPORT) == "clp_nfsmon: NFS4ERR_MINOR_VERS_MISMATCH"
    assert len(service.calls) == 1


@pytest.mark.parametrize(
    "override, stage, alert, detail, rpc_status",
    [
        ({"mnt": lambda c: struct.pack(">I", 2)}, "mount", 81, "MNT3ERR_NOENT", "MNT3ERR_NOENT"),
        ({"mnt": lambda c: {"accept_stat": 1}}, "mount", 85, "RPC: Program unavailable (PROG_UNAVAIL)",
         "PROG_UNAVAIL"),
        ({"null": lambda c: {"denied": (1, 5)}}, "nfs_null", 85,
         "RPC: Authentication error; why = Client credential too weak (AUTH_TOOWEAK)", "AUTH_TOOWEAK"),
        ({"null": lambda c: {"accept_stat": 2, "mismatch": (4, 4)}}, "nfs_null", 85,
         "RPC: Program/version mismatch; low version = 4, high version = 4 (PROG_MISMATCH)", "PROG_MISMATCH"),
        ({"getattr": lambda c: struct.pack(">I", 70)}, "getattr", 85, "NFS3ERR_STALE", "NFS3ERR_STALE"),
        ({"getattr": lambda c: GARBAGE}, "getattr", 85, "RPC: Can't decode result", "RPC_CANTDECODERES"),
        ({"fsstat": lambda c: struct.pack(">II", 10008, 0)}, "fsstat", 85, "NFS3ERR_JUKEBOX", "NFS3ERR_JUKEBOX"),
        ({"null": lambda c: FIN}, "nfs_null", 84, "Connection reset by peer", "RPC_CANTRECV"),
        ({"umnt": lambda c: FIN}, "umount", 84, "Connection reset by peer", "RPC_CANTRECV"),
    ],
    ids=["mnt-noent", "prog-unavail", "auth-tooweak", "prog-mismatch", "stale", "garbage", "jukebox", "fin",
         "umnt-fin"],
)  # fmt: skip
def test_server_answers_become_alerts(service_factory, override, stage, alert, detail, rpc_status):
    service = service_factory(**override)
    obs, elapsed = probe(service.target())
    failure = obs.failure
    assert failure is not None
    assert (failure.alert, failure.stage, failure.detail, failure.rpc_status) == (alert, stage, detail, rpc_status)
    assert obs.stages[-1].stage == stage and not obs.stages[-1].ok
    assert elapsed < AT_ONCE  # none of these waits for the deadline


@pytest.mark.parametrize(
    "status, alert",
    [(2, 81), (13, 81), (70, 85)],
    ids=["noent", "access", "stale"],
)
def test_v4_lookup_errors(service_factory, status, alert):
    def lookup_fails(call: Call) -> bytes:
        enc = Encoder()
        enc.uint32(status)
        enc.opaque(b"")
        enc.uint32(2)
        enc.uint32(24)
        enc.uint32(0)
        enc.uint32(15)
        enc.uint32(status)
        return enc.bytes()

    service = service_factory(compound=lookup_fails)
    obs, _ = probe(service.target(version=4, minor_version=0, mount_port=None))
    assert (obs.failure.alert, obs.failure.stage) == (alert, "compound")
    assert obs.failure.rpc_status.startswith("NFS4ERR_")


def _secinfo_krb5p_only(call: Call) -> bytes:
    """A krb5p export: the walk's LOOKUP meets NFS4ERR_WRONGSEC, SECINFO of it names krb5p alone."""
    dec = Decoder(call.args)
    dec.opaque()  # tag
    dec.uint32()  # minor version
    dec.uint32()  # the number of operations
    ops = [dec.uint32() for _ in range(2)]  # PUTROOTFH (no arguments), then LOOKUP (the walk) or SECINFO
    enc = Encoder()
    if ops[1] == nfs4.OP_SECINFO:  # NFS4_OK, no tag, 2 results: PUTROOTFH ok, SECINFO ok with one entry
        enc.uint32(0)
        enc.opaque(b"")
        enc.uint32(2)
        enc.uint32(24)
        enc.uint32(0)
        enc.uint32(33)
        enc.uint32(0)
        enc.uint32(1)  # one secinfo4
        enc.uint32(6)  # RPCSEC_GSS
        enc.opaque(nfs4.KRB5_OID_DER)
        enc.uint32(0)  # qop
        enc.uint32(3)  # rpc_gss_svc_privacy
        return enc.bytes()
    enc.uint32(10016)
    enc.opaque(b"")
    for value in (2, 24, 0, 15, 10016):  # PUTROOTFH ok, LOOKUP NFS4ERR_WRONGSEC
        enc.uint32(value)
    return enc.bytes()


def test_a_krb5_export_without_kerberos_settings_is_one_line_after_secinfo(service_factory):
    service = service_factory(compound=_secinfo_krb5p_only)
    obs, _ = probe(service.target(version=4, minor_version=0, mount_port=None))
    failure = obs.failure
    assert (failure.alert, failure.stage, failure.detail) == (150, "secinfo", "krb5p")
    assert failure.reason == "export requires sec=krb5p; this watch has no Kerberos credentials (--keytab)"
    assert [s.stage for s in obs.stages][-2:] == ["compound", "secinfo"]


@pytest.mark.parametrize("stalled", ["mnt", "getattr", "umnt"])
def test_stall_at_any_stage_ends_at_the_deadline(service_factory, stalled):
    service = service_factory(**{stalled: lambda c: STALL})
    obs, elapsed = probe(service.target(), 0.5)
    failure = obs.failure
    assert (failure.alert, failure.timed_out, failure.errno) == (84, True, errno.ETIMEDOUT)
    assert failure.detail == "Connection timed out"
    assert failure.stage == {"mnt": "mount", "getattr": "getattr", "umnt": "umount"}[stalled]
    assert 0.5 <= elapsed <= 0.5 + SLACK


def test_refused_mount_port(service_factory):
    service = service_factory()
    obs, elapsed = probe(service.target(mount_port=closed_port()))
    assert (obs.failure.alert, obs.failure.stage, obs.failure.detail) == (84, "mount", "Connection refused")
    assert obs.failure.errno == errno.ECONNREFUSED
    assert elapsed < AT_ONCE


def test_portmapper_with_nothing_registered_gives_83_and_no_connect_to_port_0(service_factory, monkeypatch):
    service = service_factory(getport=lambda c: bytes(4))
    monkeypatch.setattr(portmap, "PORT", service.port)
    obs, _ = probe(NfsTarget(EXPORT))
    assert (obs.failure.alert, obs.failure.stage, obs.failure.rpc_status) == (83, "portmap", "RPC_PROGNOTREGISTERED")
    assert service.server.accepted == 1  # the portmapper's connection only: nothing to port 0
    # Both GETPORTs go out together (one round trip) and MOUNT's answer is the one reported; the
    # probe may hang up before this server has read the second (its RST drops what is unread).
    asked = [list(struct.unpack(">4I", c.args)) for c in service.calls]
    assert asked in ([[100005, 3, 6, 0]], [[100005, 3, 6, 0], [100003, 3, 6, 0]]), asked
    assert "program 100005 version 3" in obs.failure.reason


def test_portmapper_asks_for_mount_and_nfs_then_uses_the_ports(service_factory, monkeypatch):
    service = service_factory(getport=lambda c: struct.pack(">I", service.port))
    monkeypatch.setattr(portmap, "PORT", service.port)
    obs, _ = probe(NfsTarget(EXPORT))
    assert obs.ok, obs.to_dict()
    getports = [struct.unpack(">4I", c.args)[:3] for c in service.calls if c.program == 100000]
    assert getports == [(100005, 3, 6), (100003, 3, 6)]
    assert stages(obs)[0] == ("portmap", True)


@pytest.mark.parametrize(
    "answer, detail",
    [(lambda c: {"accept_stat": 1}, "RPC: Program unavailable (PROG_UNAVAIL)"),
     (lambda c: GARBAGE, "RPC: Can't decode result"),
     (lambda c: FIN, "RPC: Unable to receive; errno = Connection reset by peer")],
    ids=["prog-unavail", "garbage", "fin"],
)  # fmt: skip
def test_portmapper_failures_give_82(service_factory, monkeypatch, answer, detail):
    service = service_factory(getport=answer)
    monkeypatch.setattr(portmap, "PORT", service.port)
    obs, _ = probe(NfsTarget(EXPORT))
    assert (obs.failure.alert, obs.failure.stage, obs.failure.detail) == (82, "portmap", detail)


def test_no_socket_gives_alert_42():
    may_bind_reserved()  # cached before the limit drops: the probe must need no fd but its socket
    target = NfsTarget(EXPORT, port=closed_port(), mount_port=2)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.dup(0)
    os.close(lowest_free)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        obs = probe_nfs(target, Deadline.after(LONG))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert (obs.failure.alert, obs.failure.errno, obs.failure.detail) == (42, errno.EMFILE, str(errno.EMFILE))


def test_no_fd_leak_after_200_failing_probes(service_factory):
    service = service_factory(getattr=lambda c: FIN)
    refused = closed_port()
    before = open_fds()
    for i in range(200):
        target = service.target() if i % 2 else service.target(mount_port=refused)
        assert not probe_nfs(target, Deadline.after(LONG)).ok
    assert open_fds() == before


def _compound_with_counts(call: Call) -> bytes:
    """Like _compound_ok, but the GETATTR also carries the six space and file counts."""
    healthy = _compound_ok(call)
    type_only = struct.pack(">4I", 1, 0b10, 4, 2)  # its fattr4: bitmap4 {type}, 4 bytes of NF4DIR
    assert healthy.endswith(type_only)
    vals = struct.pack(">I6Q", 2, 1, 2, 3, 4 << 30, 5 << 30, 6 << 30)  # NF4DIR, files_*, space_*
    enc = Encoder()
    enc.array(nfs4.bitmap4(nfs4.PROBE_ATTRS), Encoder.uint32)
    enc.opaque(vals)
    return healthy[: -len(type_only)] + enc.bytes()


def test_v4_getattr_asks_for_the_counts_only_the_storage_knows(service_factory):
    service = service_factory(compound=_compound_with_counts)
    obs, _ = probe(service.target(version=4, minor_version=0, mount_port=None))
    assert obs.ok and "storage" not in dict(obs.notes), obs.to_dict()
    dec = Decoder(service.calls[0].args)
    dec.opaque(), dec.uint32()
    ops = dec.uint32()
    for _ in range(ops - 1):  # PUTROOTFH, LOOKUP "srv", LOOKUP "export"
        if dec.uint32() == nfs4.OP_LOOKUP:
            dec.string()
    assert dec.uint32() == nfs4.OP_GETATTR
    asked = dec.array(Decoder.uint32)
    assert asked == nfs4.bitmap4(nfs4.PROBE_ATTRS)
    assert asked[1] & (1 << (nfs4.FATTR4_SPACE_AVAIL - 32))


def test_v4_server_without_counts_says_the_storage_was_not_reached(service_factory):
    service = service_factory()  # _compound_ok: the type only
    obs, _ = probe(service.target(version=4, mount_port=None))
    assert obs.ok
    assert dict(obs.notes)["storage"] == "not reached: the server sent no space or file counts"


@pytest.mark.parametrize(
    "bug", [IndexError("index"), struct.error("unpack"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
            KeyError(7), OverflowError("big"), MemoryError(), ValueError("value")],  # fmt: skip
    ids=lambda bug: type(bug).__name__,
)
@pytest.mark.parametrize("where", ["decode_fsstat_result", "decode_mnt_result"])
def test_a_decoder_bug_is_a_failed_probe_not_a_crash(service_factory, monkeypatch, bug, where):
    """Issue 9 point 2: whatever a decoder raises, probe_nfs returns an Observation (alert 85)."""
    from fswatch.rpc import mount, nfs3

    module = nfs3 if where.startswith("decode_fsstat") else mount

    def broken(dec):
        raise bug

    monkeypatch.setattr(module, where, broken)
    obs, _ = probe(service_factory().target())
    stage = "fsstat" if module is nfs3 else "mount"
    assert not obs.ok and obs.failure.stage == stage and obs.failure.alert == 85, obs.to_dict()
    assert obs.failure.rpc_status == "RPC_CANTDECODERES" and type(bug).__name__ in obs.failure.reason
    assert stages(obs)[-1] == (stage, False)


def batched(service: FakeService, sizes):
    """A behaviour that reads `sizes[i]` calls before it answers any of them, then answers them
    in reverse order: a client that waited for one reply before sending the next call would
    stall it (and fail at its deadline); replies out of order must still find their calls."""

    def serve(peer: Peer) -> None:
        for size in sizes:
            calls = [peer.read_call() for _ in range(size)]
            if None in calls:
                return
            service.calls.extend(calls)
            for call in reversed(calls):
                peer.reply(call, service.handlers[(call.program, call.version, call.procedure)](call))
        peer.wait_closed()

    return serve


def test_v3_calls_that_need_only_the_handle_go_out_together(service_factory, monkeypatch):
    """Fewer round trips, the same checks: the two GETPORTs in one round trip, then MNT, then
    NULL, GETATTR and FSSTAT together (and UMNT beside them on the MOUNT connection); every
    stage is still there, in its order, each with its own reply."""
    portmapper, mountd, nfsd = service_factory(), service_factory(), service_factory()
    portmapper.handlers[(100000, 2, 3)] = lambda c: struct.pack(
        ">I", mountd.port if struct.unpack(">I", c.args[:4])[0] == 100005 else nfsd.port)
    for service, sizes in ((portmapper, [2]), (mountd, [1, 1]), (nfsd, [3])):
        service.server.close()
        service.server = TcpServer(batched(service, sizes))
        service.port = service.server.port
    monkeypatch.setattr(portmap, "PORT", portmapper.port)
    obs, elapsed = probe(NfsTarget(EXPORT), 2.0)
    assert obs.ok, obs.to_dict()
    assert stages(obs) == [("portmap", True), ("mount", True), ("nfs_null", True), ("getattr", True),
                           ("fsstat", True), ("umount", True)]
    assert [c.procedure for c in nfsd.calls] == [0, 1, 18] and [c.procedure for c in mountd.calls] == [1, 3]
    assert elapsed < AT_ONCE


def test_a_refused_nfs_port_fails_at_nfs_null_and_a_failed_mnt_before_it(service_factory):
    """The NFS connection is begun while MNT is in flight: its refusal is still nfs_null's, and
    a MNT that fails is reported as the mount failure it is, whatever the NFS port does."""
    service = service_factory()
    refused = closed_port()
    obs, elapsed = probe(service.target(port=refused))
    assert (obs.failure.alert, obs.failure.stage, obs.failure.errno) == (84, "nfs_null", errno.ECONNREFUSED)
    assert obs.failure.detail == "Connection refused" and elapsed < AT_ONCE
    assert stages(obs) == [("mount", True), ("nfs_null", False)]
    missing = service_factory(mnt=lambda c: struct.pack(">I", 2))
    obs, _ = probe(missing.target(port=refused))
    assert (obs.failure.alert, obs.failure.stage, obs.failure.rpc_status) == (81, "mount", "MNT3ERR_NOENT")


@pytest.mark.parametrize("stalled, stage", [("null", "nfs_null"), ("fsstat", "fsstat")])
def test_a_stall_behind_calls_in_flight_is_still_its_own_stages(service_factory, stalled, stage):
    """A server that answers NULL and GETATTR but stalls at FSSTAT (frozen storage beneath a
    live daemon) fails at fsstat, not before it; one that stalls at NULL, at nfs_null."""
    service = service_factory(**{stalled: lambda c: STALL})
    nfsd = service_factory(**{stalled: lambda c: STALL})
    obs, elapsed = probe(service.target(port=nfsd.port), 0.5)
    assert (obs.failure.alert, obs.failure.stage, obs.failure.timed_out) == (84, stage, True)
    assert [s for s, ok in stages(obs) if ok] == ["mount", "nfs_null", "getattr", "fsstat"][: stages(obs).index(
        (stage, False))]
    assert 0.5 <= elapsed <= 0.5 + SLACK


def _three_services(service_factory, monkeypatch):
    """A portmapper naming a MOUNT and an NFS service of their own (ports of different servers)."""
    portmapper, mountd, nfsd = service_factory(), service_factory(), service_factory()
    ports = {"mount": mountd.port, "nfs": nfsd.port}
    portmapper.handlers[(100000, 2, 3)] = lambda c: struct.pack(
        ">I", ports["mount"] if struct.unpack(">I", c.args[:4])[0] == 100005 else ports["nfs"]
    )
    monkeypatch.setattr(portmap, "PORT", portmapper.port)
    return portmapper, mountd, nfsd, ports


def _second_probe(service_factory, monkeypatch, server: str, key: Key):
    """Two healthy probes; in the second, the portmapper answers only once `server` ("mountd" or
    "nfsd") has had call `key`, or after 1 s. The MOUNT and NFS services, and whether that call
    came before the portmapper answered; every stage of both probes ran, in its order."""
    portmapper, mountd, nfsd, _ = _three_services(service_factory, monkeypatch)
    assert probe(NfsTarget(EXPORT))[0].ok
    service = {"mountd": mountd, "nfsd": nfsd}[server]
    came, answered_after = threading.Event(), []
    handler = service.handlers[key]
    service.handlers[key] = lambda c: came.set() or handler(c)
    getport = portmapper.handlers[(100000, 2, 3)]
    portmapper.handlers[(100000, 2, 3)] = lambda c: answered_after.append(came.wait(1.0)) or getport(c)
    obs, _ = probe(NfsTarget(EXPORT))
    assert obs.ok, obs.to_dict()
    assert stages(obs) == [(s, True) for s in ("portmap", "mount", "nfs_null", "getattr", "fsstat", "umount")]
    return mountd, nfsd, answered_after[0]


def test_the_next_probe_begins_mnt_while_it_asks_the_portmapper(service_factory, monkeypatch):
    """Issue 21: one round trip fewer. The second probe sends MNT to the ports the first one was
    given before the portmapper answers (this portmapper answers only once MNT has come, or
    after 1 s); every stage still runs, in its order, each with its own reply."""
    mountd, _, came_first = _second_probe(service_factory, monkeypatch, "mountd", (100005, 3, 1))
    assert came_first is True  # MNT was on its way before the portmapper had answered
    assert [c.procedure for c in mountd.calls] == [1, 3, 1, 3]  # MNT and UMNT once per probe


def test_ports_that_moved_are_asked_where_the_portmapper_says_now(service_factory, monkeypatch):
    """A restarted server on new ports: the early MNT's connection is dropped unread, and MNT
    goes where the portmapper says now. The first ports' server may even be gone."""
    portmapper, mountd, nfsd, ports = _three_services(service_factory, monkeypatch)
    assert probe(NfsTarget(EXPORT))[0].ok
    mountd2, nfsd2 = service_factory(), service_factory()
    ports.update(mount=mountd2.port, nfs=nfsd2.port)
    obs, _ = probe(NfsTarget(EXPORT))
    assert obs.ok, obs.to_dict()
    assert [c.procedure for c in mountd2.calls] == [1, 3] and [c.procedure for c in nfsd2.calls] == [0, 1, 18]
    # The first probe's, and perhaps (some of) the calls begun early at the old port, dropped unread.
    early = [c.procedure for c in nfsd.calls][3:]
    assert [c.procedure for c in nfsd.calls][:3] == [0, 1, 18] and early == [0, 1, 18][: len(early)]
    mountd2.close()
    nfsd2.close()
    mountd3 = service_factory()
    ports.update(mount=mountd3.port, nfs=nfsd.port)  # the guessed MOUNT port refuses now
    obs, elapsed = probe(NfsTarget(EXPORT))
    assert obs.ok and elapsed < AT_ONCE, obs.to_dict()
    assert [c.procedure for c in mountd3.calls] == [1, 3]


def test_a_refused_mount_port_the_portmapper_still_names_fails_at_mount(service_factory, monkeypatch):
    """The early MNT's failure is the mount stage's, as it would have been without it; never the
    portmapper's."""
    portmapper, mountd, nfsd, _ = _three_services(service_factory, monkeypatch)
    assert probe(NfsTarget(EXPORT))[0].ok
    mountd.close()
    obs, elapsed = probe(NfsTarget(EXPORT))
    assert (obs.failure.alert, obs.failure.stage, obs.failure.errno) == (84, "mount", errno.ECONNREFUSED)
    assert stages(obs) == [("portmap", True), ("mount", False)] and elapsed < AT_ONCE


def _mnt_giving(handle: bytes, flavors=(AUTH_SYS,)) -> Handler:
    def mnt(call: Call) -> bytes:
        enc = Encoder()
        enc.uint32(0)
        enc.opaque(handle)
        enc.array(list(flavors), Encoder.int32)
        return enc.bytes()

    return mnt


def _handle_asked(call: Call) -> bytes:
    return Decoder(call.args).opaque()


def test_the_next_probe_begins_null_getattr_and_fsstat_while_it_asks_the_portmapper(service_factory, monkeypatch):
    """Issue 21: two round trips fewer. The second probe sends NULL, GETATTR and FSSTAT with the
    handle the first MNT gave, beside its MNT, before the portmapper answers (this one answers
    only once FSSTAT has come, or after 1 s); every stage still runs, in its order, each with its
    own reply, and each call goes once per probe."""
    mountd, nfsd, came_first = _second_probe(service_factory, monkeypatch, "nfsd", (100003, 3, 18))
    assert came_first is True  # FSSTAT was on its way before the portmapper had answered
    assert [c.procedure for c in nfsd.calls] == [0, 1, 18] * 2 and [c.procedure for c in mountd.calls] == [1, 3] * 2
    assert {_handle_asked(c) for c in nfsd.calls if c.procedure} == {FHANDLE}


def test_a_new_handle_or_flavor_is_asked_anew(service_factory, monkeypatch):
    """A re-created export (a new root handle): the calls begun early are dropped unread, and
    GETATTR and FSSTAT are asked with the handle MNT gives now (one with the old handle fails;
    the probe does not, since that answer is never read). An export that now wants Kerberos
    fails at mount, as it would have without the early calls."""
    portmapper, mountd, nfsd, _ = _three_services(service_factory, monkeypatch)
    assert probe(NfsTarget(EXPORT))[0].ok
    new = b"\x43" * 32
    mountd.handlers[(100005, 3, 1)] = _mnt_giving(new)
    nfsd.handlers[(100003, 3, 1)] = lambda c: bytes(4) + FATTR3 if _handle_asked(c) == new else struct.pack(">I", 70)
    del nfsd.calls[:]
    obs, _ = probe(NfsTarget(EXPORT))
    assert obs.ok, obs.to_dict()
    asked = [(c.procedure, _handle_asked(c) if c.procedure else None) for c in nfsd.calls]
    assert [a for a in asked if a[1] == new] == [(1, new), (18, new)]
    early = [a for a in asked if a[1] == FHANDLE]  # the early ones, if sent (some may be read before the drop)
    assert early == [(1, FHANDLE), (18, FHANDLE)][: len(early)] and asked.count((0, None)) in (1, 2)
    assert probe(NfsTarget(EXPORT))[0].ok  # the new handle, seen: asked early now
    mountd.handlers[(100005, 3, 1)] = _mnt_giving(new, flavors=(390003,))  # sec=krb5 only now
    obs, _ = probe(NfsTarget(EXPORT))
    assert (obs.failure.alert, obs.failure.stage) == (alerts.KRB5_REQUIRED, "mount"), obs.to_dict()

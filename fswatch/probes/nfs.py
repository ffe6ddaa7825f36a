"""The NFS probe (SPEC.md section 3), on fswatch's own ONC RPC client (fswatch.rpc).

v3: portmapper GETPORT (MOUNT, and NFS unless its port is given) -> MNT export -> NFS NULL
-> GETATTR and FSSTAT of the export's root handle -> UMNT. v4.0: one COMPOUND walking the
export's path from the root (PUTROOTFH, LOOKUP each component, GETATTR of the type and of
the space and file counts). v4.1 and 4.2: the same walk inside a session (fswatch.rpc.nfs41:
EXCHANGE_ID, CREATE_SESSION, the COMPOUND, DESTROY_SESSION, DESTROY_CLIENTID), whose OPEN of a
name that does not exist also shows a grace period: a Degradation, not a failure. FSSTAT and
the counts make the server ask the file system (statfs), which no server cache answers: a
frozen storage beneath a live server fails the probe (SPEC.md section 9). No kernel mount, no
child process: every step is a socket call bounded by the probe's Deadline.

With a canary file (opt-in data-path check), each probe also reads its first bytes, as stage
`canary`: v3 LOOKUP each component from the export's root handle, then READ; v4 one COMPOUND
(after SEQUENCE in a session) of PUTROOTFH, LOOKUPs, and READ with the anonymous stateid, which
needs no OPEN and leaves no state on the server.

With a write canary (opt-in, fswatch.probes.write_canary) each probe then writes a file of its
own: v3 CREATE (GUARDED) + WRITE FILE_SYNC + READ + REMOVE; v4 OPEN (create) + WRITE FILE_SYNC4 +
READ + CLOSE + REMOVE (fswatch.rpc.nfs4write: v4.0 after SETCLIENTID, v4.1/4.2 in the session);
then the sweep of the watch's earlier leftovers (READDIR, REMOVE).

With Kerberos (a principal and a keytab: fswatch.probes.kerberos) the probe first makes sure it
holds a ticket for nfs/NAME (stage `kerberos`), then speaks RPCSEC_GSS (fswatch.rpc.rpcsec_gss)
on the NFS connection with the flavor the export asks for: the MNT reply's flavor list (v3), or
SECINFO / SECINFO_NO_NAME (v4.0 / v4.1+) where a LOOKUP meets NFS4ERR_WRONGSEC, remembered for
the next probe. The context is made in stage `gss_init` and destroyed last (`gss_destroy`). An
export that asks for Kerberos of a watch without it is alert 150, one line that says so.

The probe only does I/O and returns an Observation; every server problem becomes a
ProbeFailure naming the alert (81-85, 42, 150-152) whose text the seed's clp_nfsmon printed.
"""

from __future__ import annotations

import errno as errno_mod
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.errors import DeadlineExceeded, ProbeFailure
from fswatch.core.observation import Degradation, Observation, StageRecorder
from fswatch.probes import write_canary
from fswatch.probes.krb5logon import KerberosFault, KerberosLogon, Tickets
from fswatch.probes.resolve import Resolver, address_for
from fswatch.rpc import mount, nfs3, portmap
from fswatch.rpc.client import Pending, Plain, RpcClient
from fswatch.rpc.errors import (
    GssError,
    MountError,
    NfsError,
    ProgramNotRegistered,
    RpcConnectionError,
    RpcDecodeError,
    RpcError,
    RpcReplyError,
    RpcSystemError,
    RpcTimeout,
    ServiceError,
)
from fswatch.rpc.message import AUTH_NONE, AUTH_SYS, KRB5, PSEUDO_FLAVORS, SERVICE_NAMES, OpaqueAuth, auth_sys
from fswatch.rpc.transport import SOURCE_UNPRIVILEGED, open_transport

if TYPE_CHECKING:  # imported where used: a v3 watch never loads the NFSv4 client (memory)
    from fswatch.rpc import nfs4, nfs4write, nfs41
    from fswatch.rpc.rpcsec_gss import RpcsecGss

CANARY_READ_BYTES = 4096  # a canary's first bytes: one READ, the smallest I/O that reaches its data

NFS4_PORT = 2049
GRACE_PERIOD = "grace period"

# LOOKUP answers on the export's path that mean "no such export, or not for you", like MNT's.
_EXPORT_MISSING = frozenset(
    {"NFS4ERR_NOENT", "NFS4ERR_ACCESS", "NFS4ERR_PERM", "NFS4ERR_NOTDIR", "NFS4ERR_NAMETOOLONG"}
)

# An established RPCSEC_GSS context the server no longer takes (RFC 2203 section 5.3.3.3).
GSS_CONTEXT_REFUSALS = frozenset({"RPCSEC_GSS_CREDPROBLEM", "RPCSEC_GSS_CTXPROBLEM"})

# Which RPC service a stage talks to decides the alert for a failed call.
PORTMAPPER, SERVICE = "portmapper", "service"


@dataclass(frozen=True)
class NfsTarget:
    """What to probe, as the NFS kind checked it (fswatch.kinds.nfs: the one validation)."""

    export: str
    address: str = "127.0.0.1"
    port: Optional[int] = None  # NFS port; None: ask the portmapper (v3) or 2049 (v4)
    mount_port: Optional[int] = None  # MOUNT port; None: ask the portmapper
    version: int = 3
    transport: str = "tcp"
    minor_version: Optional[int] = None  # v4 only; None: the highest the server offers (4.2, 4.1, 4.0)
    canary: Optional[str] = None  # a file to read in each probe, relative to the export's root
    kerberos: Optional[KerberosLogon] = None  # RPCSEC_GSS with this logon (fswatch.probes.kerberos)
    canary_write: Optional[str] = None  # a directory to write a file in, each probe (fswatch.probes.write_canary)
    canary_owner: str = write_canary.owner("nfs", None)  # whose canary files the probe's names say


# -- the flavor --------------------------------------------------------------------------------------

FLAVOR_NAMES = {AUTH_NONE: "none", AUTH_SYS: "sys", **{f: name for f, (name, _) in PSEUDO_FLAVORS.items()}}
# The flavor the last probe of an export settled on (after SECINFO), so a krb5i or krb5p export
# costs SECINFO once, not at every probe; NFS4ERR_WRONGSEC asks again. Bounded: one per watch.
_remembered: Dict[Tuple[str, str], int] = {}
REMEMBERED_MAX = 1024
# The MOUNT and NFS ports the portmapper gave the last probe of a server (TCP): the next probe
# begins its MNT there while it asks the portmapper again (_Guess). Bounded like _remembered.
_ports_seen: Dict[str, Tuple[int, int]] = {}
# The root handle MNT gave the last probe of an export over AUTH_SYS: the next probe begins NULL,
# GETATTR and FSSTAT with it beside that MNT (_Guess). Bounded like _remembered.
_handles_seen: Dict[Tuple[str, str], bytes] = {}


def flavor_name(flavor: int) -> str:
    return FLAVOR_NAMES.get(flavor, f"flavor {flavor}")


def choose_flavor(offered: Sequence[int], kerberos: bool) -> Optional[int]:
    """The flavor to speak among those the export offers, in the server's order (RFC 2623
    section 2.7): a Kerberos watch takes its first Kerberos flavor, else AUTH_SYS; a watch without
    Kerberos AUTH_SYS or AUTH_NONE. None: nothing this watch can speak. A server that lists no
    flavor (an old MOUNT) takes AUTH_SYS."""
    if not offered:
        return AUTH_SYS
    if kerberos:
        for flavor in offered:
            if flavor in PSEUDO_FLAVORS:
                return flavor
    for flavor in offered:
        if flavor in (AUTH_SYS, AUTH_NONE):
            return AUTH_SYS
    return None


def _no_flavor(offered: Sequence[int], stage: str, where: str, has_kerberos: bool) -> ProbeFailure:
    kerberos_ones = [flavor_name(f) for f in offered if f in PSEUDO_FLAVORS]
    if kerberos_ones and not has_kerberos:
        wanted = ", ".join(kerberos_ones)
        reason = f"export requires sec={wanted}; this watch has no Kerberos credentials (--keytab)"
        return ProbeFailure(alerts.KRB5_REQUIRED, stage, reason, wanted)
    names = ", ".join(flavor_name(f) for f in offered)
    reason = f"{where}: the export offers only security flavors fswatch does not speak: {names}"
    return ProbeFailure(alerts.NFS_STATUS, stage, reason, f"RPC: no common security flavor ({names})")


class _Security:
    """The probe's flavor on its NFS connection: AUTH_SYS, or RPCSEC_GSS over one context, made
    when first needed (stage gss_init) and destroyed at the end (stage gss_destroy)."""

    def __init__(self, target: NfsTarget, rec: StageRecorder, deadline: Deadline) -> None:
        self.target = target
        self.rec = rec
        self.deadline = deadline
        self.gss: Optional[RpcsecGss] = None
        self.flavor = AUTH_SYS
        self.where = ""
        self._nfs: Optional[RpcClient] = None
        self._program = (0, 0)

    def use(
        self, flavor: int, nfs: Union[RpcClient, Callable[[], RpcClient]], program: int, version: int, where: str
    ) -> RpcClient:
        """Speak `flavor` on the NFS connection from the next call on; a Kerberos one makes its
        context first, in stage gss_init, which also connects when `nfs` is still to be made."""
        self.flavor, self.where = flavor, where
        rec = self.rec
        if flavor in PSEUDO_FLAVORS:
            if self.gss is None:
                assert self.target.kerberos is not None
                # Imported here, by a watch that logs on with Kerberos only (fswatch.probes.krb5logon).
                from fswatch.probes import kerberos
                from fswatch.rpc.rpcsec_gss import RpcsecGss

                with _Stage(rec, "gss_init", SERVICE, f"{where}, RPCSEC_GSS_INIT"):
                    nfs = nfs() if callable(nfs) else nfs
                    gss = RpcsecGss(kerberos.SecurityContext(self.target.kerberos, spnego=False))
                    gss.establish(nfs, program, version, self.deadline)
                self.gss, self._nfs, self._program = gss, nfs, (program, version)
            client = self._nfs if callable(nfs) else nfs
            assert client is not None
            self.gss.service = PSEUDO_FLAVORS[flavor][1]
            client.flavor = self.gss
            return client
        client = nfs() if callable(nfs) else nfs
        client.flavor = Plain(auth_sys())
        return client

    def note(self) -> None:
        self.rec.note("flavor", flavor_name(self.flavor))
        if self.flavor in PSEUDO_FLAVORS:
            self.rec.note("gss_service", SERVICE_NAMES[PSEUDO_FLAVORS[self.flavor][1]])

    def destroy(self, failed: bool) -> None:
        """RPCSEC_GSS_DESTROY: a stage of its own after a healthy probe; after a failed one, quietly
        (the first failure stands), and only where the server still answered."""
        if self.gss is None or self._nfs is None or not self.gss.established:
            return
        program, version = self._program
        rec = self.rec
        if not failed:
            with _Stage(rec, "gss_destroy", SERVICE, f"{self.where}, RPCSEC_GSS_DESTROY"):
                self.gss.destroy(self._nfs, program, version, self.deadline)
            return
        try:
            self.gss.destroy(self._nfs, program, version, self.deadline)
        except (RpcError, DeadlineExceeded) as exc:
            self.rec.note("gss_destroy", f"failed: {exc}")


def remembered(target: NfsTarget) -> Optional[int]:
    return _remembered.get((target.address, target.export))


def remember(target: NfsTarget, flavor: int) -> None:
    _keep(_remembered, (target.address, target.export), flavor)


def _keep(table: dict, key: object, value: object) -> None:
    """`table[key] = value`, the table emptied first when full: one entry per watch, bounded."""
    if len(table) >= REMEMBERED_MAX:
        table.clear()
    table[key] = value


class _Channels:
    """One RPC client per server port within a probe; close() closes them all."""

    def __init__(self, address: str, protocol: str, cred: OpaqueAuth, deadline: Deadline) -> None:
        self._address = address
        self._protocol = protocol
        self._cred = cred
        self._deadline = deadline
        self._clients: Dict[int, RpcClient] = {}
        self._failed: Dict[int, RpcError] = {}  # an open() that failed at once: to() raises it

    def to(self, port: int) -> RpcClient:
        """The client for `port`; connects first when there is none (an opened one connects at its first send)."""
        failed = self._failed.pop(port, None)
        if failed is not None:
            raise failed
        client = self._clients.get(port)
        if client is None:
            transport = open_transport(self._protocol, self._address, port, self._deadline)
            client = self._clients[port] = RpcClient(transport, self._cred)
        return client

    def open(self, port: int) -> None:
        """Begin connecting to `port` for a later stage, which waits for it and meets its failure (to())."""
        if port in self._clients or port in self._failed:
            return
        try:
            transport = open_transport(self._protocol, self._address, port, self._deadline, wait=False)
        except RpcError as exc:
            self._failed[port] = exc
            return
        self._clients[port] = RpcClient(transport, self._cred)

    def drop(self, port: int) -> None:
        """Forget the client for `port` (closing it) and a failure of its open()."""
        self._failed.pop(port, None)
        client = self._clients.pop(port, None)
        if client is not None:
            client.close()

    def source_port(self) -> Optional[str]:
        """SOURCE_RESERVED if every socket had a reserved source port, else SOURCE_UNPRIVILEGED."""
        kinds = {client.transport.source_port for client in self._clients.values()}
        if not kinds:
            return None
        return SOURCE_UNPRIVILEGED if SOURCE_UNPRIVILEGED in kinds else kinds.pop()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _start_handle_calls(nfs: RpcClient, fhandle: bytes, deadline: Deadline) -> Tuple[Pending, ...]:
    """NULL, GETATTR and FSSTAT, started together: they need nothing but the export's handle."""
    null = nfs3.start_null(nfs, deadline)
    return null, nfs3.start_getattr(nfs, fhandle, deadline), nfs3.start_fsstat(nfs, fhandle, deadline)


class _Guess:
    """The MNT begun at the ports the portmapper gave the last probe, while the portmapper is
    asked again, and beside it NULL, GETATTR and FSSTAT with the root handle the last MNT gave:
    two round trips and one handshake fewer per probe (bench/RESULTS.md, "Probe cost"). Every
    check still runs: the portmapper's answer is still awaited and judged in its own stage, and
    only where it names the same ports does the mount stage take the MNT begun early (its reply,
    or its failure, is the mount stage's as before); the NFS stages take the calls begun early
    only where that MNT gave the same handle and the export's flavor is still AUTH_SYS, which
    they were asked with (an NFSv3 handle needs no MNT to be valid: RFC 1813, section 5.1).
    Else the early connections are closed unread and the stages ask as they would have. Nothing
    here may fail the portmap stage, or wait: an early connection that fails is simply not used."""

    def __init__(self, ports: Tuple[int, int], client: RpcClient, pending: Pending,
                 nfs: Optional[Tuple[bytes, RpcClient, Tuple[Pending, ...]]]) -> None:  # fmt: skip
        self.ports = ports
        self.client = client
        self.pending = pending
        self.nfs = nfs  # the handle, the NFS client, its NULL, GETATTR and FSSTAT; or None

    @classmethod
    def begin(cls, channels: _Channels, address: str, export: str, deadline: Deadline) -> Optional[_Guess]:
        seen = _ports_seen.get(address)
        if seen is None or portmap.PORT in seen or seen[0] == seen[1]:
            return None  # nothing seen yet, or ports another connection of this probe would share
        for port in seen:
            channels.open(port)  # handshakes begun, not awaited
        try:
            client = channels.to(seen[0])
        except RpcError:  # refused at once: the ports may have moved; the mount stage will see
            for port in seen:
                channels.drop(port)
            return None
        mnt = mount.start_mnt(client, export, deadline)
        handle = _handles_seen.get((address, export))
        if handle is None:
            return cls(seen, client, mnt, None)
        try:
            nfs = channels.to(seen[1])
        except RpcError:  # refused at once: the NFS stages will meet it where the portmapper says
            return cls(seen, client, mnt, None)
        return cls(seen, client, mnt, (handle, nfs, _start_handle_calls(nfs, handle, deadline)))

    def send_if_connected(self, deadline: Deadline) -> None:
        """Send what was begun now where its handshake is done (it usually is, after the
        portmapper's handshake); else it goes when its stage asks for its reply. Never waits."""
        for client in (self.client, self.nfs[1]) if self.nfs is not None else (self.client,):
            if client.transport.ready():  # type: ignore[attr-defined]
                client.flush(deadline)

    def mounting(self, channels: _Channels, mount_port: int, nfs_port: int) -> Optional[Pending]:
        """The MNT begun early, where the portmapper named the same ports; else None, and the
        early connections are gone."""
        if (mount_port, nfs_port) == self.ports:
            return self.pending
        for port in self.ports:
            channels.drop(port)
        self.nfs = None
        return None

    def nfs_calls(self, channels: _Channels, fhandle: bytes, flavor: int) -> Optional[Tuple[Pending, ...]]:
        """NULL, GETATTR and FSSTAT begun early, where MNT gave the handle they ask about and the
        export's flavor is the one they were asked with; else None, and their connection is gone."""
        if self.nfs is None:
            return None
        handle, _, calls = self.nfs
        if handle == fhandle and flavor == AUTH_SYS:
            return calls
        channels.drop(self.ports[1])
        return None


def probe_nfs(
    target: NfsTarget,
    deadline: Deadline,
    *,
    clock: Callable[[], float] = time.monotonic,
    resolver: Optional[Resolver] = None,
) -> Observation:
    """One probe of `target`, finished by `deadline`, never raising for a server problem."""
    rec = StageRecorder(clock)
    failure: Optional[ProbeFailure] = None
    degraded: Optional[Degradation] = None
    channels: Optional[_Channels] = None
    security: Optional[_Security] = None
    tickets: Optional[Tickets] = None
    try:
        if target.kerberos is not None:
            from fswatch.probes import kerberos  # a watch without Kerberos never loads it (fswatch.probes.krb5logon)

            with rec.stage("kerberos"):
                tickets = kerberos.obtain(target.kerberos, deadline)
            kerberos.note(rec, target.kerberos, tickets)
        address = address_for(target.address, rec, deadline, resolver)  # once: every socket goes there
        channels = _Channels(address, target.transport, auth_sys(), deadline)
        security = _Security(target, rec, deadline)
        if target.version == 4:
            degraded = _probe_v4(target, address, channels, security, rec, deadline)
        else:
            _probe_v3(target, address, channels, security, rec, deadline)
        security.destroy(failed=False)
    except KerberosFault as exc:  # stage kerberos: the KDC's fault, before the NFS server is asked
        failure = exc.failure("kerberos")
    except ProbeFailure as exc:
        failure = exc
    except Exception as exc:  # a decoder or client bug must not crash the watch: a failed probe
        failure = _unexpected(exc, _last_stage(rec), f"NFS at {target.address}")
    finally:
        if failure is not None and security is not None and not failure.timed_out:
            security.destroy(failed=True)
        if channels is not None:
            _close_quietly(channels)
    if channels is not None:
        kind = channels.source_port()
        if kind is not None:
            rec.note("source_port", kind)
    return rec.observation(failure, degraded or (tickets.degraded if tickets is not None else None))


def _probe_v3(
    target: NfsTarget, address: str, channels: _Channels, security: _Security, rec: StageRecorder, deadline: Deadline
) -> None:
    """Every call of the v3 probe, in as few round trips as their answers allow (fswatch.rpc.client:
    over TCP, calls in flight together): the two GETPORTs at once, with MNT beside them at the
    ports the last probe was given (_Guess; else MNT once they have answered) while the NFS
    connection's handshake goes on; then NULL, GETATTR, FSSTAT and UMNT at once, which need
    nothing but the handle. Each stage still waits for its own reply, in this order, so each
    names and times its own step and fails on its own (a stalled FSSTAT fails at fsstat, a
    refused NFS port at nfs_null). The canaries run before UMNT's reply is read: UMNT only drops
    the server's note of the mount (mountd's rmtab), never the handle, which stays valid for them
    (RFC 1813, appendix I)."""
    protocol = target.transport
    mount_port, nfs_port = target.mount_port, target.port
    guess: Optional[_Guess] = None
    guessing = False
    if mount_port is None or nfs_port is None:
        # Both ports from the portmapper, over TCP: the MNT may begin early (_Guess).
        guessing = mount_port is None and nfs_port is None and protocol == "tcp"
        with _Stage(rec, "portmap", PORTMAPPER, f"portmapper at {address}:{portmap.PORT}/{protocol}"):
            if guessing:
                guess = _Guess.begin(channels, address, target.export, deadline)
            pmap = channels.to(portmap.PORT)
            asked = [
                portmap.start_getport(pmap, program, version, protocol, deadline) if port is None else None
                for port, program, version in ((mount_port, mount.PROGRAM, mount.VERSION),
                                               (nfs_port, nfs3.PROGRAM, nfs3.VERSION))
            ]  # fmt: skip
            pmap.flush(deadline)
            if guess is not None:
                guess.send_if_connected(deadline)
            mount_port, nfs_port = (port if ask is None else ask.result(deadline)
                                    for port, ask in zip((mount_port, nfs_port), asked))
            if guessing:
                _keep(_ports_seen, address, (mount_port, nfs_port))
    assert mount_port is not None and nfs_port is not None
    where_mount = f"MOUNT at {address}:{mount_port}/{protocol}"
    where_nfs = f"NFS at {address}:{nfs_port}/{protocol}"
    with _Stage(rec, "mount", SERVICE, f"{where_mount}, MNT {target.export}"):
        mounting = guess.mounting(channels, mount_port, nfs_port) if guess is not None else None
        if mounting is None:
            mounting = mount.start_mnt(channels.to(mount_port), target.export, deadline)
        channels.open(nfs_port)
        mounted = mounting.result(deadline)
    fhandle = mounted.fhandle
    # The flavor MNT says the export takes (RFC 2623 section 2.7); MOUNT itself is asked with AUTH_SYS.
    flavor = choose_flavor(mounted.auth_flavors, target.kerberos is not None)
    if flavor is None:
        raise _no_flavor(mounted.auth_flavors, "mount", where_mount, target.kerberos is not None)
    early = guess.nfs_calls(channels, fhandle, flavor) if guess is not None else None
    if guessing and flavor == AUTH_SYS:
        _keep(_handles_seen, (address, target.export), fhandle)

    def connect() -> RpcClient:
        return channels.to(nfs_port)

    kerberos_flavor = flavor in PSEUDO_FLAVORS  # its stage gss_init meets the connection; else the NULL's does
    nfs = security.use(flavor, connect, nfs3.PROGRAM, nfs3.VERSION, where_nfs) if kerberos_flavor else None
    security.flavor = flavor
    security.note()
    with _Stage(rec, "nfs_null", SERVICE, f"{where_nfs}, NULL"):
        if nfs is None:
            nfs = security.use(flavor, connect, nfs3.PROGRAM, nfs3.VERSION, where_nfs)
        null, attributes, space = early if early is not None else _start_handle_calls(nfs, fhandle, deadline)
        mounter = channels.to(mount_port)
        unmounting = mount.start_umnt(mounter, target.export, deadline)
        mounter.flush(deadline)
        null.result(deadline)
    with _Stage(rec, "getattr", SERVICE, f"{where_nfs}, GETATTR {target.export}"):
        attributes.result(deadline)
    with _Stage(rec, "fsstat", SERVICE, f"{where_nfs}, FSSTAT {target.export}"):
        space.result(deadline)
    if target.canary is not None:
        with _canary_stage(rec, target.canary, f"{where_nfs}, LOOKUP and READ {target.canary}"):
            from fswatch.rpc.nfs4 import path_components

            handle = fhandle
            for name in path_components(target.canary):
                handle = nfs3.lookup(nfs, handle, name, deadline)
            _note_read(rec, nfs3.read(nfs, handle, CANARY_READ_BYTES, deadline))
    if target.canary_write is not None:
        _WriteCanaryV3(target, nfs, fhandle, rec, deadline, where_nfs).run()
    with _Stage(rec, "umount", SERVICE, f"{where_mount}, UMNT {target.export}"):
        unmounting.result(deadline)


def _probe_v4(
    target: NfsTarget, address: str, channels: _Channels, security: _Security, rec: StageRecorder, deadline: Deadline
) -> Optional[Degradation]:
    from fswatch.rpc import nfs4, nfs41

    server = f"{address}:{target.port or NFS4_PORT}/{target.transport}"
    where = f"NFSv4 at {server}"
    with _Stage(rec, "connect", SERVICE, where):
        nfs = channels.to(target.port or NFS4_PORT)
    # A Kerberos watch speaks RPCSEC_GSS from the start (the service the export settled on last
    # time, else krb5); SECINFO corrects it where a LOOKUP meets NFS4ERR_WRONGSEC.
    first = remembered(target) if target.kerberos is not None else None
    security.use(first or (KRB5 if target.kerberos is not None else AUTH_SYS), nfs, nfs4.PROGRAM,
                 nfs4.VERSION, where)  # fmt: skip
    if target.minor_version == 0:
        rec.note("nfs_version", "4.0")
        return _probe_v40(target, where, nfs, security, rec, deadline)
    # Highest first; one round trip per minor version the server refuses (NFS4ERR_MINOR_VERS_MISMATCH).
    # Nothing is cached between probes: a failover to a server of another configuration is seen
    # at once, for ~0.1 ms per refused version on loopback (bench/RESULTS.md).
    minors = nfs41.MINOR_VERSIONS + (0,) if target.minor_version is None else (target.minor_version,)
    ownerid = nfs41.client_owner().ownerid
    with _Stage(rec, "exchange_id", SERVICE, f"{where}, EXCHANGE_ID"):
        minor, client = _exchange_id(nfs, minors, ownerid, deadline)
    rec.note("nfs_version", f"4.{minor}")
    if client is None:
        return _probe_v40(target, where, nfs, security, rec, deadline)
    return _probe_session(target, f"NFSv4.{minor} at {server}", nfs, minor, client, ownerid, security, rec, deadline)


def _exchange_id(
    nfs: RpcClient, minors: Sequence[int], ownerid: bytes, deadline: Deadline
) -> Tuple[int, Optional[nfs41.ClientId]]:
    """The first of `minors` the server serves and its client ID (None for 4.0: no sessions)."""
    from fswatch.rpc import nfs41

    for index, minor in enumerate(minors):
        if minor == 0:
            return 0, None
        try:
            return minor, nfs41.exchange_id(nfs, minor, ownerid, nfs41.ClientOwner.verifier(), deadline)
        except NfsError as exc:
            if exc.status != "NFS4ERR_MINOR_VERS_MISMATCH" or index + 1 == len(minors):
                raise
    raise AssertionError("unreachable: the last minor version returns or raises")


def _probe_v40(
    target: NfsTarget, where: str, nfs: RpcClient, security: _Security, rec: StageRecorder, deadline: Deadline
) -> Optional[Degradation]:
    from fswatch.rpc import nfs4, nfs4write

    attributes: Optional[nfs4.PathAttributes] = None
    for attempt in range(2):  # a second time only after SECINFO named another flavor
        try:
            with _Stage(rec, "compound", SERVICE, f"{where}, COMPOUND LOOKUP {target.export}, GETATTR space"):
                attributes = nfs4.lookup_path(nfs, target.export, deadline)
                _check_directory(attributes)
            break
        except ProbeFailure as failure:
            index = _wrongsec_at(failure, 1)  # PUTROOTFH comes first
            if index is None or attempt:
                raise
            wrongsec = failure
        name = nfs4.path_components(target.export)[index]
        with _Stage(rec, "secinfo", SERVICE, f"{where}, SECINFO {name}"):
            offered = [s.pseudo_flavor for s in nfs4.secinfo(nfs, target.export, index, deadline)]
        _settle(target, security, offered, nfs, where, wrongsec)
    assert attributes is not None
    security.note()
    _note_storage(rec, attributes)
    grace = _Grace()
    if target.canary is not None:
        path = _canary_path(target)
        with _canary_stage(rec, target.canary, f"{where}, COMPOUND LOOKUP {path}, READ") as grace:
            _note_read(rec, nfs4.read_path(nfs, path, CANARY_READ_BYTES, deadline))
    if target.canary_write is not None and not grace.seen:
        grace = _WriteCanaryV4(target, nfs4write.Channel(nfs, 0, deadline), None, rec, where).run()
    return grace.degradation(where, attributes.lease_time)


def _probe_session(
    target: NfsTarget,
    where: str,
    nfs: RpcClient,
    minor: int,
    client: nfs41.ClientId,
    ownerid: bytes,
    security: _Security,
    rec: StageRecorder,
    deadline: Deadline,
) -> Optional[Degradation]:
    """CREATE_SESSION, the COMPOUND, then DESTROY_SESSION and DESTROY_CLIENTID, also when a step
    before them failed while the connection still works: a probe leaves nothing on the server."""
    from fswatch.rpc import nfs4write, nfs41

    sessionid: Optional[bytes] = None
    try:
        with _Stage(rec, "create_session", SERVICE, f"{where}, CREATE_SESSION"):
            sessionid = nfs41.create_session(nfs, minor, client, deadline)
        compound = f"{where}, COMPOUND SEQUENCE, LOOKUP {target.export}, GETATTR space, OPEN"
        sequenceid = 1  # slot 0's requests, one after the other
        seen: Optional[nfs41.SessionLookup] = None
        for attempt in range(2):  # a second time only after SECINFO_NO_NAME named another flavor
            try:
                with _Stage(rec, "compound", SERVICE, compound):
                    seen = nfs41.lookup_in_session(
                        nfs, minor, sessionid, client.clientid, ownerid, target.export, deadline, sequenceid=sequenceid
                    )
                    _check_directory(seen.attributes)
                sequenceid += 1
                break
            except ProbeFailure as failure:
                index = _wrongsec_at(failure, 3 if sequenceid == 1 else 2)  # SEQUENCE, [RECLAIM_COMPLETE,] PUTROOTFH
                if index is None or attempt:
                    raise
                sequenceid += 1  # SEQUENCE went through before the LOOKUP's NFS4ERR_WRONGSEC
                wrongsec = failure
            with _Stage(rec, "secinfo", SERVICE, f"{where}, COMPOUND SEQUENCE, LOOKUP, SECINFO_NO_NAME"):
                try:
                    found = nfs41.secinfo_in_session(nfs, minor, sessionid, sequenceid, target.export, deadline)
                except NfsError as exc:
                    if exc.status != "NFS4ERR_WRONGSEC":
                        raise
                    sequenceid += 1  # and ask SECINFO from the parent, as v4.0 does
                    found = nfs41.secinfo_in_session(
                        nfs, minor, sessionid, sequenceid, target.export, deadline, by_name=index
                    )
            sequenceid += 1
            _settle(target, security, [s.pseudo_flavor for s in found], nfs, where, wrongsec)
        assert seen is not None
        security.note()
        grace = _Grace()
        if target.canary is not None:
            path = _canary_path(target)
            with _canary_stage(rec, target.canary, f"{where}, COMPOUND SEQUENCE, LOOKUP {path}, READ") as grace:
                read = nfs41.read_in_session(nfs, minor, sessionid, sequenceid, path, CANARY_READ_BYTES, deadline)
                _note_read(rec, read)
        if target.canary_write is not None and not grace.seen and seen.open_status != "NFS4ERR_GRACE":
            # slot 0's next request: after the canary's READ when there is one
            sequencer = nfs41.Sequencer(sessionid, sequenceid + (1 if target.canary is not None else 0))
            channel = nfs4write.Channel(nfs, minor, deadline, sequencer)
            grace = _WriteCanaryV4(target, channel, client.clientid, rec, where).run()
    except ProbeFailure as failure:
        # The server answered (an error status, or what it sent failed a check: the write canary's
        # data read back): it can hear us.
        if failure.__cause__ is None or isinstance(failure.__cause__, (ServiceError, RpcReplyError)):
            _tear_down_quietly(nfs, minor, sessionid, client.clientid, rec, deadline)
        raise
    with _Stage(rec, "destroy_session", SERVICE, f"{where}, DESTROY_SESSION"):
        nfs41.destroy_session(nfs, minor, sessionid, deadline)
    with _Stage(rec, "destroy_clientid", SERVICE, f"{where}, DESTROY_CLIENTID"):
        nfs41.destroy_clientid(nfs, minor, client.clientid, deadline)
    _note_storage(rec, seen.attributes)
    if seen.open_status == "NFS4ERR_GRACE":
        reason = f"{where}: OPEN answered NFS4ERR_GRACE: no new opens or locks until its grace period ends"
        return Degradation(GRACE_PERIOD, "compound", reason, seen.open_status, seen.attributes.lease_time)
    if grace.seen:
        return grace.degradation(where, seen.attributes.lease_time)
    if seen.open_status != "NFS4ERR_NOENT":
        rec.note("grace_period", f"not known: OPEN of a name that does not exist answered {seen.open_status}")
    return None


def _wrongsec_at(failure: ProbeFailure, first_lookup: int) -> Optional[int]:
    """The path component whose LOOKUP met NFS4ERR_WRONGSEC (`first_lookup`: the first LOOKUP's
    place in the COMPOUND), or None for any other failure."""
    cause = failure.__cause__
    if isinstance(cause, NfsError) and cause.status == "NFS4ERR_WRONGSEC" and cause.operation == "LOOKUP":
        if cause.at is not None and cause.at >= first_lookup:
            return cause.at - first_lookup
    return None


def _settle(
    target: NfsTarget, security: _Security, offered: Sequence[int], nfs: RpcClient, where: str, failure: ProbeFailure
) -> None:
    """Speak what SECINFO says the export takes; the WRONGSEC stands when that changes nothing."""
    from fswatch.rpc import nfs4

    flavor = choose_flavor(offered, target.kerberos is not None)
    if flavor is None:
        raise _no_flavor(offered, "secinfo", where, target.kerberos is not None) from failure.__cause__
    if flavor == security.flavor:
        raise failure
    security.use(flavor, nfs, nfs4.PROGRAM, nfs4.VERSION, where)
    remember(target, flavor)


def _tear_down_quietly(
    nfs: RpcClient, minor: int, sessionid: Optional[bytes], clientid: int, rec: StageRecorder, deadline: Deadline
) -> None:
    """After a failed step: destroy what was made, within the same deadline; the first failure stands."""
    from fswatch.rpc import nfs41

    try:
        if sessionid is not None:
            nfs41.destroy_session(nfs, minor, sessionid, deadline)
        nfs41.destroy_clientid(nfs, minor, clientid, deadline)
    except (RpcError, DeadlineExceeded) as exc:
        rec.note("teardown", f"failed: {exc}")


def _check_directory(attributes: nfs4.PathAttributes) -> None:
    if attributes.type is not None and attributes.type != "NF4DIR":
        raise NfsError("NFS4ERR_NOTDIR", "LOOKUP")  # an export is a directory, as MNT insists


def _note_storage(rec: StageRecorder, attributes: nfs4.PathAttributes) -> None:
    if attributes.space_avail is None and attributes.files_avail is None:
        # A server that keeps the counts to itself answered from what it had: say so, as a
        # frozen storage beneath it would go unseen (its daemon stalling would not).
        rec.note("storage", "not reached: the server sent no space or file counts")


def _canary_path(target: NfsTarget) -> str:
    """The canary's path from the server's root: NFSv4 walks from there, not from the export."""
    return f"{target.export.rstrip('/')}/{target.canary}"


def _note_read(rec: StageRecorder, result: object) -> None:
    rec.note("canary_bytes", str(getattr(result, "count", 0)))  # how many, never which


class _Grace:
    """Whether the canary's READ, or the write canary's OPEN, met a grace period: a v4 server may
    refuse READ with the anonymous stateid then (RFC 7530 section 9.6, crash recovery) and refuses a
    new OPEN, which is the grace period's degradation, not a missing file or a failed write."""

    seen = False
    stage = "canary"
    what = "READ of the canary"

    def degradation(self, where: str, lease_time: Optional[int]) -> Optional[Degradation]:
        if not self.seen:
            return None
        reason = f"{where}: {self.what} answered NFS4ERR_GRACE: no new state until its grace period ends"
        return Degradation(GRACE_PERIOD, self.stage, reason, "NFS4ERR_GRACE", lease_time)


@contextmanager
def _canary_stage(rec: StageRecorder, canary: str, where: str) -> Iterator[_Grace]:
    """Stage `canary`: an NFS error is alert 105 (missing, denied, not a file), no answer by the
    deadline or a lost connection alert 106; both carry the canary's path."""
    grace = _Grace()
    with rec.stage("canary"):
        try:
            yield grace
        except NfsError as exc:
            if exc.status == "NFS4ERR_GRACE":
                grace.seen = True
                return
            reason = f"{where}: {exc.sperror()}"
            raise ProbeFailure(
                alerts.CANARY_UNREADABLE, "canary", reason, f"{canary}: {exc.status}",
                rpc_status=exc.status, canary=canary,
            ) from exc
        except (RpcTimeout, RpcConnectionError, DeadlineExceeded) as exc:
            timed_out = not isinstance(exc, RpcConnectionError)
            err = getattr(exc, "errno", None) or (errno_mod.ETIMEDOUT if timed_out else errno_mod.EIO)
            what = "no answer within the deadline" if timed_out else exc.sperror()
            raise ProbeFailure(
                alerts.CANARY_BLOCKED, "canary", f"{where}: {what}", f"{canary}: {os.strerror(err)}",
                errno=err, timed_out=timed_out, canary=canary,
            ) from exc  # fmt: skip
        except RpcError as exc:
            failure = _failure(exc, "canary", SERVICE, where)
            failure.canary = canary
            raise failure from exc


# -- the write canary (fswatch.probes.write_canary) -------------------------------------------------

WRITE_MODE = 0o600  # the canary's file is the probe's alone
UID0 = "uid 0 (AUTH_SYS; a root-squashing server writes as its anonymous user)"


def _writer(target: NfsTarget, client: Optional[RpcClient]) -> str:
    """Who the server sees write the canary: uid 0 over AUTH_SYS, the principal under RPCSEC_GSS
    (the same calls, the same client: only the credential differs)."""
    if client is not None and target.kerberos is not None:
        from fswatch.rpc.rpcsec_gss import RpcsecGss  # loaded already: the watch logs on with Kerberos

        if isinstance(client.flavor, RpcsecGss):
            return f"principal {target.kerberos.principal} (RPCSEC_GSS: the server writes as the user it maps it to)"
    return UID0


READDIR_BYTES = 32768  # one READDIR answer of the sweep
MAX_SWEEP_PAGES = 16  # READDIRs per sweep: a canary directory of its own needs one
SWEEP_CUT = f"stopped after {MAX_SWEEP_PAGES} READDIRs: give the write canary a directory of its own"


class _WriteCanary:
    """The write canary's flow, over NFSv3 or v4 (the subclasses): five stages in one deadline.

    After a step the server refused (a read-only file system, no space, a mismatch), the file is
    removed within the same deadline, so a failed probe leaves nothing either; after no answer by
    the deadline it stays, and a later probe's sweep removes it."""

    def __init__(
        self, target: NfsTarget, rec: StageRecorder, where: str, deadline: Deadline, client: Optional[RpcClient] = None
    ) -> None:
        self.target = target
        self.identity = _writer(target, client)
        self.rec = rec
        self.deadline = deadline
        self.canary = write_canary.new_file(str(target.canary_write), target.canary_owner, deadline)
        self.where = f"{where}, write canary {self.canary.path}"
        self.created = False
        self.grace = _Grace()
        self.grace.stage, self.grace.what = "write_create", "OPEN (create) of the write canary"

    def run(self) -> _Grace:
        canary, owner = self.canary, self.target.canary_owner
        self.rec.note("write_canary_file", canary.path)
        self.rec.note(write_canary.IDENTITY_NOTE, self.identity)
        try:
            with self._stage("write_create"):
                now = self.create()
                self.created = True
            if self.grace.seen:
                return self.grace
            with self._stage("write"):
                count = self.write()
                if count != len(canary.data):
                    short = f"the server wrote {count} of {len(canary.data)} bytes"
                    raise self._refused(alerts.WRITE_FAILED, "write", short)
            self.rec.note("write_canary_bytes", str(count))
            with self._stage("write_readback"):
                differs = write_canary.mismatch(canary.data, self.read())
                if differs is not None:
                    raise self._refused(alerts.WRITE_MISMATCH, "write_readback", differs)
            with self._stage("write_remove"):
                self.remove()
                self.created = False
            with self._stage("write_sweep"):
                names = self.list()
                removed, kept = 0, ""
                for name, kind, modified in names:
                    if name == canary.name or kind != "regular" or modified is None:
                        continue
                    if not write_canary.is_leftover(name, owner, modified, now):
                        continue
                    try:
                        self.remove_leftover(name)
                        removed += 1
                    except NfsError as exc:  # gone already (another probe's sweep), or refused: next time
                        kept = f"{name}: {exc.status}"
        except ProbeFailure as failure:
            if self.created and failure.alert != alerts.WRITE_BLOCKED:  # the server answers: clean up now
                self._remove_quietly()
            raise
        self.rec.note("write_canary_leftovers_removed", str(removed))
        if kept:
            self.rec.note("write_canary_leftovers_kept", kept)
        return self.grace

    def _remove_quietly(self) -> None:
        try:
            self.remove()
        except (RpcError, DeadlineExceeded) as exc:
            self.rec.note("write_canary_cleanup", f"failed: {exc}")

    def _refused(self, alert: int, stage: str, what: str) -> ProbeFailure:
        return ProbeFailure(
            alert, stage, f"{self.where}, {stage}: {what}", f"{self.canary.directory}: {what}", canary=self.canary.path
        )

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """A write canary stage: the server's refusal is the alert of its status (write_canary.alert_of),
        no answer by the deadline or a lost connection alert 139, a grace period a degradation."""
        canary = self.canary
        with self.rec.stage(name):
            try:
                yield
            except NfsError as exc:
                if exc.status == "NFS4ERR_GRACE" and name == "write_create":
                    self.grace.seen = True
                    return
                raise ProbeFailure(
                    write_canary.alert_of(exc.status), name, f"{self.where}, {name}: {exc.sperror()} ({exc.operation})",
                    f"{canary.directory}: {exc.status}", rpc_status=exc.status, canary=canary.path,
                ) from exc  # fmt: skip
            except (RpcTimeout, RpcConnectionError, DeadlineExceeded) as exc:
                timed_out = not isinstance(exc, RpcConnectionError)
                err = getattr(exc, "errno", None) or (errno_mod.ETIMEDOUT if timed_out else errno_mod.EIO)
                what = "no answer within the deadline" if timed_out else exc.sperror()
                raise ProbeFailure(
                    alerts.WRITE_BLOCKED, name, f"{self.where}, {name}: {what}",
                    f"{canary.directory}, {name}: {os.strerror(err)}", errno=err, timed_out=timed_out,
                    canary=canary.path,
                ) from exc  # fmt: skip
            except RpcError as exc:
                failure = _failure(exc, name, SERVICE, self.where)
                failure.canary = canary.path
                raise failure from exc
            except ProbeFailure:
                raise
            except Exception as exc:  # a decoder's IndexError and the like: the answer is unreadable
                failure = _unexpected(exc, name, self.where)
                failure.canary = canary.path
                raise failure from exc

    # what each version does: create returns the server's time (seconds) when it made the file
    def create(self) -> float: ...
    def write(self) -> int: ...
    def read(self) -> bytes: ...
    def remove(self) -> None: ...
    def list(self) -> List[Tuple[str, str, Optional[float]]]: ...  # (name, "regular" or other, modified)
    def remove_leftover(self, name: str) -> None: ...


class _WriteCanaryV3(_WriteCanary):
    def __init__(
        self, target: NfsTarget, nfs: RpcClient, root: bytes, rec: StageRecorder, deadline: Deadline, where: str
    ) -> None:
        super().__init__(target, rec, where, deadline, nfs)
        self.nfs = nfs
        self.root = root
        self.directory = b""
        self.fhandle = b""

    def create(self) -> float:
        nfs, deadline, canary = self.nfs, self.deadline, self.canary
        self.directory = self.root
        for name in canary.directory_components:
            self.directory = nfs3.lookup(nfs, self.directory, name, deadline)
        fhandle, attributes = nfs3.create(nfs, self.directory, canary.name, WRITE_MODE, deadline)
        self.created = True
        # post_op_fh3 and post_op_attr are optional in the answer: ask where the server kept them
        self.fhandle = fhandle or nfs3.lookup(nfs, self.directory, canary.name, deadline)
        return (attributes or nfs3.getattr(nfs, self.fhandle, deadline)).mtime

    def write(self) -> int:
        written = nfs3.write(self.nfs, self.fhandle, self.canary.data, nfs3.FILE_SYNC, self.deadline)
        if written.committed != nfs3.FILE_SYNC:  # the server may answer a FILE_SYNC less stably (RFC 1813 3.3.7)
            nfs3.commit(self.nfs, self.fhandle, self.deadline)
        return written.count

    def read(self) -> bytes:
        return nfs3.read(self.nfs, self.fhandle, len(self.canary.data), self.deadline).data

    def remove(self) -> None:
        nfs3.remove(self.nfs, self.directory, self.canary.name, self.deadline)

    def list(self) -> List[Tuple[str, str, Optional[float]]]:
        names: List[str] = []
        cookie, cookieverf = 0, bytes(nfs3.COOKIEVERF3_SIZE)
        for _ in range(MAX_SWEEP_PAGES):
            page = nfs3.readdir(self.nfs, self.directory, cookie, cookieverf, READDIR_BYTES, self.deadline)
            names += [n for n in page.names if write_canary.life_of(n, self.target.canary_owner) is not None]
            if page.eof or not page.names:
                break
            cookie, cookieverf = page.cookie, page.cookieverf
        else:
            self.rec.note("write_canary_sweep", SWEEP_CUT)
        out = []
        for name in names:
            if name == self.canary.name:
                continue
            try:
                _, attributes = nfs3.lookup_attributes(self.nfs, self.directory, name, self.deadline)
            except NfsError:  # gone meanwhile
                continue
            if attributes is not None:
                out.append((name, "regular" if attributes.type == "NF3REG" else attributes.type, attributes.mtime))
        return out

    def remove_leftover(self, name: str) -> None:
        nfs3.remove(self.nfs, self.directory, name, self.deadline)


class _WriteCanaryV4(_WriteCanary):
    """Over NFSv4 (fswatch.rpc.nfs4write); each method imports the v4 client where it uses it, as
    _probe_v4 does, so that a v3 watch never loads it."""

    def __init__(
        self, target: NfsTarget, channel: nfs4write.Channel, clientid: Optional[int], rec: StageRecorder, where: str
    ) -> None:
        from fswatch.rpc import nfs4, nfs4write

        super().__init__(target, rec, where, channel.deadline, channel.client)
        self.channel = channel
        self.clientid = clientid  # the session's (v4.1, 4.2); v4.0 makes its own
        self.walk = nfs4write.walk(nfs4.path_components(target.export) + self.canary.directory_components)
        self.seqid = 0  # the open owner's (v4.0; ignored from v4.1 on)
        self.stateid = b""
        self.fhandle = b""
        self.delegation: Optional[bytes] = None

    def create(self) -> float:
        from fswatch.rpc import nfs4, nfs4write, nfs41

        channel, canary = self.channel, self.canary
        if self.clientid is None:  # v4.0: a client ID of this process, confirmed (RFC 7530 16.33)
            name = nfs41.client_owner().ownerid + b"/v4.0"
            answer = channel.call([nfs4write.setclientid(nfs41.ClientOwner.verifier(), name)], nfs4write.READERS)
            clientid, confirm = answer.of(nfs4write.OP_SETCLIENTID)  # type: ignore[misc]
            channel.call([nfs4write.setclientid_confirm(clientid, confirm)])
            self.clientid = clientid
        owner = canary.name.encode()  # an open owner per probe: its file's unique name
        ops = [
            *self.walk,
            nfs4write.open_create(self.seqid, self.clientid, owner, canary.name, WRITE_MODE, channel.minor),
            (nfs4write.OP_GETFH, b""),
            nfs4write.getattr_op((nfs4.FATTR4_TYPE, nfs4.FATTR4_TIME_MODIFY)),
        ]
        answer = channel.call(ops, nfs4write.READERS)
        opened = answer.of(nfs4write.OP_OPEN)
        assert isinstance(opened, nfs4write.OpenResult)
        self.created = True
        self.stateid, self.delegation = opened.stateid, opened.delegation
        self.fhandle = answer.of(nfs4write.OP_GETFH)  # type: ignore[assignment]
        attributes = answer.of(nfs4.OP_GETATTR)
        if opened.rflags & nfs4write.OPEN4_RESULT_CONFIRM:  # v4.0, a new open owner
            self.seqid += 1
            confirm = [nfs4write.putfh(self.fhandle), nfs4write.open_confirm(self.stateid, self.seqid)]
            self.stateid = channel.call(confirm, nfs4write.READERS).of(nfs4write.OP_OPEN_CONFIRM)  # type: ignore[assignment]
        modified = getattr(attributes, "time_modify", None)
        if modified is None:
            raise RpcDecodeError("GETATTR after OPEN sent no time_modify")
        return modified

    def write(self) -> int:
        from fswatch.rpc import nfs4write

        ops = [nfs4write.putfh(self.fhandle), nfs4write.write(self.stateid, self.canary.data)]
        written = self.channel.call(ops, nfs4write.READERS).of(nfs4write.OP_WRITE)
        assert isinstance(written, nfs4write.Written)
        if written.committed != nfs4write.FILE_SYNC4:  # the server may answer less stably (RFC 7530 16.36.4)
            self.channel.call([nfs4write.putfh(self.fhandle), nfs4write.commit()], nfs4write.READERS)
        return written.count

    def read(self) -> bytes:
        from fswatch.rpc import nfs4, nfs4write

        ops = [nfs4write.putfh(self.fhandle), nfs4write.read(self.stateid, len(self.canary.data))]
        return self.channel.call(ops, nfs4write.READERS).of(nfs4.OP_READ)  # type: ignore[return-value]

    def remove(self) -> None:
        """CLOSE (after DELEGRETURN of a delegation), then REMOVE, in one COMPOUND."""
        from fswatch.rpc import nfs4write

        ops = [nfs4write.putfh(self.fhandle)]
        if self.delegation is not None:
            ops.append(nfs4write.delegreturn(self.delegation))
        if self.stateid:
            self.seqid += 1
            ops.append(nfs4write.close(self.seqid if self.channel.minor == 0 else 0, self.stateid))
        self.channel.call([*ops, *self.walk, nfs4write.remove(self.canary.name)], nfs4write.READERS)
        self.stateid, self.delegation = b"", None

    def list(self) -> List[Tuple[str, str, Optional[float]]]:
        from fswatch.rpc import nfs4write

        out = []
        cookie, cookieverf = 0, bytes(nfs4write.VERIFIER_SIZE)
        for _ in range(MAX_SWEEP_PAGES):
            ops = [*self.walk, nfs4write.readdir(cookie, cookieverf, READDIR_BYTES)]
            page = self.channel.call(ops, nfs4write.READERS).of(nfs4write.OP_READDIR)
            assert isinstance(page, nfs4write.DirectoryPage)
            for entry in page.entries:
                if write_canary.life_of(entry.name, self.target.canary_owner) is not None:
                    kind = "regular" if entry.attributes.type == "NF4REG" else str(entry.attributes.type)
                    out.append((entry.name, kind, entry.attributes.time_modify))
            if page.eof or not page.entries:
                break
            cookie, cookieverf = page.cookie, page.cookieverf
        else:
            self.rec.note("write_canary_sweep", SWEEP_CUT)
        return out

    def remove_leftover(self, name: str) -> None:
        from fswatch.rpc import nfs4write

        self.channel.call([*self.walk, nfs4write.remove(name)], nfs4write.READERS)


class _Stage:
    """A timed stage whose RPC errors become the ProbeFailure of this stage (a class, not a
    generator: a v3 probe enters six)."""

    __slots__ = ("_timed", "_name", "_talks_to", "_where")

    def __init__(self, rec: StageRecorder, name: str, talks_to: str, where: str) -> None:
        self._timed = rec.stage(name)
        self._name, self._talks_to, self._where = name, talks_to, where

    def __enter__(self) -> None:
        self._timed.__enter__()

    def __exit__(self, exc_type: object, exc: Optional[BaseException], tb: object) -> bool:
        self._timed.__exit__(exc_type, exc, tb)  # timed, failed when anything leaves the block
        if exc is None or isinstance(exc, ProbeFailure) or not isinstance(exc, Exception):
            return False
        if isinstance(exc, RpcError):
            raise _failure(exc, self._name, self._talks_to, self._where) from exc
        if isinstance(exc, DeadlineExceeded):
            raise _failure(RpcTimeout(), self._name, self._talks_to, self._where) from exc
        if isinstance(exc, KerberosFault):  # the GSS context could not be made from the ticket held
            raise exc.failure(self._name) from exc
        # IndexError, struct.error, ... out of a decoder: the answer is unreadable
        raise _unexpected(exc, self._name, self._where) from exc


def _last_stage(rec: StageRecorder) -> str:
    return rec.stages[-1].stage if rec.stages else "connect"


def _unexpected(exc: Exception, stage: str, where: str) -> ProbeFailure:
    """An exception fswatch.rpc does not raise on purpose, as the RPC_CANTDECODERES it stands for.

    Never raises itself: even str() of a strange exception may fail.
    """
    try:
        text = " ".join(str(exc).split())[:200]
    except Exception:
        text = ""
    decode = RpcDecodeError(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
    return ProbeFailure(
        alerts.NFS_STATUS,
        stage,
        f"{where}: {decode.sperror()} ({decode})",
        decode.sperror(),
        errno=None,
        rpc_status=decode.status,
    )


def _close_quietly(channels: _Channels) -> None:
    try:
        channels.close()
    except Exception:  # close() only closes sockets; nothing here may replace the probe's result
        pass


def _failure(exc: RpcError, stage: str, talks_to: str, where: str) -> ProbeFailure:
    """An RPC error -> the clp_nfsmon alert for it (SPEC.md section 4, alerts 81-85 and 42)."""
    timed_out = isinstance(exc, RpcTimeout)
    reason = f"{where}: {exc.sperror() if not timed_out else 'no answer within the deadline'}"
    common = {"errno": exc.errno, "rpc_status": exc.status, "timed_out": timed_out}
    if isinstance(exc, RpcSystemError):
        return ProbeFailure(alerts.SYSTEM, stage, f"{where}: {exc}", str(exc.errno), function="socket", **common)
    if isinstance(exc, GssError):
        alert = alerts.GSS_REFUSED if exc.refused else alerts.GSS_BAD_REPLY
        return ProbeFailure(alert, stage, f"{where}: {exc}", exc.status or "RPCSEC_GSS", **common)
    if isinstance(exc, RpcReplyError) and exc.status in GSS_CONTEXT_REFUSALS:
        return ProbeFailure(alerts.GSS_REFUSED, stage, reason, exc.status, **common)
    if talks_to == PORTMAPPER:
        if isinstance(exc, ProgramNotRegistered):
            return ProbeFailure(alerts.NOT_REGISTERED, stage, f"{where}: {exc}", **common)
        return ProbeFailure(alerts.PORTMAP, stage, reason, exc.sperror(), **common)
    if isinstance(exc, MountError) or (
        isinstance(exc, NfsError) and exc.operation == "LOOKUP" and exc.status in _EXPORT_MISSING
    ):
        reason = f"{where}: export not found or denied ({exc.status})"
        return ProbeFailure(alerts.MOUNT, stage, reason, exc.status, **common)
    if isinstance(exc, (RpcConnectionError, RpcTimeout)):
        err = exc.errno if exc.errno is not None else errno_mod.EIO
        return ProbeFailure(alerts.NFS_RECEIVE, stage, reason, os.strerror(err), **common)
    return ProbeFailure(alerts.NFS_STATUS, stage, reason, exc.sperror(), **common)

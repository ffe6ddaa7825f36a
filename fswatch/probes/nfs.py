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

The probe only does I/O and returns an Observation; every server problem becomes a
ProbeFailure naming the alert (81-85, 42) whose text the seed's clp_nfsmon printed.
"""

from __future__ import annotations

import errno as errno_mod
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Iterator, Optional, Sequence, Tuple

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.errors import DeadlineExceeded, ProbeFailure
from fswatch.core.observation import Degradation, Observation, StageRecorder
from fswatch.probes.resolve import Resolver, address_for
from fswatch.rpc import mount, nfs3, portmap
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import (
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
from fswatch.rpc.message import OpaqueAuth, auth_sys
from fswatch.rpc.transport import SOURCE_UNPRIVILEGED, open_transport

if TYPE_CHECKING:  # imported where used: a v3 watch never loads the NFSv4 client (memory)
    from fswatch.rpc import nfs4, nfs41

CANARY_READ_BYTES = 4096  # a canary's first bytes: one READ, the smallest I/O that reaches its data

NFS4_PORT = 2049
GRACE_PERIOD = "grace period"

# LOOKUP answers on the export's path that mean "no such export, or not for you", like MNT's.
_EXPORT_MISSING = frozenset(
    {"NFS4ERR_NOENT", "NFS4ERR_ACCESS", "NFS4ERR_PERM", "NFS4ERR_NOTDIR", "NFS4ERR_NAMETOOLONG"}
)

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

    def source_port(self) -> Optional[str]:
        """SOURCE_RESERVED if every socket had a reserved source port, else SOURCE_UNPRIVILEGED."""
        kinds = {client.transport.source_port for client in self._clients.values()}
        if not kinds:
            return None
        return SOURCE_UNPRIVILEGED if SOURCE_UNPRIVILEGED in kinds else kinds.pop()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


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
    try:
        address = address_for(target.address, rec, deadline, resolver)  # once: every socket goes there
        channels = _Channels(address, target.transport, auth_sys(), deadline)
        if target.version == 4:
            degraded = _probe_v4(target, address, channels, rec, deadline)
        else:
            _probe_v3(target, address, channels, rec, deadline)
    except ProbeFailure as exc:
        failure = exc
    except Exception as exc:  # a decoder or client bug must not crash the watch: a failed probe
        failure = _unexpected(exc, _last_stage(rec), f"NFS at {target.address}")
    finally:
        if channels is not None:
            _close_quietly(channels)
    if channels is not None:
        kind = channels.source_port()
        if kind is not None:
            rec.note("source_port", kind)
    return rec.observation(failure, degraded)


def _probe_v3(target: NfsTarget, address: str, channels: _Channels, rec: StageRecorder, deadline: Deadline) -> None:
    """Every call of the v3 probe, in as few round trips as their answers allow (fswatch.rpc.client:
    over TCP, calls in flight together): the two GETPORTs at once; MNT while the NFS connection's
    handshake goes on; then NULL, GETATTR, FSSTAT and UMNT at once, which need nothing but the
    handle. Each stage still waits for its own reply, in this order, so each names and times its
    own step and fails on its own (a stalled FSSTAT fails at fsstat, a refused NFS port at nfs_null)."""
    protocol = target.transport
    mount_port, nfs_port = target.mount_port, target.port
    if mount_port is None or nfs_port is None:
        with _Stage(rec, "portmap", PORTMAPPER, f"portmapper at {address}:{portmap.PORT}/{protocol}"):
            pmap = channels.to(portmap.PORT)
            asked = [
                portmap.start_getport(pmap, program, version, protocol, deadline) if port is None else None
                for port, program, version in ((mount_port, mount.PROGRAM, mount.VERSION),
                                               (nfs_port, nfs3.PROGRAM, nfs3.VERSION))
            ]  # fmt: skip
            mount_port, nfs_port = (port if ask is None else ask.result(deadline)
                                    for port, ask in zip((mount_port, nfs_port), asked))
    assert mount_port is not None and nfs_port is not None
    where_mount = f"MOUNT at {address}:{mount_port}/{protocol}"
    where_nfs = f"NFS at {address}:{nfs_port}/{protocol}"
    with _Stage(rec, "mount", SERVICE, f"{where_mount}, MNT {target.export}"):
        mounting = mount.start_mnt(channels.to(mount_port), target.export, deadline)
        channels.open(nfs_port)
        fhandle = mounting.result(deadline).fhandle
    with _Stage(rec, "nfs_null", SERVICE, f"{where_nfs}, NULL"):
        nfs = channels.to(nfs_port)
        null = nfs3.start_null(nfs, deadline)
        attributes = nfs3.start_getattr(nfs, fhandle, deadline)
        space = nfs3.start_fsstat(nfs, fhandle, deadline)
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
    with _Stage(rec, "umount", SERVICE, f"{where_mount}, UMNT {target.export}"):
        unmounting.result(deadline)


def _probe_v4(
    target: NfsTarget, address: str, channels: _Channels, rec: StageRecorder, deadline: Deadline
) -> Optional[Degradation]:
    from fswatch.rpc import nfs41

    server = f"{address}:{target.port or NFS4_PORT}/{target.transport}"
    where = f"NFSv4 at {server}"
    with _Stage(rec, "connect", SERVICE, where):
        nfs = channels.to(target.port or NFS4_PORT)
    if target.minor_version == 0:
        rec.note("nfs_version", "4.0")
        return _probe_v40(target, where, nfs, rec, deadline)
    # Highest first; one round trip per minor version the server refuses (NFS4ERR_MINOR_VERS_MISMATCH).
    # Nothing is cached between probes: a failover to a server of another configuration is seen
    # at once, for ~0.1 ms per refused version on loopback (bench/RESULTS.md).
    minors = nfs41.MINOR_VERSIONS + (0,) if target.minor_version is None else (target.minor_version,)
    ownerid = nfs41.client_owner().ownerid
    with _Stage(rec, "exchange_id", SERVICE, f"{where}, EXCHANGE_ID"):
        minor, client = _exchange_id(nfs, minors, ownerid, deadline)
    rec.note("nfs_version", f"4.{minor}")
    if client is None:
        return _probe_v40(target, where, nfs, rec, deadline)
    return _probe_session(target, f"NFSv4.{minor} at {server}", nfs, minor, client, ownerid, rec, deadline)


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
    target: NfsTarget, where: str, nfs: RpcClient, rec: StageRecorder, deadline: Deadline
) -> Optional[Degradation]:
    from fswatch.rpc import nfs4

    with _Stage(rec, "compound", SERVICE, f"{where}, COMPOUND LOOKUP {target.export}, GETATTR space"):
        attributes = nfs4.lookup_path(nfs, target.export, deadline)
        _check_directory(attributes)
    _note_storage(rec, attributes)
    if target.canary is None:
        return None
    path = _canary_path(target)
    with _canary_stage(rec, target.canary, f"{where}, COMPOUND LOOKUP {path}, READ") as grace:
        _note_read(rec, nfs4.read_path(nfs, path, CANARY_READ_BYTES, deadline))
    return grace.degradation(where, attributes.lease_time)


def _probe_session(
    target: NfsTarget,
    where: str,
    nfs: RpcClient,
    minor: int,
    client: nfs41.ClientId,
    ownerid: bytes,
    rec: StageRecorder,
    deadline: Deadline,
) -> Optional[Degradation]:
    """CREATE_SESSION, the COMPOUND, then DESTROY_SESSION and DESTROY_CLIENTID, also when a step
    before them failed while the connection still works: a probe leaves nothing on the server."""
    from fswatch.rpc import nfs41

    sessionid: Optional[bytes] = None
    try:
        with _Stage(rec, "create_session", SERVICE, f"{where}, CREATE_SESSION"):
            sessionid = nfs41.create_session(nfs, minor, client, deadline)
        compound = f"{where}, COMPOUND SEQUENCE, LOOKUP {target.export}, GETATTR space, OPEN"
        with _Stage(rec, "compound", SERVICE, compound):
            seen = nfs41.lookup_in_session(nfs, minor, sessionid, client.clientid, ownerid, target.export, deadline)
            _check_directory(seen.attributes)
        grace = _Grace()
        if target.canary is not None:
            path = _canary_path(target)
            with _canary_stage(rec, target.canary, f"{where}, COMPOUND SEQUENCE, LOOKUP {path}, READ") as grace:
                # slot 0's second request: sequence id 2
                _note_read(rec, nfs41.read_in_session(nfs, minor, sessionid, 2, path, CANARY_READ_BYTES, deadline))
    except ProbeFailure as failure:
        if isinstance(failure.__cause__, (ServiceError, RpcReplyError)):  # the server answered: it can hear us
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
    """Whether the canary's READ met a grace period: a v4 server may refuse READ with the anonymous
    stateid then (RFC 7530 section 9.6, crash recovery), which is the grace period's degradation, not a missing file."""

    seen = False

    def degradation(self, where: str, lease_time: Optional[int]) -> Optional[Degradation]:
        if not self.seen:
            return None
        reason = f"{where}: READ of the canary answered NFS4ERR_GRACE: no new state until its grace period ends"
        return Degradation(GRACE_PERIOD, "canary", reason, "NFS4ERR_GRACE", lease_time)


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

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

The probe only does I/O and returns an Observation; every server problem becomes a
ProbeFailure naming the alert (81-85, 42) whose text the seed's clp_nfsmon printed.
"""

from __future__ import annotations

import errno as errno_mod
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.errors import DeadlineExceeded, ProbeFailure
from fswatch.core.observation import Degradation, Observation, StageRecorder
from fswatch.probes import write_canary
from fswatch.probes.resolve import Resolver, address_for
from fswatch.rpc import mount, nfs3, nfs4, nfs4write, nfs41, portmap
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

CANARY_READ_BYTES = 4096  # a canary's first bytes: one READ, the smallest I/O that reaches its data

NFS4_PORT = 2049
PINNABLE_MINOR_VERSIONS = (0,) + tuple(sorted(nfs41.MINOR_VERSIONS))
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
    canary_write: Optional[str] = None  # a directory to write a file in, each probe (fswatch.probes.write_canary)
    canary_owner: str = write_canary.owner("nfs", None)  # whose canary files the probe's names say


class _Channels:
    """One RPC client per server port within a probe; close() closes them all."""

    def __init__(self, address: str, protocol: str, cred: OpaqueAuth, deadline: Deadline) -> None:
        self._address = address
        self._protocol = protocol
        self._cred = cred
        self._deadline = deadline
        self._clients: Dict[int, RpcClient] = {}

    def to(self, port: int) -> RpcClient:
        client = self._clients.get(port)
        if client is None:
            transport = open_transport(self._protocol, self._address, port, self._deadline)
            client = self._clients[port] = RpcClient(transport, self._cred)
        return client

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
    protocol = target.transport
    mount_port, nfs_port = target.mount_port, target.port
    if mount_port is None or nfs_port is None:
        with _stage(rec, "portmap", PORTMAPPER, f"portmapper at {address}:{portmap.PORT}/{protocol}"):
            pmap = channels.to(portmap.PORT)
            if mount_port is None:
                mount_port = portmap.getport(pmap, mount.PROGRAM, mount.VERSION, protocol, deadline)
            if nfs_port is None:
                nfs_port = portmap.getport(pmap, nfs3.PROGRAM, nfs3.VERSION, protocol, deadline)
    where_mount = f"MOUNT at {address}:{mount_port}/{protocol}"
    where_nfs = f"NFS at {address}:{nfs_port}/{protocol}"
    with _stage(rec, "mount", SERVICE, f"{where_mount}, MNT {target.export}"):
        fhandle = mount.mnt(channels.to(mount_port), target.export, deadline).fhandle
    with _stage(rec, "nfs_null", SERVICE, f"{where_nfs}, NULL"):
        nfs = channels.to(nfs_port)
        nfs3.null(nfs, deadline)
    with _stage(rec, "getattr", SERVICE, f"{where_nfs}, GETATTR {target.export}"):
        nfs3.getattr(nfs, fhandle, deadline)
    with _stage(rec, "fsstat", SERVICE, f"{where_nfs}, FSSTAT {target.export}"):
        nfs3.fsstat(nfs, fhandle, deadline)
    if target.canary is not None:
        with _canary_stage(rec, target.canary, f"{where_nfs}, LOOKUP and READ {target.canary}"):
            handle = fhandle
            for name in nfs4.path_components(target.canary):
                handle = nfs3.lookup(nfs, handle, name, deadline)
            _note_read(rec, nfs3.read(nfs, handle, CANARY_READ_BYTES, deadline))
    if target.canary_write is not None:
        _WriteCanaryV3(target, nfs, fhandle, rec, deadline, where_nfs).run()
    with _stage(rec, "umount", SERVICE, f"{where_mount}, UMNT {target.export}"):
        mount.umnt(channels.to(mount_port), target.export, deadline)


def _probe_v4(
    target: NfsTarget, address: str, channels: _Channels, rec: StageRecorder, deadline: Deadline
) -> Optional[Degradation]:
    server = f"{address}:{target.port or NFS4_PORT}/{target.transport}"
    where = f"NFSv4 at {server}"
    with _stage(rec, "connect", SERVICE, where):
        nfs = channels.to(target.port or NFS4_PORT)
    if target.minor_version == 0:
        rec.note("nfs_version", "4.0")
        return _probe_v40(target, where, nfs, rec, deadline)
    # Highest first; one round trip per minor version the server refuses (NFS4ERR_MINOR_VERS_MISMATCH).
    # Nothing is cached between probes: a failover to a server of another configuration is seen
    # at once, for ~0.1 ms per refused version on loopback (bench/RESULTS.md).
    minors = nfs41.MINOR_VERSIONS + (0,) if target.minor_version is None else (target.minor_version,)
    ownerid = nfs41.client_owner().ownerid
    with _stage(rec, "exchange_id", SERVICE, f"{where}, EXCHANGE_ID"):
        minor, client = _exchange_id(nfs, minors, ownerid, deadline)
    rec.note("nfs_version", f"4.{minor}")
    if client is None:
        return _probe_v40(target, where, nfs, rec, deadline)
    return _probe_session(target, f"NFSv4.{minor} at {server}", nfs, minor, client, ownerid, rec, deadline)


def _exchange_id(
    nfs: RpcClient, minors: Sequence[int], ownerid: bytes, deadline: Deadline
) -> Tuple[int, Optional[nfs41.ClientId]]:
    """The first of `minors` the server serves and its client ID (None for 4.0: no sessions)."""
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
    with _stage(rec, "compound", SERVICE, f"{where}, COMPOUND LOOKUP {target.export}, GETATTR space"):
        attributes = nfs4.lookup_path(nfs, target.export, deadline)
        _check_directory(attributes)
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
    rec: StageRecorder,
    deadline: Deadline,
) -> Optional[Degradation]:
    """CREATE_SESSION, the COMPOUND, then DESTROY_SESSION and DESTROY_CLIENTID, also when a step
    before them failed while the connection still works: a probe leaves nothing on the server."""
    sessionid: Optional[bytes] = None
    try:
        with _stage(rec, "create_session", SERVICE, f"{where}, CREATE_SESSION"):
            sessionid = nfs41.create_session(nfs, minor, client, deadline)
        compound = f"{where}, COMPOUND SEQUENCE, LOOKUP {target.export}, GETATTR space, OPEN"
        with _stage(rec, "compound", SERVICE, compound):
            seen = nfs41.lookup_in_session(nfs, minor, sessionid, client.clientid, ownerid, target.export, deadline)
            _check_directory(seen.attributes)
        grace = _Grace()
        if target.canary is not None:
            path = _canary_path(target)
            with _canary_stage(rec, target.canary, f"{where}, COMPOUND SEQUENCE, LOOKUP {path}, READ") as grace:
                # slot 0's second request: sequence id 2
                _note_read(rec, nfs41.read_in_session(nfs, minor, sessionid, 2, path, CANARY_READ_BYTES, deadline))
        if target.canary_write is not None and not grace.seen and seen.open_status != "NFS4ERR_GRACE":
            sequencer = nfs41.Sequencer(sessionid, 3 if target.canary is not None else 2)
            channel = nfs4write.Channel(nfs, minor, deadline, sequencer)
            grace = _WriteCanaryV4(target, channel, client.clientid, rec, where).run()
    except ProbeFailure as failure:
        # The server answered (an error status, or what it sent failed a check: the write canary's
        # data read back): it can hear us.
        if failure.__cause__ is None or isinstance(failure.__cause__, (ServiceError, RpcReplyError)):
            _tear_down_quietly(nfs, minor, sessionid, client.clientid, rec, deadline)
        raise
    with _stage(rec, "destroy_session", SERVICE, f"{where}, DESTROY_SESSION"):
        nfs41.destroy_session(nfs, minor, sessionid, deadline)
    with _stage(rec, "destroy_clientid", SERVICE, f"{where}, DESTROY_CLIENTID"):
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
READDIR_BYTES = 32768  # one READDIR answer of the sweep
MAX_SWEEP_PAGES = 16  # READDIRs per sweep: a canary directory of its own needs one
SWEEP_CUT = f"stopped after {MAX_SWEEP_PAGES} READDIRs: give the write canary a directory of its own"


class _WriteCanary:
    """The write canary's flow, over NFSv3 or v4 (the subclasses): five stages in one deadline.

    After a step the server refused (a read-only file system, no space, a mismatch), the file is
    removed within the same deadline, so a failed probe leaves nothing either; after no answer by
    the deadline it stays, and a later probe's sweep removes it."""

    def __init__(self, target: NfsTarget, rec: StageRecorder, where: str, deadline: Deadline) -> None:
        self.target = target
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
        self.rec.note(write_canary.IDENTITY_NOTE, UID0)
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
        super().__init__(target, rec, where, deadline)
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
    def __init__(
        self, target: NfsTarget, channel: nfs4write.Channel, clientid: Optional[int], rec: StageRecorder, where: str
    ) -> None:
        super().__init__(target, rec, where, channel.deadline)
        self.channel = channel
        self.clientid = clientid  # the session's (v4.1, 4.2); v4.0 makes its own
        self.walk = nfs4write.walk(nfs4.path_components(target.export) + self.canary.directory_components)
        self.seqid = 0  # the open owner's (v4.0; ignored from v4.1 on)
        self.stateid = b""
        self.fhandle = b""
        self.delegation: Optional[bytes] = None

    def create(self) -> float:
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
        ops = [nfs4write.putfh(self.fhandle), nfs4write.write(self.stateid, self.canary.data)]
        written = self.channel.call(ops, nfs4write.READERS).of(nfs4write.OP_WRITE)
        assert isinstance(written, nfs4write.Written)
        if written.committed != nfs4write.FILE_SYNC4:  # the server may answer less stably (RFC 7530 16.36.4)
            self.channel.call([nfs4write.putfh(self.fhandle), nfs4write.commit()], nfs4write.READERS)
        return written.count

    def read(self) -> bytes:
        ops = [nfs4write.putfh(self.fhandle), nfs4write.read(self.stateid, len(self.canary.data))]
        return self.channel.call(ops, nfs4write.READERS).of(nfs4.OP_READ)  # type: ignore[return-value]

    def remove(self) -> None:
        """CLOSE (after DELEGRETURN of a delegation), then REMOVE, in one COMPOUND."""
        ops = [nfs4write.putfh(self.fhandle)]
        if self.delegation is not None:
            ops.append(nfs4write.delegreturn(self.delegation))
        if self.stateid:
            self.seqid += 1
            ops.append(nfs4write.close(self.seqid if self.channel.minor == 0 else 0, self.stateid))
        self.channel.call([*ops, *self.walk, nfs4write.remove(self.canary.name)], nfs4write.READERS)
        self.stateid, self.delegation = b"", None

    def list(self) -> List[Tuple[str, str, Optional[float]]]:
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
        self.channel.call([*self.walk, nfs4write.remove(name)], nfs4write.READERS)


@contextmanager
def _stage(rec: StageRecorder, name: str, talks_to: str, where: str) -> Iterator[None]:
    """A timed stage whose RPC errors become the ProbeFailure of this stage."""
    with rec.stage(name):
        try:
            yield
        except RpcError as exc:
            raise _failure(exc, name, talks_to, where) from exc
        except DeadlineExceeded as exc:
            raise _failure(RpcTimeout(), name, talks_to, where) from exc
        except ProbeFailure:
            raise
        except Exception as exc:  # IndexError, struct.error, ... out of a decoder: the answer is unreadable
            raise _unexpected(exc, name, where) from exc


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

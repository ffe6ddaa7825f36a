"""The NFS probe (SPEC.md section 3), on fswatch's own ONC RPC client (fswatch.rpc).

v3: portmapper GETPORT (MOUNT, and NFS unless its port is given) -> MNT export -> NFS NULL
-> GETATTR and FSSTAT of the export's root handle -> UMNT. v4: one COMPOUND walking the
export's path from the root (PUTROOTFH, LOOKUP each component, GETATTR of the type and of
the space and file counts). FSSTAT and the counts make the server ask the file system
(statfs), which no server cache answers: a frozen storage beneath a live server fails the
probe (SPEC.md section 9). No kernel mount, no child process: every step is a socket call
bounded by the probe's Deadline.

The probe only does I/O and returns an Observation; every server problem becomes a
ProbeFailure naming the alert (81-85, 42) whose text the seed's clp_nfsmon printed.
"""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, Optional

from fswatch.deadline import Deadline
from fswatch.errors import DeadlineExceeded, ProbeFailure, UsageError
from fswatch.observation import Observation, StageRecorder
from fswatch.rpc import mount, nfs3, nfs4, portmap
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import (
    MountError,
    NfsError,
    ProgramNotRegistered,
    RpcConnectionError,
    RpcError,
    RpcSystemError,
    RpcTimeout,
)
from fswatch.rpc.message import OpaqueAuth, auth_sys
from fswatch.rpc.transport import SOURCE_UNPRIVILEGED, open_transport

# Alerts (fswatch.alerts) by what went wrong, in the seed's terms.
A_MOUNT, A_PORTMAP, A_NOT_REGISTERED, A_RECEIVE, A_STATUS = 81, 82, 83, 84, 85
A_SYSTEM = 42

NFS4_PORT = 2049

# LOOKUP answers on the export's path that mean "no such export, or not for you", like MNT's.
_EXPORT_MISSING = frozenset(
    {"NFS4ERR_NOENT", "NFS4ERR_ACCESS", "NFS4ERR_PERM", "NFS4ERR_NOTDIR", "NFS4ERR_NAMETOOLONG"}
)

# Which RPC service a stage talks to decides the alert for a failed call.
PORTMAPPER, SERVICE = "portmapper", "service"


@dataclass(frozen=True)
class NfsTarget:
    export: str
    address: str = "127.0.0.1"
    port: Optional[int] = None  # NFS port; None: ask the portmapper (v3) or 2049 (v4)
    mount_port: Optional[int] = None  # MOUNT port; None: ask the portmapper
    version: int = 3
    transport: str = "tcp"

    def __post_init__(self) -> None:
        try:
            # A name would need getaddrinfo(), which no deadline can bound; the seed takes `-a IP`.
            ipaddress.ip_address(self.address)
        except ValueError:
            raise UsageError(f"address must be a numeric IPv4 or IPv6 address, not {self.address!r}") from None
        if self.version not in (3, 4):
            raise UsageError(f"NFS version must be 3 or 4, not {self.version!r}")
        if self.transport not in ("tcp", "udp"):
            raise UsageError(f"transport must be tcp or udp, not {self.transport!r}")
        if self.version == 4 and self.transport != "tcp":
            raise UsageError("NFS version 4 runs over TCP only (RFC 7530 section 3.1)")
        try:
            size = len(self.export.encode("utf-8"))
        except UnicodeEncodeError:
            raise UsageError("export must be valid UTF-8") from None
        if not self.export.startswith("/") or size > mount.MNTPATHLEN:
            raise UsageError(f"export must be an absolute path of at most {mount.MNTPATHLEN} bytes")
        for port in (self.port, self.mount_port):
            if port is not None and not 1 <= port <= 0xFFFF:
                raise UsageError(f"port {port} is out of range 1-65535")


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
) -> Observation:
    """One probe of `target`, finished by `deadline`, never raising for a server problem."""
    rec = StageRecorder(clock)
    failure: Optional[ProbeFailure] = None
    channels: Optional[_Channels] = None
    try:
        channels = _Channels(target.address, target.transport, auth_sys(), deadline)
        if target.version == 4:
            _probe_v4(target, target.address, channels, rec, deadline)
        else:
            _probe_v3(target, target.address, channels, rec, deadline)
    except ProbeFailure as exc:
        failure = exc
    finally:
        if channels is not None:
            channels.close()
    if channels is not None:
        kind = channels.source_port()
        if kind is not None:
            rec.note("source_port", kind)
    return rec.observation(failure)


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
    with _stage(rec, "umount", SERVICE, f"{where_mount}, UMNT {target.export}"):
        mount.umnt(channels.to(mount_port), target.export, deadline)


def _probe_v4(target: NfsTarget, address: str, channels: _Channels, rec: StageRecorder, deadline: Deadline) -> None:
    where = f"NFSv4 at {address}:{target.port or NFS4_PORT}/{target.transport}"
    with _stage(rec, "connect", SERVICE, where):
        nfs = channels.to(target.port or NFS4_PORT)
    with _stage(rec, "compound", SERVICE, f"{where}, COMPOUND LOOKUP {target.export}, GETATTR space"):
        attributes = nfs4.lookup_path(nfs, target.export, deadline)
        if attributes.type is not None and attributes.type != "NF4DIR":
            raise NfsError("NFS4ERR_NOTDIR", "LOOKUP")  # an export is a directory, as MNT insists
    if attributes.space_avail is None and attributes.files_avail is None:
        # A server that keeps the counts to itself answered from what it had: say so, as a
        # frozen storage beneath it would go unseen (its daemon stalling would not).
        rec.note("storage", "not reached: the server sent no space or file counts")


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


def _failure(exc: RpcError, stage: str, talks_to: str, where: str) -> ProbeFailure:
    """An RPC error -> the clp_nfsmon alert for it (SPEC.md section 4, alerts 81-85 and 42)."""
    timed_out = isinstance(exc, RpcTimeout)
    reason = f"{where}: {exc.sperror() if not timed_out else 'no answer within the deadline'}"
    common = {"errno": exc.errno, "rpc_status": exc.status, "timed_out": timed_out}
    if isinstance(exc, RpcSystemError):
        return ProbeFailure(A_SYSTEM, stage, f"{where}: {exc}", str(exc.errno), function="socket", **common)
    if talks_to == PORTMAPPER:
        if isinstance(exc, ProgramNotRegistered):
            return ProbeFailure(A_NOT_REGISTERED, stage, f"{where}: {exc}", **common)
        return ProbeFailure(A_PORTMAP, stage, reason, exc.sperror(), **common)
    if isinstance(exc, MountError) or (
        isinstance(exc, NfsError) and exc.operation == "LOOKUP" and exc.status in _EXPORT_MISSING
    ):
        return ProbeFailure(A_MOUNT, stage, f"{where}: export not found or denied ({exc.status})", exc.status, **common)
    if isinstance(exc, (RpcConnectionError, RpcTimeout)):
        err = exc.errno if exc.errno is not None else errno_mod.EIO
        return ProbeFailure(A_RECEIVE, stage, reason, os.strerror(err), **common)
    return ProbeFailure(A_STATUS, stage, reason, exc.sperror(), **common)

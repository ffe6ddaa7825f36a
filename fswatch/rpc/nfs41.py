"""NFSv4.1 and 4.2 sessions (RFC 8881; RFC 7862 adds operations, not session rules).

A v4.1 server serves no COMPOUND of PUTROOTFH/LOOKUP outside a session (NFS4ERR_OP_NOT_IN_SESSION),
so a probe is five round trips, each its own COMPOUND:

    EXCHANGE_ID                       -> a client ID           (section 18.35)
    CREATE_SESSION                    -> a session, slot 0     (section 18.36)
    SEQUENCE, RECLAIM_COMPLETE, PUTROOTFH, LOOKUP..., GETATTR, OPEN (section 18.46, ...)
    DESTROY_SESSION                   (section 18.37)
    DESTROY_CLIENTID                  (section 18.50)

EXCHANGE_ID, CREATE_SESSION, DESTROY_SESSION and DESTROY_CLIENTID must each be the only operation
of a COMPOUND without SEQUENCE (NFS4ERR_NOT_ONLY_OP), hence one round trip each.

The OPEN shows a grace period without a canary file: after a restart or failover the server
refuses new state with NFS4ERR_GRACE (section 8.4.2). It opens, without creating, a random name
that does not exist, so outside a grace period the answer is NFS4ERR_NOENT and no state is made.
RECLAIM_COMPLETE comes first because a v4.1 client that has not sent it gets NFS4ERR_GRACE for
every non-reclaim OPEN, in or out of a grace period (section 18.51.3); a fresh client ID has
nothing to reclaim, so it tells the server nothing but that.

The client owner is one per process; each probe uses a fresh verifier, which to the server is a
client that rebooted (section 18.35.5 case 5): a client ID a failed probe left behind is dropped
when the next probe's CREATE_SESSION confirms its own, and otherwise when its lease expires.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from fswatch.core.deadline import Deadline
from fswatch.rpc import nfs4
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import RpcDecodeError
from fswatch.rpc.message import status_name
from fswatch.rpc.xdr import Decoder, Encoder

OP_OPEN, OP_EXCHANGE_ID, OP_CREATE_SESSION, OP_DESTROY_SESSION = 18, 42, 43, 44
OP_SECINFO_NO_NAME, OP_SEQUENCE, OP_DESTROY_CLIENTID, OP_RECLAIM_COMPLETE = 52, 53, 57, 58
nfs4.OP_NAMES.update(
    {
        OP_OPEN: "OPEN",
        OP_EXCHANGE_ID: "EXCHANGE_ID",
        OP_CREATE_SESSION: "CREATE_SESSION",
        OP_DESTROY_SESSION: "DESTROY_SESSION",
        OP_SEQUENCE: "SEQUENCE",
        OP_DESTROY_CLIENTID: "DESTROY_CLIENTID",
        OP_RECLAIM_COMPLETE: "RECLAIM_COMPLETE",
        OP_SECINFO_NO_NAME: "SECINFO_NO_NAME",
    }
)
SECINFO_STYLE4_CURRENT_FH = 0

MINOR_VERSIONS = (2, 1)  # with sessions, highest first: what `--nfs-version 4` tries before 4.0
NFS4_OPAQUE_LIMIT = 1024
SESSIONID_SIZE = 16
VERIFIER_SIZE = 8
SP4_NONE, SP4_MACH_CRED, SP4_SSV = 0, 1, 2
AUTH_NONE_FLAVOR = 0
CB_PROGRAM = 0x40000000  # never called: the session asks for no back channel
OPEN4_SHARE_ACCESS_READ = 1
OPEN4_SHARE_ACCESS_WANT_NO_DELEG = 0x0400  # v4.1: a delegation would be state to return
OPEN4_NOCREATE, CLAIM_NULL = 0, 0
MAX_HANDLES = 16
MAX_IMPL_IDS = 1

# What the probe's GETATTR asks for in a session: v4.0's, and the lease time the verdict
# derives its grace period limit from.
SESSION_PROBE_ATTRS = nfs4.PROBE_ATTRS + (nfs4.FATTR4_LEASE_TIME,)

# The fore channel the probe needs: one slot, one COMPOUND at a time, small messages. The server
# may lower every number; these stay above RFC 8881's minimums (ganesha refuses less than 256 bytes
# and 2 operations with NFS4ERR_TOOSMALL).
FORE_CHANNEL = (0, 1 << 20, 1 << 20, 4096, 1 << 16, 1)  # headerpad, request, response, cached, ops, slots
BACK_CHANNEL = (0, 4096, 4096, 0, 2, 1)


@dataclass(frozen=True)
class ClientId:
    """EXCHANGE_ID4resok, what the next steps need of it."""

    clientid: int
    sequenceid: int
    flags: int


@dataclass(frozen=True)
class SessionLookup:
    """What the session COMPOUND saw: the export's attributes and how OPEN answered."""

    attributes: nfs4.PathAttributes
    open_status: str  # NFS4ERR_NOENT outside a grace period, NFS4ERR_GRACE in one


class ClientOwner:
    """co_ownerid for this process (unique per host and process), a fresh verifier per probe."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        host = socket.gethostname()[:200]
        self.ownerid = f"fswatch/{host}/{self.pid}/{os.urandom(4).hex()}".encode()

    @staticmethod
    def verifier() -> bytes:
        return os.urandom(VERIFIER_SIZE)


_owner: Optional[ClientOwner] = None


def client_owner() -> ClientOwner:
    """The process's owner, made on first use (after a fork, the child's pid differs, so the
    owner is made again)."""
    global _owner
    if _owner is None or _owner.pid != os.getpid():
        _owner = ClientOwner()
    return _owner


def grace_name() -> str:
    """A name that does not exist in the export: OPEN of it is NOENT, or GRACE in a grace period."""
    return f".fswatch-grace-{os.urandom(16).hex()}"


# -- arguments ---------------------------------------------------------------------------------


def encode_exchange_id(ownerid: bytes, verifier: bytes) -> bytes:
    """EXCHANGE_ID4args: client_owner4, no flags, SP4_NONE, no implementation id."""
    enc = Encoder()
    enc.opaque_fixed(verifier, VERIFIER_SIZE)
    enc.opaque(ownerid, NFS4_OPAQUE_LIMIT)
    enc.uint32(0)  # eia_flags: no pNFS, no migration; the server picks the non-pNFS role
    enc.uint32(SP4_NONE)
    enc.uint32(0)  # eia_client_impl_id<1>: none
    return enc.bytes()


def _channel_attrs(enc: Encoder, attrs: Sequence[int]) -> None:
    for value in attrs:
        enc.uint32(value)
    enc.uint32(0)  # ca_rdma_ird<1>: not RDMA


def encode_create_session(client: ClientId) -> bytes:
    """CREATE_SESSION4args: no persistence, no back channel, AUTH_NONE for callbacks."""
    enc = Encoder()
    enc.uint64(client.clientid)
    enc.uint32(client.sequenceid)
    enc.uint32(0)  # csa_flags: not CREATE_SESSION4_FLAG_PERSIST, not CONN_BACK_CHAN
    _channel_attrs(enc, FORE_CHANNEL)
    _channel_attrs(enc, BACK_CHANNEL)
    enc.uint32(CB_PROGRAM)
    enc.uint32(1)
    enc.uint32(AUTH_NONE_FLAVOR)
    return enc.bytes()


def encode_sequence(sessionid: bytes, sequenceid: int) -> bytes:
    """SEQUENCE4args on slot 0, the only slot, not cached (the probe never retries a request)."""
    enc = Encoder()
    enc.opaque_fixed(sessionid, SESSIONID_SIZE)
    enc.uint32(sequenceid)
    enc.uint32(0)  # sa_slotid
    enc.uint32(0)  # sa_highest_slotid
    enc.boolean(False)  # sa_cachethis
    return enc.bytes()


def encode_open_nocreate(clientid: int, ownerid: bytes, name: str) -> bytes:
    """OPEN4args: read, deny none, no delegation wanted, OPEN4_NOCREATE, CLAIM_NULL `name`."""
    enc = Encoder()
    enc.uint32(0)  # seqid: ignored in v4.1 (section 18.16.3)
    enc.uint32(OPEN4_SHARE_ACCESS_READ | OPEN4_SHARE_ACCESS_WANT_NO_DELEG)
    enc.uint32(0)  # OPEN4_SHARE_DENY_NONE
    enc.uint64(clientid)
    enc.opaque(ownerid, NFS4_OPAQUE_LIMIT)
    enc.uint32(OPEN4_NOCREATE)
    enc.uint32(CLAIM_NULL)
    enc.string(name, NFS4_OPAQUE_LIMIT)
    return enc.bytes()


def _sessionid(sessionid: bytes) -> bytes:
    enc = Encoder()
    enc.opaque_fixed(sessionid, SESSIONID_SIZE)
    return enc.bytes()


def _clientid(clientid: int) -> bytes:
    enc = Encoder()
    enc.uint64(clientid)
    return enc.bytes()


def session_operations(
    sessionid: bytes,
    sequenceid: int,
    components: Sequence[str],
    clientid: int,
    ownerid: bytes,
    name: str,
    reclaim: bool = True,
) -> List[tuple]:
    """SEQUENCE, RECLAIM_COMPLETE, PUTROOTFH, LOOKUP..., GETATTR, OPEN: the probe's COMPOUND.
    A second try in the same session (after SECINFO) leaves RECLAIM_COMPLETE out: the first one
    went through (NFS4ERR_COMPLETE_ALREADY)."""
    ops = [(OP_SEQUENCE, encode_sequence(sessionid, sequenceid))]
    if reclaim:
        ops.append((OP_RECLAIM_COMPLETE, struct.pack(">I", 0)))
    ops += nfs4.walk_operations(components, SESSION_PROBE_ATTRS)
    ops.append((OP_OPEN, encode_open_nocreate(clientid, ownerid, name)))
    return ops


# -- results -----------------------------------------------------------------------------------


def _bitmap(dec: Decoder) -> List[int]:
    return dec.array(Decoder.uint32, nfs4.MAX_BITMAP_WORDS)


def _impl_id(dec: Decoder) -> None:
    dec.string(NFS4_OPAQUE_LIMIT)  # nii_domain
    dec.string(NFS4_OPAQUE_LIMIT)  # nii_name
    dec.int64()  # nii_date.seconds
    dec.uint32()  # nii_date.nseconds


def decode_exchange_id(dec: Decoder) -> ClientId:
    """EXCHANGE_ID4resok, read whole so that a garbled answer is a decode error."""
    clientid, sequenceid, flags = dec.uint64(), dec.uint32(), dec.uint32()
    how = dec.uint32()
    if how in (SP4_MACH_CRED, SP4_SSV):
        _bitmap(dec), _bitmap(dec)  # state_protect_ops4: spo_must_enforce, spo_must_allow
        if how == SP4_SSV:
            for _ in range(4):  # hash and encryption algorithms, ssv length, window
                dec.uint32()
            dec.array(lambda d: d.opaque(NFS4_OPAQUE_LIMIT), MAX_HANDLES)
    elif how != SP4_NONE:
        raise RpcDecodeError(f"state_protect_how4 {how} is not a protection")
    dec.uint64()  # so_minor_id
    dec.opaque(NFS4_OPAQUE_LIMIT)  # so_major_id
    dec.opaque(NFS4_OPAQUE_LIMIT)  # eir_server_scope
    dec.array(_impl_id, MAX_IMPL_IDS)
    return ClientId(clientid, sequenceid, flags)


def _skip_channel_attrs(dec: Decoder) -> None:
    for _ in range(6):
        dec.uint32()
    dec.array(Decoder.uint32, 1)


def decode_create_session(dec: Decoder) -> bytes:
    """CREATE_SESSION4resok: the session id (the channels the server granted are not needed)."""
    sessionid = dec.opaque_fixed(SESSIONID_SIZE)
    dec.uint32()  # csr_sequence
    dec.uint32()  # csr_flags
    _skip_channel_attrs(dec)
    _skip_channel_attrs(dec)
    return sessionid


def decode_sequence(dec: Decoder) -> bytes:
    """SEQUENCE4resok: its session id (checked by the caller), slots and status flags read over."""
    sessionid = dec.opaque_fixed(SESSIONID_SIZE)
    for _ in range(5):  # sequenceid, slotid, highest and target highest slotid, status flags
        dec.uint32()
    return sessionid


def decode_session_lookup(dec: Decoder, operations: Sequence[int], sessionid: bytes) -> SessionLookup:
    """COMPOUND4res for session_operations(): the attributes, and OPEN's status.

    Any failure before OPEN raises NfsError naming its operation. OPEN is expected to fail
    (NOENT, or GRACE), so its status is returned; an OPEN that succeeded gives NFS4_OK.
    """
    readers = {OP_SEQUENCE: decode_sequence, nfs4.OP_GETATTR: nfs4.decode_getattr}
    results = nfs4.decode_compound(dec, operations, readers)
    if results.failed_op != OP_OPEN:
        results.check()
    if results.result(OP_SEQUENCE, operations) != sessionid:
        raise RpcDecodeError("SEQUENCE answered for another session")
    attributes = results.result(nfs4.OP_GETATTR, operations)
    assert isinstance(attributes, nfs4.PathAttributes)  # GETATTR precedes OPEN, so it succeeded
    status = results.failed_status if results.failed_op == OP_OPEN else nfs4.NFS4_OK
    return SessionLookup(attributes, status_name(nfs4.NFSSTAT4, status, "nfsstat4"))


def _single(client: RpcClient, minor: int, op: int, args: bytes, reader, deadline: Deadline) -> object:
    """One operation alone in its COMPOUND; its decoded result (NfsError if it failed)."""
    results = client.call(
        nfs4.PROGRAM, nfs4.VERSION, nfs4.PROC_COMPOUND, nfs4.encode_compound(minor, [(op, args)]), deadline
    )
    return nfs4.decode_compound(results, (op,), {op: reader} if reader else {}).check().values[0]


# -- the calls ---------------------------------------------------------------------------------


def exchange_id(client: RpcClient, minor: int, ownerid: bytes, verifier: bytes, deadline: Deadline) -> ClientId:
    """A client ID for this probe; NfsError NFS4ERR_MINOR_VERS_MISMATCH when `minor` is not served."""
    result = _single(client, minor, OP_EXCHANGE_ID, encode_exchange_id(ownerid, verifier), decode_exchange_id, deadline)
    assert isinstance(result, ClientId)
    return result


def create_session(client: RpcClient, minor: int, clientid: ClientId, deadline: Deadline) -> bytes:
    result = _single(client, minor, OP_CREATE_SESSION, encode_create_session(clientid), decode_create_session, deadline)
    assert isinstance(result, bytes)
    return result


def lookup_in_session(
    client: RpcClient,
    minor: int,
    sessionid: bytes,
    clientid: int,
    ownerid: bytes,
    path: str,
    deadline: Deadline,
    name: Optional[str] = None,
    sequenceid: int = 1,
) -> SessionLookup:
    """The probe's COMPOUND, on slot 0's first request (sequence id 1) unless told otherwise."""
    components = nfs4.path_components(path)
    ops = session_operations(
        sessionid, sequenceid, components, clientid, ownerid, name or grace_name(), reclaim=sequenceid == 1
    )
    results = client.call(nfs4.PROGRAM, nfs4.VERSION, nfs4.PROC_COMPOUND, nfs4.encode_compound(minor, ops), deadline)
    return decode_session_lookup(results, [op for op, _ in ops], sessionid)


def destroy_session(client: RpcClient, minor: int, sessionid: bytes, deadline: Deadline) -> None:
    _single(client, minor, OP_DESTROY_SESSION, _sessionid(sessionid), None, deadline)


def destroy_clientid(client: RpcClient, minor: int, clientid: int, deadline: Deadline) -> None:
    _single(client, minor, OP_DESTROY_CLIENTID, _clientid(clientid), None, deadline)


def read_in_session(
    client: RpcClient, minor: int, sessionid: bytes, sequenceid: int, path: str, count: int, deadline: Deadline
) -> nfs4.ReadResult:
    """SEQUENCE, PUTROOTFH, LOOKUP..., READ (anonymous stateid: no OPEN, no state left behind)."""
    ops = [(OP_SEQUENCE, encode_sequence(sessionid, sequenceid))] + nfs4.read_operations(
        nfs4.path_components(path), count
    )
    results = client.call(nfs4.PROGRAM, nfs4.VERSION, nfs4.PROC_COMPOUND, nfs4.encode_compound(minor, ops), deadline)
    return decode_read_in_session(results, [op for op, _ in ops], sessionid)


def decode_read_in_session(dec: Decoder, operations: Sequence[int], sessionid: bytes) -> nfs4.ReadResult:
    """COMPOUND4res for read_in_session(): the READ's result; the first failed operation raises NfsError."""
    seen: List[bytes] = []

    def sequence(d: Decoder) -> bytes:
        seen.append(decode_sequence(d))
        return seen[-1]

    result = nfs4.decode_read_compound(dec, operations, {OP_SEQUENCE: sequence})
    if seen != [sessionid]:
        raise RpcDecodeError("SEQUENCE answered for another session")
    return result


def secinfo_in_session(
    client: RpcClient,
    minor: int,
    sessionid: bytes,
    sequenceid: int,
    path: str,
    deadline: Deadline,
    by_name: Optional[int] = None,
) -> Tuple[nfs4.SecInfo, ...]:
    """The flavors of `path` itself: SEQUENCE, PUTROOTFH, LOOKUP..., SECINFO_NO_NAME of the
    current filehandle - a LOOKUP that SECINFO_NO_NAME follows is one the server should not refuse
    with NFS4ERR_WRONGSEC (RFC 8881 section 2.6.3.1). nfs-ganesha 4.3 refuses it all the same
    (measured), so `by_name`: the place of the component to ask about with SECINFO from its parent
    instead, which v4.1 keeps (section 18.29)."""
    components = nfs4.path_components(path)
    ops = [(OP_SEQUENCE, encode_sequence(sessionid, sequenceid))]
    if by_name is None:
        ops += nfs4.walk_operations(components, (nfs4.FATTR4_TYPE,))[:-1]
        ops.append((OP_SECINFO_NO_NAME, struct.pack(">I", SECINFO_STYLE4_CURRENT_FH)))
        reader = OP_SECINFO_NO_NAME
    else:
        ops += nfs4.secinfo_operations(components[:by_name], components[by_name])
        reader = nfs4.OP_SECINFO
    results = client.call(nfs4.PROGRAM, nfs4.VERSION, nfs4.PROC_COMPOUND, nfs4.encode_compound(minor, ops), deadline)
    return decode_secinfo_in_session(results, [op for op, _ in ops], sessionid, reader)


def decode_secinfo_in_session(
    dec: Decoder, operations: Sequence[int], sessionid: bytes, reader: int = OP_SECINFO_NO_NAME
) -> Tuple[nfs4.SecInfo, ...]:
    readers = {OP_SEQUENCE: decode_sequence, reader: nfs4.decode_secinfo}
    results = nfs4.decode_compound(dec, operations, readers).check()
    if results.result(OP_SEQUENCE, operations) != sessionid:
        raise RpcDecodeError("SEQUENCE answered for another session")
    found = results.result(reader, operations)
    return found if isinstance(found, tuple) else ()


class Sequencer:
    """SEQUENCE before each further COMPOUND on slot 0 of the probe's session, the sequence id one up
    each time (the write canary's COMPOUNDs, fswatch.rpc.nfs4write.Channel's prefix)."""

    def __init__(self, sessionid: bytes, sequenceid: int) -> None:
        self.sessionid = sessionid
        self.sequenceid = sequenceid  # the next COMPOUND's

    def __call__(self) -> tuple:
        ops = [(OP_SEQUENCE, encode_sequence(self.sessionid, self.sequenceid))]
        self.sequenceid += 1  # SEQUENCE is processed (the slot moves on) even when a later operation fails
        return ops, {OP_SEQUENCE: self._sequence}

    def _sequence(self, dec: Decoder) -> bytes:
        sessionid = decode_sequence(dec)
        if sessionid != self.sessionid:
            raise RpcDecodeError("SEQUENCE answered for another session")
        return sessionid

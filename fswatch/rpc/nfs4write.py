"""NFSv4 operations that make, write and remove a file: the write canary's (RFC 7530, RFC 8881).

The probe's own COMPOUNDs (fswatch.rpc.nfs4, nfs41) only read and leave no state. A file can be
created over NFSv4 only by OPEN, which is state: an open owner, a stateid, a CLOSE. So:

    v4.0: SETCLIENTID + SETCLIENTID_CONFIRM (a client ID, section 16.33/16.34), then
          PUTROOTFH, LOOKUP..., OPEN (create, GUARDED4), GETFH, GETATTR;  OPEN_CONFIRM where asked
    v4.1/4.2: the same OPEN in the probe's session (SEQUENCE first, no OPEN_CONFIRM)
    then  PUTFH, WRITE (FILE_SYNC4)  [COMMIT if the server made it less stable]
          PUTFH, READ (the open's stateid)
          PUTFH, CLOSE, [DELEGRETURN], PUTROOTFH, LOOKUP..., REMOVE
    sweep PUTROOTFH, LOOKUP..., READDIR (type, time_modify); REMOVE per leftover

A Channel sends these COMPOUNDs; in a session it puts each behind SEQUENCE (fswatch.rpc.nfs41's
Sequencer). v4.0 has no DESTROY_CLIENTID: the client ID of a probe lives until its lease ends, or
until the next probe's SETCLIENTID_CONFIRM (same client name, new verifier: a client that
rebooted, section 16.33.5) replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from fswatch.core.deadline import Deadline
from fswatch.rpc import nfs4
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import RpcDecodeError
from fswatch.rpc.xdr import Decoder, Encoder

OP_CLOSE, OP_COMMIT, OP_DELEGRETURN, OP_GETFH, OP_OPEN = 4, 5, 8, 10, 18
OP_OPEN_CONFIRM, OP_PUTFH, OP_READDIR, OP_REMOVE = 20, 22, 26, 28
OP_SETCLIENTID, OP_SETCLIENTID_CONFIRM, OP_WRITE = 35, 36, 38
nfs4.OP_NAMES.update(
    {
        OP_CLOSE: "CLOSE",
        OP_COMMIT: "COMMIT",
        OP_DELEGRETURN: "DELEGRETURN",
        OP_GETFH: "GETFH",
        OP_OPEN: "OPEN",
        OP_OPEN_CONFIRM: "OPEN_CONFIRM",
        OP_PUTFH: "PUTFH",
        OP_READDIR: "READDIR",
        OP_REMOVE: "REMOVE",
        OP_SETCLIENTID: "SETCLIENTID",
        OP_SETCLIENTID_CONFIRM: "SETCLIENTID_CONFIRM",
        OP_WRITE: "WRITE",
    }
)

NFS4_FHSIZE = 128
NFS4_OPAQUE_LIMIT = 1024
STATEID_SIZE = 16
VERIFIER_SIZE = 8
FATTR4_MODE = 33
OPEN4_SHARE_ACCESS_BOTH, OPEN4_SHARE_DENY_NONE = 3, 0
OPEN4_SHARE_ACCESS_WANT_NO_DELEG = 0x0400  # v4.1: a delegation is state the probe would have to return
OPEN4_CREATE, GUARDED4, CLAIM_NULL = 1, 1, 0
OPEN4_RESULT_CONFIRM = 0x2  # v4.0: a new open owner must OPEN_CONFIRM (section 16.18)
OPEN_DELEGATE_NONE, OPEN_DELEGATE_READ, OPEN_DELEGATE_WRITE, OPEN_DELEGATE_NONE_EXT = 0, 1, 2, 3
NFS_LIMIT_SIZE, NFS_LIMIT_BLOCKS = 1, 2
WND4_CONTENTION, WND4_RESOURCE = 7, 8  # why_no_delegation4 values that carry a bool
UNSTABLE4, DATA_SYNC4, FILE_SYNC4 = 0, 1, 2
CB_PROGRAM = 0x40000000  # never called back: the address below reaches nothing
CB_NETID, CB_ADDR = "tcp", "0.0.0.0.0.0"  # universal address 0.0.0.0 port 0 (RFC 5665)
MAX_NAME = 255
MAX_ENTRIES = 1 << 14
READDIR_ATTRS = (nfs4.FATTR4_TYPE, nfs4.FATTR4_TIME_MODIFY)  # the server's clock: is it a leftover?


@dataclass(frozen=True)
class Opened:
    """OPEN4resok, what the next steps need of it, with the file's handle and time (GETFH, GETATTR)."""

    stateid: bytes
    fhandle: bytes
    modified: Optional[float]  # the file's time_modify: the server's clock when it made it
    confirm: bool  # v4.0: OPEN_CONFIRM before the stateid may be used
    delegation: Optional[bytes] = None  # a delegation's stateid, to return before CLOSE


@dataclass(frozen=True)
class Entry:
    """One name of a READDIR answer, with its attributes (type, time_modify)."""

    name: str
    attributes: nfs4.PathAttributes


@dataclass(frozen=True)
class DirectoryPage:
    """One READDIR answer: its entries and where the next one starts."""

    entries: Tuple[Entry, ...]
    cookie: int
    cookieverf: bytes
    eof: bool


Operation = Tuple[int, bytes]
Readers = Mapping[int, Callable[[Decoder], object]]


@dataclass
class Answer:
    """A COMPOUND that succeeded: the decoded result of each operation that has one."""

    operations: Sequence[int]
    results: nfs4.CompoundResults

    def of(self, op: int) -> object:
        return self.results.result(op, self.operations)


@dataclass
class Channel:
    """Where the write canary's COMPOUNDs go. `prefix` (in a session: nfs41.Sequencer) gives the
    operations each COMPOUND begins with and their readers."""

    client: RpcClient
    minor: int
    deadline: Deadline
    prefix: Optional[Callable[[], Tuple[List[Operation], Dict[int, Callable[[Decoder], object]]]]] = None

    def call(self, ops: Sequence[Operation], readers: Optional[Readers] = None) -> Answer:
        head, head_readers = self.prefix() if self.prefix is not None else ([], {})
        sent = [*head, *ops]
        dec = self.client.call(
            nfs4.PROGRAM, nfs4.VERSION, nfs4.PROC_COMPOUND, nfs4.encode_compound(self.minor, sent), self.deadline
        )
        operations = [op for op, _ in sent]
        return Answer(operations, nfs4.decode_compound(dec, operations, {**(readers or {}), **head_readers}).check())


# -- arguments ---------------------------------------------------------------------------------


def _encode(*parts: Callable[[Encoder], None]) -> bytes:
    enc = Encoder()
    for part in parts:
        part(enc)
    return enc.bytes()


def putfh(fhandle: bytes) -> Operation:
    return OP_PUTFH, _encode(lambda e: e.opaque(fhandle, NFS4_FHSIZE))


def walk(components: Sequence[str]) -> List[Operation]:
    """PUTROOTFH, LOOKUP per component: the current filehandle becomes the directory's."""
    return nfs4.walk_operations(components, (nfs4.FATTR4_TYPE,))[:-1]


def getattr_op(attributes: Sequence[int]) -> Operation:
    return nfs4.OP_GETATTR, _encode(lambda e: e.array(nfs4.bitmap4(attributes), Encoder.uint32, nfs4.MAX_BITMAP_WORDS))


def _fattr4_mode(enc: Encoder, mode: int) -> None:
    """fattr4 carrying only the mode (the attribute a new file is made with)."""
    enc.array(nfs4.bitmap4([FATTR4_MODE]), Encoder.uint32, nfs4.MAX_BITMAP_WORDS)
    enc.opaque(_encode(lambda e: e.uint32(mode)))


def open_create(seqid: int, clientid: int, owner: bytes, name: str, mode: int, minor: int) -> Operation:
    """OPEN4args: read and write, deny none, OPEN4_CREATE GUARDED4 (the name must not exist) with
    `mode`, CLAIM_NULL `name`; from v4.1 on no delegation is wanted."""
    access = OPEN4_SHARE_ACCESS_BOTH | (OPEN4_SHARE_ACCESS_WANT_NO_DELEG if minor else 0)

    def body(enc: Encoder) -> None:
        enc.uint32(seqid)
        enc.uint32(access)
        enc.uint32(OPEN4_SHARE_DENY_NONE)
        enc.uint64(clientid)
        enc.opaque(owner, NFS4_OPAQUE_LIMIT)
        enc.uint32(OPEN4_CREATE)
        enc.uint32(GUARDED4)
        _fattr4_mode(enc, mode)
        enc.uint32(CLAIM_NULL)
        enc.string(name, NFS4_OPAQUE_LIMIT)

    return OP_OPEN, _encode(body)


def open_confirm(stateid: bytes, seqid: int) -> Operation:
    return OP_OPEN_CONFIRM, _encode(lambda e: e.opaque_fixed(stateid, STATEID_SIZE), lambda e: e.uint32(seqid))


def write(stateid: bytes, data: bytes, stable: int = FILE_SYNC4) -> Operation:
    """WRITE4args at offset 0."""
    return OP_WRITE, _encode(
        lambda e: e.opaque_fixed(stateid, STATEID_SIZE), lambda e: e.uint64(0), lambda e: e.uint32(stable),
        lambda e: e.opaque(data),
    )  # fmt: skip


def commit() -> Operation:
    """COMMIT4args: the whole file (offset 0, count 0)."""
    return OP_COMMIT, _encode(lambda e: e.uint64(0), lambda e: e.uint32(0))


def read(stateid: bytes, count: int) -> Operation:
    return nfs4.OP_READ, _encode(
        lambda e: e.opaque_fixed(stateid, STATEID_SIZE), lambda e: e.uint64(0), lambda e: e.uint32(count)
    )


def close(seqid: int, stateid: bytes) -> Operation:
    return OP_CLOSE, _encode(lambda e: e.uint32(seqid), lambda e: e.opaque_fixed(stateid, STATEID_SIZE))


def delegreturn(stateid: bytes) -> Operation:
    return OP_DELEGRETURN, _encode(lambda e: e.opaque_fixed(stateid, STATEID_SIZE))


def remove(name: str) -> Operation:
    return OP_REMOVE, _encode(lambda e: e.string(name, NFS4_OPAQUE_LIMIT))


def readdir(cookie: int, cookieverf: bytes, maxcount: int) -> Operation:
    """READDIR4args: names with their type and time_modify, `maxcount` bytes at most."""
    return OP_READDIR, _encode(
        lambda e: e.uint64(cookie), lambda e: e.opaque_fixed(cookieverf, VERIFIER_SIZE),
        lambda e: e.uint32(maxcount), lambda e: e.uint32(maxcount),
        lambda e: e.array(nfs4.bitmap4(READDIR_ATTRS), Encoder.uint32, nfs4.MAX_BITMAP_WORDS),
    )  # fmt: skip


def setclientid(verifier: bytes, client: bytes) -> Operation:
    """SETCLIENTID4args: the client's name and boot verifier, a callback that reaches nothing
    (so the server offers no delegation), callback_ident 0."""
    return OP_SETCLIENTID, _encode(
        lambda e: e.opaque_fixed(verifier, VERIFIER_SIZE), lambda e: e.opaque(client, NFS4_OPAQUE_LIMIT),
        lambda e: e.uint32(CB_PROGRAM), lambda e: e.string(CB_NETID), lambda e: e.string(CB_ADDR),
        lambda e: e.uint32(0),
    )  # fmt: skip


def setclientid_confirm(clientid: int, confirm: bytes) -> Operation:
    return OP_SETCLIENTID_CONFIRM, _encode(
        lambda e: e.uint64(clientid), lambda e: e.opaque_fixed(confirm, VERIFIER_SIZE)
    )


# -- results -----------------------------------------------------------------------------------


def decode_stateid(dec: Decoder) -> bytes:
    return dec.opaque_fixed(STATEID_SIZE)


def _nfsace4(dec: Decoder) -> None:
    dec.uint32(), dec.uint32(), dec.uint32()  # type, flag, access mask
    dec.opaque(NFS4_OPAQUE_LIMIT)  # who


def _delegation(dec: Decoder) -> Optional[bytes]:
    """open_delegation4: the delegation's stateid if one was granted."""
    kind = dec.uint32()
    if kind == OPEN_DELEGATE_NONE:
        return None
    if kind == OPEN_DELEGATE_NONE_EXT:
        if dec.uint32() in (WND4_CONTENTION, WND4_RESOURCE):
            dec.boolean()
        return None
    if kind not in (OPEN_DELEGATE_READ, OPEN_DELEGATE_WRITE):
        raise RpcDecodeError(f"open_delegation_type4 {kind} is not a delegation")
    stateid = decode_stateid(dec)
    dec.boolean()  # recall
    if kind == OPEN_DELEGATE_WRITE:
        limit = dec.uint32()
        if limit == NFS_LIMIT_SIZE:
            dec.uint64()
        elif limit == NFS_LIMIT_BLOCKS:
            dec.uint32(), dec.uint32()
        else:
            raise RpcDecodeError(f"limit_by4 {limit} is not a limit")
    _nfsace4(dec)
    return stateid


@dataclass(frozen=True)
class OpenResult:
    """OPEN4resok's stateid, result flags and the delegation, if the server gave one."""

    stateid: bytes
    rflags: int
    delegation: Optional[bytes] = field(default=None)


def decode_open(dec: Decoder) -> OpenResult:
    """OPEN4resok: stateid, change_info4, rflags, attrset, delegation."""
    stateid = decode_stateid(dec)
    dec.boolean(), dec.uint64(), dec.uint64()  # change_info4
    rflags = dec.uint32()
    dec.array(Decoder.uint32, nfs4.MAX_BITMAP_WORDS)  # attrset
    return OpenResult(stateid, rflags, _delegation(dec))


def decode_getfh(dec: Decoder) -> bytes:
    return dec.opaque(NFS4_FHSIZE)


@dataclass(frozen=True)
class Written:
    """WRITE4resok: how many bytes the server wrote, and how stably."""

    count: int
    committed: int  # stable_how4: FILE_SYNC4 is on stable storage


def decode_write(dec: Decoder) -> Written:
    count, committed = dec.uint32(), dec.uint32()
    if committed > FILE_SYNC4:
        raise RpcDecodeError(f"stable_how4 {committed} is not a stability")
    dec.opaque_fixed(VERIFIER_SIZE)
    return Written(count, committed)


def decode_commit(dec: Decoder) -> None:
    dec.opaque_fixed(VERIFIER_SIZE)


def decode_read_data(dec: Decoder) -> bytes:
    """READ4resok: eof, then the data (compared by the write canary, never logged)."""
    dec.boolean()
    return dec.opaque(nfs4.MAX_READ)


def decode_remove(dec: Decoder) -> None:
    dec.boolean(), dec.uint64(), dec.uint64()  # change_info4


def decode_readdir(dec: Decoder) -> DirectoryPage:
    """READDIR4resok: the cookie verifier, then entry4s (cookie, name, fattr4) and eof."""
    cookieverf = dec.opaque_fixed(VERIFIER_SIZE)
    entries: List[Entry] = []
    cookie = 0
    while dec.boolean():
        if len(entries) >= MAX_ENTRIES:
            raise RpcDecodeError(f"READDIR answered more than {MAX_ENTRIES} entries")
        cookie = dec.uint64()
        name = dec.string(MAX_NAME)
        entries.append(Entry(name, nfs4.decode_getattr(dec)))
    return DirectoryPage(tuple(entries), cookie, cookieverf, dec.boolean())


def decode_setclientid(dec: Decoder) -> Tuple[int, bytes]:
    """SETCLIENTID4resok: the client ID and the verifier that confirms it."""
    return dec.uint64(), dec.opaque_fixed(VERIFIER_SIZE)


READERS: Dict[int, Callable[[Decoder], object]] = {
    OP_OPEN: decode_open,
    OP_OPEN_CONFIRM: decode_stateid,
    OP_CLOSE: decode_stateid,
    OP_GETFH: decode_getfh,
    nfs4.OP_GETATTR: nfs4.decode_getattr,
    OP_WRITE: decode_write,
    OP_COMMIT: decode_commit,
    nfs4.OP_READ: decode_read_data,
    OP_REMOVE: decode_remove,
    OP_READDIR: decode_readdir,
    OP_SETCLIENTID: decode_setclientid,
}

"""NFS version 3, program 100003 (RFC 1813): NULL, GETATTR and FSSTAT, all a probe needs; LOOKUP and
READ for the data-path check (a canary file's first bytes); CREATE, WRITE, COMMIT, READ, REMOVE and
READDIR for the write canary (fswatch.probes.write_canary)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import Pending, RpcClient
from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.message import status_name
from fswatch.rpc.xdr import Decoder, Encoder

PROGRAM, VERSION = 100003, 3
PROC_NULL, PROC_GETATTR, PROC_LOOKUP, PROC_READ, PROC_FSSTAT = 0, 1, 3, 6, 18
PROC_WRITE, PROC_CREATE, PROC_REMOVE, PROC_READDIR, PROC_COMMIT = 7, 8, 12, 16, 21
NFS3_FHSIZE = 64
MAX_READ = 1 << 20  # a READ3resok carrying more than this is garbage (the probe asks for a few KiB)

NFS3_OK = 0
NFSSTAT3 = {
    0: "NFS3_OK",
    1: "NFS3ERR_PERM",
    2: "NFS3ERR_NOENT",
    5: "NFS3ERR_IO",
    6: "NFS3ERR_NXIO",
    13: "NFS3ERR_ACCES",
    17: "NFS3ERR_EXIST",
    18: "NFS3ERR_XDEV",
    19: "NFS3ERR_NODEV",
    20: "NFS3ERR_NOTDIR",
    21: "NFS3ERR_ISDIR",
    22: "NFS3ERR_INVAL",
    27: "NFS3ERR_FBIG",
    28: "NFS3ERR_NOSPC",
    30: "NFS3ERR_ROFS",
    31: "NFS3ERR_MLINK",
    63: "NFS3ERR_NAMETOOLONG",
    66: "NFS3ERR_NOTEMPTY",
    69: "NFS3ERR_DQUOT",
    70: "NFS3ERR_STALE",
    71: "NFS3ERR_REMOTE",
    10001: "NFS3ERR_BADHANDLE",
    10002: "NFS3ERR_NOT_SYNC",
    10003: "NFS3ERR_BAD_COOKIE",
    10004: "NFS3ERR_NOTSUPP",
    10005: "NFS3ERR_TOOSMALL",
    10006: "NFS3ERR_SERVERFAULT",
    10007: "NFS3ERR_BADTYPE",
    10008: "NFS3ERR_JUKEBOX",
}

FTYPE3 = {1: "NF3REG", 2: "NF3DIR", 3: "NF3BLK", 4: "NF3CHR", 5: "NF3LNK", 6: "NF3SOCK", 7: "NF3FIFO"}

# fattr3: type mode nlink uid gid, size used, rdev(2), fsid fileid, atime mtime ctime (2 each)
_FATTR3 = struct.Struct(">5I2Q2I2Q6I")
_FSSTAT3OK = struct.Struct(">6QI")  # tbytes fbytes abytes tfiles ffiles afiles, invarsec


@dataclass(frozen=True)
class Fattr3:
    """fattr3 (RFC 1813 section 2.6): the attributes of a file or directory."""

    type: str  # NF3DIR, NF3REG, ...
    mode: int
    nlink: int
    uid: int
    gid: int
    size: int
    used: int
    fsid: int
    fileid: int
    mtime: float


@dataclass(frozen=True)
class FsStat:
    """FSSTAT3resok (RFC 1813 section 3.3.18): space and file counts, which only the storage knows."""

    tbytes: int
    fbytes: int
    abytes: int
    tfiles: int
    ffiles: int
    afiles: int
    invarsec: int
    attributes: Optional[Fattr3]


def encode_fh(fhandle: bytes) -> bytes:
    enc = Encoder()
    enc.opaque(fhandle, NFS3_FHSIZE)
    return enc.bytes()


def decode_fattr3(dec: Decoder) -> Fattr3:
    fields = dec.fixed(_FATTR3)
    ftype, mode, nlink, uid, gid, size, used, _rdev1, _rdev2, fsid, fileid = fields[:11]
    msec, mnsec = fields[13:15]
    if ftype not in FTYPE3:
        raise RpcDecodeError(f"ftype3 {ftype} is not a file type")
    return Fattr3(FTYPE3[ftype], mode, nlink, uid, gid, size, used, fsid, fileid, msec + mnsec / 1e9)


def _status(dec: Decoder, operation: str) -> None:
    status = dec.uint32()
    if status != NFS3_OK:
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), operation)


def decode_getattr_result(dec: Decoder) -> Fattr3:
    """GETATTR3res; a status other than NFS3_OK raises NfsError with its nfsstat3 name."""
    _status(dec, "GETATTR")
    return decode_fattr3(dec)


def decode_fsstat_result(dec: Decoder) -> FsStat:
    """FSSTAT3res (its post_op_attr is decoded, then dropped on failure)."""
    status = dec.uint32()
    attributes = dec.optional(decode_fattr3)
    if status != NFS3_OK:
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "FSSTAT")
    return FsStat(*dec.fixed(_FSSTAT3OK), attributes)


def null(client: RpcClient, deadline: Deadline) -> None:
    start_null(client, deadline).result(deadline)


def start_null(client: RpcClient, deadline: Deadline) -> Pending[Decoder]:
    return client.start(PROGRAM, VERSION, PROC_NULL, b"", deadline)


# Named after the procedures; the module is used qualified (nfs3.getattr), so the builtin stays reachable.
def getattr(client: RpcClient, fhandle: bytes, deadline: Deadline) -> Fattr3:
    return start_getattr(client, fhandle, deadline).result(deadline)


def start_getattr(client: RpcClient, fhandle: bytes, deadline: Deadline) -> Pending[Fattr3]:
    return client.start(PROGRAM, VERSION, PROC_GETATTR, encode_fh(fhandle), deadline, decode_getattr_result)


def fsstat(client: RpcClient, fhandle: bytes, deadline: Deadline) -> FsStat:
    return start_fsstat(client, fhandle, deadline).result(deadline)


def start_fsstat(client: RpcClient, fhandle: bytes, deadline: Deadline) -> Pending[FsStat]:
    return client.start(PROGRAM, VERSION, PROC_FSSTAT, encode_fh(fhandle), deadline, decode_fsstat_result)


@dataclass(frozen=True)
class ReadResult:
    """READ3resok: how many bytes came, whether the file ended, and the bytes themselves."""

    count: int  # bytes the server read
    eof: bool
    data: bytes = field(default=b"", repr=False)  # compared by the write canary, never logged


def encode_lookup(dir_fhandle: bytes, name: str) -> bytes:
    """LOOKUP3args: diropargs3 (the directory's handle, one name)."""
    enc = Encoder()
    enc.opaque(dir_fhandle, NFS3_FHSIZE)
    enc.string(name)
    return enc.bytes()


def encode_read(fhandle: bytes, offset: int, count: int) -> bytes:
    """READ3args: the file's handle, offset3, count3."""
    enc = Encoder()
    enc.opaque(fhandle, NFS3_FHSIZE)
    enc.uint64(offset)
    enc.uint32(count)
    return enc.bytes()


def _post_op_attr(dec: Decoder) -> Optional[Fattr3]:
    return dec.optional(decode_fattr3)


def decode_lookup_result(dec: Decoder) -> bytes:
    """LOOKUP3res: the object's handle (NfsError with the nfsstat3 name on failure)."""
    status = dec.uint32()
    if status != NFS3_OK:
        _post_op_attr(dec)  # dir_attributes
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "LOOKUP")
    fhandle = dec.opaque(NFS3_FHSIZE)
    _post_op_attr(dec)  # obj_attributes
    _post_op_attr(dec)  # dir_attributes
    return fhandle


def decode_read_result(dec: Decoder, asked: int = MAX_READ) -> ReadResult:
    """READ3res: how many bytes came and whether they reached the end of the file."""
    status = dec.uint32()
    _post_op_attr(dec)  # file_attributes
    if status != NFS3_OK:
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "READ")
    count = dec.uint32()
    eof = dec.boolean()
    data = dec.opaque(min(asked, MAX_READ))
    if count != len(data):
        raise RpcDecodeError(f"READ said {count} bytes and sent {len(data)}")
    return ReadResult(count, eof, data)


def lookup(client: RpcClient, dir_fhandle: bytes, name: str, deadline: Deadline) -> bytes:
    return decode_lookup_result(client.call(PROGRAM, VERSION, PROC_LOOKUP, encode_lookup(dir_fhandle, name), deadline))


def read(client: RpcClient, fhandle: bytes, count: int, deadline: Deadline) -> ReadResult:
    """The first `count` bytes of a file (offset 0)."""
    return decode_read_result(client.call(PROGRAM, VERSION, PROC_READ, encode_read(fhandle, 0, count), deadline), count)


# -- the write canary -----------------------------------------------------------------------------

UNCHECKED, GUARDED = 0, 1  # createmode3
UNSTABLE, DATA_SYNC, FILE_SYNC = 0, 1, 2  # stable_how
DONT_CHANGE = 0  # time_how
WRITEVERF3_SIZE = COOKIEVERF3_SIZE = 8
MAX_NAME = 255  # filename3 a server may send in a directory listing (NAME_MAX)
MAX_ENTRIES = 1 << 14  # entries a READDIR answer may hold before it is garbage


@dataclass(frozen=True)
class Written:
    """WRITE3resok: how many bytes the server wrote, how stably, and the file's time after it."""

    count: int
    committed: int  # stable_how the server reached: FILE_SYNC is on stable storage
    mtime: Optional[float]  # the file's modification time after the write (the server's clock), if sent


@dataclass(frozen=True)
class DirectoryPage:
    """READDIR3resok: one page of a directory's names and where the next page starts."""

    names: Tuple[str, ...]
    cookie: int  # the last entry's cookie: where the next READDIR goes on
    cookieverf: bytes
    eof: bool


def _wcc_after(dec: Decoder) -> Optional[Fattr3]:
    """wcc_data: pre_op_attr (read over), then post_op_attr (returned)."""
    dec.optional(lambda d: d.skip(24))  # wcc_attr: size, mtime, ctime
    return _post_op_attr(dec)


def encode_create(dir_fhandle: bytes, name: str, mode: int) -> bytes:
    """CREATE3args: GUARDED (the name must not exist), sattr3 setting only the mode."""
    enc = Encoder()
    enc.opaque(dir_fhandle, NFS3_FHSIZE)
    enc.string(name)
    enc.uint32(GUARDED)
    enc.boolean(True)  # set_mode3
    enc.uint32(mode)
    for _ in range(3):  # uid, gid, size: not set
        enc.boolean(False)
    enc.uint32(DONT_CHANGE)  # atime
    enc.uint32(DONT_CHANGE)  # mtime
    return enc.bytes()


def decode_create_result(dec: Decoder) -> Tuple[Optional[bytes], Optional[Fattr3]]:
    """CREATE3res: the new file's handle and attributes, each where the server sent them."""
    status = dec.uint32()
    if status != NFS3_OK:
        _wcc_after(dec)
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "CREATE")
    fhandle = dec.optional(lambda d: d.opaque(NFS3_FHSIZE))
    attributes = _post_op_attr(dec)
    _wcc_after(dec)
    return fhandle, attributes


def encode_write(fhandle: bytes, offset: int, data: bytes, stable: int) -> bytes:
    enc = Encoder()
    enc.opaque(fhandle, NFS3_FHSIZE)
    enc.uint64(offset)
    enc.uint32(len(data))
    enc.uint32(stable)
    enc.opaque(data)
    return enc.bytes()


def decode_write_result(dec: Decoder) -> Written:
    """WRITE3res: how much, how stable, and the file's mtime after it."""
    status = dec.uint32()
    after = _wcc_after(dec)
    if status != NFS3_OK:
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "WRITE")
    count, committed = dec.uint32(), dec.uint32()
    if committed > FILE_SYNC:
        raise RpcDecodeError(f"stable_how {committed} is not a stability")
    dec.opaque_fixed(WRITEVERF3_SIZE)
    return Written(count, committed, after.mtime if after is not None else None)


def encode_commit(fhandle: bytes) -> bytes:
    """COMMIT3args: the whole file (offset 0, count 0)."""
    enc = Encoder()
    enc.opaque(fhandle, NFS3_FHSIZE)
    enc.uint64(0)
    enc.uint32(0)
    return enc.bytes()


def decode_commit_result(dec: Decoder) -> None:
    status = dec.uint32()
    _wcc_after(dec)
    if status != NFS3_OK:
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "COMMIT")
    dec.opaque_fixed(WRITEVERF3_SIZE)


def decode_remove_result(dec: Decoder) -> None:
    status = dec.uint32()
    _wcc_after(dec)
    if status != NFS3_OK:
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "REMOVE")


def encode_readdir(dir_fhandle: bytes, cookie: int, cookieverf: bytes, count: int) -> bytes:
    enc = Encoder()
    enc.opaque(dir_fhandle, NFS3_FHSIZE)
    enc.uint64(cookie)
    enc.opaque_fixed(cookieverf, COOKIEVERF3_SIZE)
    enc.uint32(count)
    return enc.bytes()


def decode_readdir_result(dec: Decoder, cookie: int) -> DirectoryPage:
    """READDIR3res: one page of names (an entry3 list: value_follows, fileid, name, cookie)."""
    status = dec.uint32()
    _post_op_attr(dec)  # dir_attributes
    if status != NFS3_OK:
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "READDIR")
    cookieverf = dec.opaque_fixed(COOKIEVERF3_SIZE)
    names: List[str] = []
    while dec.boolean():
        if len(names) >= MAX_ENTRIES:
            raise RpcDecodeError(f"READDIR answered more than {MAX_ENTRIES} entries")
        dec.uint64()  # fileid
        names.append(dec.string(MAX_NAME))
        cookie = dec.uint64()
    return DirectoryPage(tuple(names), cookie, cookieverf, dec.boolean())


def decode_lookup_attributes(dec: Decoder) -> Tuple[bytes, Optional[Fattr3]]:
    """LOOKUP3res: the object's handle and, where sent, its attributes."""
    status = dec.uint32()
    if status != NFS3_OK:
        _post_op_attr(dec)
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), "LOOKUP")
    fhandle = dec.opaque(NFS3_FHSIZE)
    attributes = _post_op_attr(dec)
    _post_op_attr(dec)
    return fhandle, attributes


def _call(client: RpcClient, procedure: int, args: bytes, decode: Callable, deadline: Deadline):
    return decode(client.call(PROGRAM, VERSION, procedure, args, deadline))


def create(client: RpcClient, dir_fhandle: bytes, name: str, mode: int, deadline: Deadline):
    """A new regular file `name` (GUARDED): its handle and attributes where the server sent them."""
    return _call(client, PROC_CREATE, encode_create(dir_fhandle, name, mode), decode_create_result, deadline)


def write(client: RpcClient, fhandle: bytes, data: bytes, stable: int, deadline: Deadline) -> Written:
    return _call(client, PROC_WRITE, encode_write(fhandle, 0, data, stable), decode_write_result, deadline)


def commit(client: RpcClient, fhandle: bytes, deadline: Deadline) -> None:
    _call(client, PROC_COMMIT, encode_commit(fhandle), decode_commit_result, deadline)


def remove(client: RpcClient, dir_fhandle: bytes, name: str, deadline: Deadline) -> None:
    _call(client, PROC_REMOVE, encode_lookup(dir_fhandle, name), decode_remove_result, deadline)


def readdir(
    client: RpcClient, dir_fhandle: bytes, cookie: int, cookieverf: bytes, count: int, deadline: Deadline
) -> DirectoryPage:
    args = encode_readdir(dir_fhandle, cookie, cookieverf, count)
    return _call(client, PROC_READDIR, args, lambda dec: decode_readdir_result(dec, cookie), deadline)


def lookup_attributes(
    client: RpcClient, dir_fhandle: bytes, name: str, deadline: Deadline
) -> Tuple[bytes, Optional[Fattr3]]:
    return _call(client, PROC_LOOKUP, encode_lookup(dir_fhandle, name), decode_lookup_attributes, deadline)

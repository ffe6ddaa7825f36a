"""NFS version 3, program 100003 (RFC 1813): NULL, GETATTR and FSSTAT, all a probe needs; LOOKUP and
READ for the data-path check (a canary file's first bytes)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import Pending, RpcClient
from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.message import status_name
from fswatch.rpc.xdr import Decoder, Encoder

PROGRAM, VERSION = 100003, 3
PROC_NULL, PROC_GETATTR, PROC_LOOKUP, PROC_READ, PROC_FSSTAT = 0, 1, 3, 6, 18
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
    """READ3resok, without its data: how many bytes came, and whether the file ended."""

    count: int  # bytes the server read (the data itself is dropped: a canary's bytes are never logged)
    eof: bool


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
    return ReadResult(count, eof)


def lookup(client: RpcClient, dir_fhandle: bytes, name: str, deadline: Deadline) -> bytes:
    return decode_lookup_result(client.call(PROGRAM, VERSION, PROC_LOOKUP, encode_lookup(dir_fhandle, name), deadline))


def read(client: RpcClient, fhandle: bytes, count: int, deadline: Deadline) -> ReadResult:
    """The first `count` bytes of a file (offset 0)."""
    return decode_read_result(client.call(PROGRAM, VERSION, PROC_READ, encode_read(fhandle, 0, count), deadline), count)

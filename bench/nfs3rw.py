"""NFSv3 CREATE, WRITE, READ and REMOVE (RFC 1813 sections 3.3.8, 3.3.7, 3.3.6, 3.3.12) on
fswatch's own ONC RPC client: the soak's NFS clients read and write through ganesha with them.

The bench's, not the product's: a watch never writes, so these stay out of fswatch/rpc. Only
what a load client needs is decoded (the new file's handle, the status, the data read); the
rest of each reply is skipped by position.
"""

from __future__ import annotations

import struct

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.message import status_name
from fswatch.rpc.nfs3 import NFS3_FHSIZE, NFSSTAT3, PROGRAM, VERSION, encode_fh
from fswatch.rpc.xdr import Decoder, Encoder

PROC_READ, PROC_WRITE, PROC_CREATE, PROC_REMOVE = 6, 7, 8, 12
UNCHECKED = 0  # createmode3
FILE_SYNC = 2  # stable_how: the data is on disk when WRITE returns (no COMMIT needed)
MAX_NAME = 255
MAX_DATA = 1 << 20
_FATTR3_SIZE = struct.calcsize(">5I2Q2I2Q6I")  # 84 bytes
_WCC_ATTR_SIZE = struct.calcsize(">Q4I")  # size, mtime, ctime: 24 bytes


def _status(dec: Decoder, operation: str) -> None:
    status = dec.uint32()
    if status != 0:
        raise NfsError(status_name(NFSSTAT3, status, "nfsstat3"), operation)


def _skip_post_op_attr(dec: Decoder) -> None:
    if dec.boolean():
        dec.skip(_FATTR3_SIZE)


def _diropargs(enc: Encoder, dir_fh: bytes, name: str) -> None:
    enc.raw(encode_fh(dir_fh))
    enc.string(name, MAX_NAME)


def create(client: RpcClient, dir_fh: bytes, name: str, deadline: Deadline) -> bytes:
    """CREATE name UNCHECKED with mode 0644; the new file's handle."""
    enc = Encoder()
    _diropargs(enc, dir_fh, name)
    enc.enum(UNCHECKED)
    enc.boolean(True)  # set_mode3
    enc.uint32(0o644)
    for _ in range(3):  # uid, gid, size: don't set
        enc.boolean(False)
    enc.enum(0)  # atime: DONT_CHANGE
    enc.enum(0)  # mtime: DONT_CHANGE
    dec = client.call(PROGRAM, VERSION, PROC_CREATE, enc.bytes(), deadline)
    _status(dec, "CREATE")
    if not dec.boolean():
        raise RpcDecodeError("CREATE returned no file handle")
    return dec.opaque(NFS3_FHSIZE)


def write(client: RpcClient, fh: bytes, offset: int, data: bytes, deadline: Deadline) -> int:
    """WRITE FILE_SYNC; the count the server wrote."""
    enc = Encoder()
    enc.raw(encode_fh(fh))
    enc.uint64(offset)
    enc.uint32(len(data))
    enc.enum(FILE_SYNC)
    enc.opaque(data, MAX_DATA)
    dec = client.call(PROGRAM, VERSION, PROC_WRITE, enc.bytes(), deadline)
    _status(dec, "WRITE")
    if dec.boolean():  # wcc_data.before
        dec.skip(_WCC_ATTR_SIZE)
    _skip_post_op_attr(dec)  # wcc_data.after
    return dec.uint32()


def read(client: RpcClient, fh: bytes, offset: int, count: int, deadline: Deadline) -> bytes:
    enc = Encoder()
    enc.raw(encode_fh(fh))
    enc.uint64(offset)
    enc.uint32(count)
    dec = client.call(PROGRAM, VERSION, PROC_READ, enc.bytes(), deadline)
    _status(dec, "READ")
    _skip_post_op_attr(dec)
    dec.uint32()  # count
    dec.boolean()  # eof
    return dec.opaque(MAX_DATA)


def remove(client: RpcClient, dir_fh: bytes, name: str, deadline: Deadline) -> None:
    enc = Encoder()
    _diropargs(enc, dir_fh, name)
    _status(client.call(PROGRAM, VERSION, PROC_REMOVE, enc.bytes(), deadline), "REMOVE")

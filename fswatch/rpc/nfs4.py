"""NFS version 4.0, program 100003 (RFC 7530): one COMPOUND (PUTROOTFH, LOOKUP..., GETATTR type).

A v4 server needs no portmapper and no MOUNT: walking the export's path from the root of
its pseudo file system proves the export is there and the server answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from fswatch.deadline import Deadline
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.message import status_name
from fswatch.rpc.xdr import Decoder, Encoder

PROGRAM, VERSION = 100003, 4
PROC_COMPOUND = 1
MINOR_VERSION = 0
TAG = b"fswatch"

OP_GETATTR, OP_LOOKUP, OP_PUTROOTFH = 9, 15, 24
OP_NAMES = {OP_GETATTR: "GETATTR", OP_LOOKUP: "LOOKUP", OP_PUTROOTFH: "PUTROOTFH"}

FATTR4_SUPPORTED_ATTRS, FATTR4_TYPE = 0, 1
MAX_TAG = 1024
MAX_BITMAP_WORDS = 8
MAX_ATTR_VALS = 1 << 16

NFS4_OK = 0
NFSSTAT4 = {
    0: "NFS4_OK",
    1: "NFS4ERR_PERM",
    2: "NFS4ERR_NOENT",
    5: "NFS4ERR_IO",
    6: "NFS4ERR_NXIO",
    13: "NFS4ERR_ACCESS",
    17: "NFS4ERR_EXIST",
    18: "NFS4ERR_XDEV",
    20: "NFS4ERR_NOTDIR",
    21: "NFS4ERR_ISDIR",
    22: "NFS4ERR_INVAL",
    27: "NFS4ERR_FBIG",
    28: "NFS4ERR_NOSPC",
    30: "NFS4ERR_ROFS",
    31: "NFS4ERR_MLINK",
    63: "NFS4ERR_NAMETOOLONG",
    66: "NFS4ERR_NOTEMPTY",
    69: "NFS4ERR_DQUOT",
    70: "NFS4ERR_STALE",
    10001: "NFS4ERR_BADHANDLE",
    10003: "NFS4ERR_BAD_COOKIE",
    10004: "NFS4ERR_NOTSUPP",
    10005: "NFS4ERR_TOOSMALL",
    10006: "NFS4ERR_SERVERFAULT",
    10007: "NFS4ERR_BADTYPE",
    10008: "NFS4ERR_DELAY",
    10009: "NFS4ERR_SAME",
    10010: "NFS4ERR_DENIED",
    10011: "NFS4ERR_EXPIRED",
    10012: "NFS4ERR_LOCKED",
    10013: "NFS4ERR_GRACE",
    10014: "NFS4ERR_FHEXPIRED",
    10015: "NFS4ERR_SHARE_DENIED",
    10016: "NFS4ERR_WRONGSEC",
    10017: "NFS4ERR_CLID_INUSE",
    10018: "NFS4ERR_RESOURCE",
    10019: "NFS4ERR_MOVED",
    10020: "NFS4ERR_NOFILEHANDLE",
    10021: "NFS4ERR_MINOR_VERS_MISMATCH",
    10022: "NFS4ERR_STALE_CLIENTID",
    10023: "NFS4ERR_STALE_STATEID",
    10024: "NFS4ERR_OLD_STATEID",
    10025: "NFS4ERR_BAD_STATEID",
    10026: "NFS4ERR_BAD_SEQID",
    10027: "NFS4ERR_NOT_SAME",
    10028: "NFS4ERR_LOCK_RANGE",
    10029: "NFS4ERR_SYMLINK",
    10030: "NFS4ERR_RESTOREFH",
    10031: "NFS4ERR_LEASE_MOVED",
    10032: "NFS4ERR_ATTRNOTSUPP",
    10033: "NFS4ERR_NO_GRACE",
    10034: "NFS4ERR_RECLAIM_BAD",
    10035: "NFS4ERR_RECLAIM_CONFLICT",
    10036: "NFS4ERR_BADXDR",
    10037: "NFS4ERR_LOCKS_HELD",
    10038: "NFS4ERR_OPENMODE",
    10039: "NFS4ERR_BADOWNER",
    10040: "NFS4ERR_BADCHAR",
    10041: "NFS4ERR_BADNAME",
    10042: "NFS4ERR_BAD_RANGE",
    10043: "NFS4ERR_LOCK_NOTSUPP",
    10044: "NFS4ERR_OP_ILLEGAL",
    10045: "NFS4ERR_DEADLOCK",
    10046: "NFS4ERR_FILE_OPEN",
    10047: "NFS4ERR_ADMIN_REVOKED",
    10048: "NFS4ERR_CB_PATH_DOWN",
}

FTYPE4 = {
    1: "NF4REG",
    2: "NF4DIR",
    3: "NF4BLK",
    4: "NF4CHR",
    5: "NF4LNK",
    6: "NF4SOCK",
    7: "NF4FIFO",
    8: "NF4ATTRDIR",
    9: "NF4NAMEDATTR",
}


@dataclass(frozen=True)
class PathAttributes:
    """What the COMPOUND's GETATTR said about the last component (None if it sent no type)."""

    type: Optional[str]


def path_components(path: str) -> List[str]:
    """`/srv/nfs/export` -> ["srv", "nfs", "export"]; empty components (`//`, trailing /) vanish."""
    return [part for part in path.split("/") if part]


def _operations(components: Sequence[str]) -> Tuple[int, ...]:
    return (OP_PUTROOTFH,) + (OP_LOOKUP,) * len(components) + (OP_GETATTR,)


def encode_lookup_compound(components: Sequence[str]) -> bytes:
    """COMPOUND4args: PUTROOTFH, LOOKUP per component, GETATTR {type}."""
    enc = Encoder()
    enc.opaque(TAG, MAX_TAG)
    enc.uint32(MINOR_VERSION)
    enc.uint32(len(components) + 2)
    enc.uint32(OP_PUTROOTFH)
    for name in components:
        enc.uint32(OP_LOOKUP)
        enc.string(name)
    enc.uint32(OP_GETATTR)
    enc.array([1 << FATTR4_TYPE], Encoder.uint32, MAX_BITMAP_WORDS)
    return enc.bytes()


def _decode_type(attrmask: Sequence[int], attr_vals: bytes) -> Optional[str]:
    """The type out of fattr4's attr_vals (attributes come in bit order, RFC 7530 section 5)."""
    word0 = attrmask[0] if attrmask else 0
    if not word0 & (1 << FATTR4_TYPE):
        return None
    vals = Decoder(attr_vals)
    if word0 & (1 << FATTR4_SUPPORTED_ATTRS):
        vals.array(Decoder.uint32, MAX_BITMAP_WORDS)
    ftype = vals.uint32()
    if ftype not in FTYPE4:
        raise RpcDecodeError(f"nfs_ftype4 {ftype} is not a file type")
    return FTYPE4[ftype]


def decode_lookup_compound(dec: Decoder, components: Sequence[str]) -> PathAttributes:
    """COMPOUND4res for encode_lookup_compound(components); the first failed op raises NfsError."""
    operations = _operations(components)
    status = dec.uint32()
    dec.opaque(MAX_TAG)
    count = dec.uint32()
    if count > len(operations):
        raise RpcDecodeError(f"COMPOUND answered {count} results for {len(operations)} operations")
    ftype: Optional[str] = None
    for index in range(count):
        resop = dec.uint32()
        if resop != operations[index]:
            raise RpcDecodeError(f"COMPOUND result {index} is for operation {resop}, not {operations[index]}")
        op_status = dec.uint32()
        if op_status != NFS4_OK:
            raise NfsError(status_name(NFSSTAT4, op_status, "nfsstat4"), OP_NAMES[resop])
        if resop == OP_GETATTR:
            attrmask = dec.array(Decoder.uint32, MAX_BITMAP_WORDS)
            ftype = _decode_type(attrmask, dec.opaque(MAX_ATTR_VALS))
    if status != NFS4_OK:  # e.g. NFS4ERR_MINOR_VERS_MISMATCH comes with no results at all
        raise NfsError(status_name(NFSSTAT4, status, "nfsstat4"), "COMPOUND")
    if count != len(operations):
        raise RpcDecodeError(f"COMPOUND succeeded with {count} results for {len(operations)} operations")
    return PathAttributes(ftype)


def lookup_path(client: RpcClient, path: str, deadline: Deadline) -> PathAttributes:
    """Walk `path` from the server's root in one COMPOUND and get the type of where it ends."""
    components = path_components(path)
    results = client.call(PROGRAM, VERSION, PROC_COMPOUND, encode_lookup_compound(components), deadline)
    return decode_lookup_compound(results, components)

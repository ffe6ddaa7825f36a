"""NFS version 4.0, program 100003 (RFC 7530): one COMPOUND (PUTROOTFH, LOOKUP..., GETATTR).

A v4 server needs no portmapper and no MOUNT: walking the export's path from the root of
its pseudo file system proves the export is there and the server answers. The GETATTR asks
for the type and for the space and file-slot counts (the FSSTAT of v3): a server answers
LOOKUP and the type from its attribute cache (nfs-ganesha: for ~60 s with the storage
frozen, measured), but it must ask the file system for the counts (ganesha: a statfs), so
the probe only succeeds when the storage beneath the export answers too (SPEC.md section 9).
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

# fattr4 attribute numbers (RFC 7530 section 5.8); bit n of the bitmap4 is word n // 32, bit n % 32.
FATTR4_SUPPORTED_ATTRS, FATTR4_TYPE = 0, 1
FATTR4_FILES_AVAIL, FATTR4_FILES_FREE, FATTR4_FILES_TOTAL = 21, 22, 23
FATTR4_SPACE_AVAIL, FATTR4_SPACE_FREE, FATTR4_SPACE_TOTAL = 42, 43, 44
# What the probe's GETATTR asks for: the type (cacheable) and the counts only statfs knows.
STORAGE_ATTRS = (
    FATTR4_FILES_AVAIL, FATTR4_FILES_FREE, FATTR4_FILES_TOTAL,
    FATTR4_SPACE_AVAIL, FATTR4_SPACE_FREE, FATTR4_SPACE_TOTAL,
)  # fmt: skip
PROBE_ATTRS = (FATTR4_TYPE,) + STORAGE_ATTRS
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
    """What the COMPOUND's GETATTR said about the last component (None: not sent)."""

    type: Optional[str]
    files_avail: Optional[int] = None
    files_free: Optional[int] = None
    files_total: Optional[int] = None
    space_avail: Optional[int] = None  # bytes
    space_free: Optional[int] = None
    space_total: Optional[int] = None


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
    enc.array(bitmap4(PROBE_ATTRS), Encoder.uint32, MAX_BITMAP_WORDS)
    return enc.bytes()


def bitmap4(attributes: Sequence[int]) -> List[int]:
    """bitmap4 words with the bits of `attributes` set (no trailing zero words)."""
    words = [0] * (max(attributes) // 32 + 1)
    for attr in attributes:
        words[attr // 32] |= 1 << (attr % 32)
    return words


def _ftype(vals: Decoder) -> str:
    ftype = vals.uint32()
    if ftype not in FTYPE4:
        raise RpcDecodeError(f"nfs_ftype4 {ftype} is not a file type")
    return FTYPE4[ftype]


# How to read each attribute the probe understands, and its PathAttributes field.
_ATTR_DECODERS = {
    FATTR4_SUPPORTED_ATTRS: (None, lambda vals: vals.array(Decoder.uint32, MAX_BITMAP_WORDS)),
    FATTR4_TYPE: ("type", _ftype),
    FATTR4_FILES_AVAIL: ("files_avail", Decoder.uint64),
    FATTR4_FILES_FREE: ("files_free", Decoder.uint64),
    FATTR4_FILES_TOTAL: ("files_total", Decoder.uint64),
    FATTR4_SPACE_AVAIL: ("space_avail", Decoder.uint64),
    FATTR4_SPACE_FREE: ("space_free", Decoder.uint64),
    FATTR4_SPACE_TOTAL: ("space_total", Decoder.uint64),
}


def decode_fattr4(attrmask: Sequence[int], attr_vals: bytes) -> PathAttributes:
    """The attributes out of fattr4 (values come in bit order, RFC 7530 section 5).

    An attribute the probe did not ask for has a size only its own definition knows: the
    values after it cannot be found, so decoding stops there and they stay None.
    """
    vals = Decoder(attr_vals)
    found = {}
    for attr in (32 * word + bit for word, mask in enumerate(attrmask) for bit in range(32) if mask >> bit & 1):
        if attr not in _ATTR_DECODERS:
            break
        field, decode = _ATTR_DECODERS[attr]
        value = decode(vals)
        if field is not None:
            found[field] = value
    return PathAttributes(found.pop("type", None), **found)


def decode_lookup_compound(dec: Decoder, components: Sequence[str]) -> PathAttributes:
    """COMPOUND4res for encode_lookup_compound(components); the first failed op raises NfsError."""
    operations = _operations(components)
    status = dec.uint32()
    dec.opaque(MAX_TAG)
    count = dec.uint32()
    if count > len(operations):
        raise RpcDecodeError(f"COMPOUND answered {count} results for {len(operations)} operations")
    attributes = PathAttributes(None)
    for index in range(count):
        resop = dec.uint32()
        if resop != operations[index]:
            raise RpcDecodeError(f"COMPOUND result {index} is for operation {resop}, not {operations[index]}")
        op_status = dec.uint32()
        if op_status != NFS4_OK:
            raise NfsError(status_name(NFSSTAT4, op_status, "nfsstat4"), OP_NAMES[resop])
        if resop == OP_GETATTR:
            attrmask = dec.array(Decoder.uint32, MAX_BITMAP_WORDS)
            attributes = decode_fattr4(attrmask, dec.opaque(MAX_ATTR_VALS))
    if status != NFS4_OK:  # e.g. NFS4ERR_MINOR_VERS_MISMATCH comes with no results at all
        raise NfsError(status_name(NFSSTAT4, status, "nfsstat4"), "COMPOUND")
    if count != len(operations):
        raise RpcDecodeError(f"COMPOUND succeeded with {count} results for {len(operations)} operations")
    return attributes


def lookup_path(client: RpcClient, path: str, deadline: Deadline) -> PathAttributes:
    """Walk `path` from the server's root in one COMPOUND; the type and storage counts of its end."""
    components = path_components(path)
    results = client.call(PROGRAM, VERSION, PROC_COMPOUND, encode_lookup_compound(components), deadline)
    return decode_lookup_compound(results, components)

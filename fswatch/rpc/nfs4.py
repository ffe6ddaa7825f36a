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
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.message import KRB5_OID_DER, PSEUDO_FLAVORS, RPCSEC_GSS, status_name
from fswatch.rpc.xdr import Decoder, Encoder

PROGRAM, VERSION = 100003, 4
PROC_COMPOUND = 1
MINOR_VERSION = 0
TAG = b"fswatch"

OP_GETATTR, OP_LOOKUP, OP_PUTROOTFH, OP_READ, OP_SECINFO = 9, 15, 24, 25, 33
# fswatch.rpc.nfs41 adds its own
OP_NAMES = {
    OP_GETATTR: "GETATTR", OP_LOOKUP: "LOOKUP", OP_PUTROOTFH: "PUTROOTFH", OP_READ: "READ", OP_SECINFO: "SECINFO"
}  # fmt: skip

# fattr4 attribute numbers (RFC 7530 section 5.8); bit n of the bitmap4 is word n // 32, bit n % 32.
FATTR4_SUPPORTED_ATTRS, FATTR4_TYPE, FATTR4_LEASE_TIME = 0, 1, 10
FATTR4_FILES_AVAIL, FATTR4_FILES_FREE, FATTR4_FILES_TOTAL = 21, 22, 23
FATTR4_SPACE_AVAIL, FATTR4_SPACE_FREE, FATTR4_SPACE_TOTAL = 42, 43, 44
FATTR4_TIME_MODIFY = 53  # the write canary's: which of its files are leftovers (fswatch.rpc.nfs4write)
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
    # NFSv4.1 (RFC 8881 section 15.1) and 4.2 (RFC 7862 section 11.1)
    10049: "NFS4ERR_BADIOMODE",
    10050: "NFS4ERR_BADLAYOUT",
    10051: "NFS4ERR_BAD_SESSION_DIGEST",
    10052: "NFS4ERR_BADSESSION",
    10053: "NFS4ERR_BADSLOT",
    10054: "NFS4ERR_COMPLETE_ALREADY",
    10055: "NFS4ERR_CONN_NOT_BOUND_TO_SESSION",
    10056: "NFS4ERR_DELEG_ALREADY_WANTED",
    10057: "NFS4ERR_BACK_CHAN_BUSY",
    10058: "NFS4ERR_LAYOUTTRYLATER",
    10059: "NFS4ERR_LAYOUTUNAVAILABLE",
    10060: "NFS4ERR_NOMATCHING_LAYOUT",
    10061: "NFS4ERR_RECALLCONFLICT",
    10062: "NFS4ERR_UNKNOWN_LAYOUTTYPE",
    10063: "NFS4ERR_SEQ_MISORDERED",
    10064: "NFS4ERR_SEQUENCE_POS",
    10065: "NFS4ERR_REQ_TOO_BIG",
    10066: "NFS4ERR_REP_TOO_BIG",
    10067: "NFS4ERR_REP_TOO_BIG_TO_CACHE",
    10068: "NFS4ERR_RETRY_UNCACHED_REP",
    10069: "NFS4ERR_UNSAFE_COMPOUND",
    10070: "NFS4ERR_TOO_MANY_OPS",
    10071: "NFS4ERR_OP_NOT_IN_SESSION",
    10072: "NFS4ERR_HASH_ALG_UNSUPP",
    10074: "NFS4ERR_CLIENTID_BUSY",
    10075: "NFS4ERR_PNFS_IO_HOLE",
    10076: "NFS4ERR_SEQ_FALSE_RETRY",
    10077: "NFS4ERR_BAD_HIGH_SLOT",
    10078: "NFS4ERR_DEADSESSION",
    10079: "NFS4ERR_ENCR_ALG_UNSUPP",
    10080: "NFS4ERR_PNFS_NO_LAYOUT",
    10081: "NFS4ERR_NOT_ONLY_OP",
    10082: "NFS4ERR_WRONG_CRED",
    10083: "NFS4ERR_WRONG_TYPE",
    10084: "NFS4ERR_DIRDELEG_UNAVAIL",
    10085: "NFS4ERR_REJECT_DELEG",
    10086: "NFS4ERR_RETURNCONFLICT",
    10087: "NFS4ERR_DELEG_REVOKED",
    10088: "NFS4ERR_PARTNER_NOTSUPP",
    10089: "NFS4ERR_PARTNER_NO_AUTH",
    10090: "NFS4ERR_UNION_NOTSUPP",
    10091: "NFS4ERR_OFFLOAD_DENIED",
    10092: "NFS4ERR_WRONG_LFS",
    10093: "NFS4ERR_BADLABEL",
    10094: "NFS4ERR_OFFLOAD_NO_REQS",
}
NFS4ERR_GRACE, NFS4ERR_MINOR_VERS_MISMATCH = 10013, 10021

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
    lease_time: Optional[int] = None  # seconds (nfs_lease4)
    time_modify: Optional[float] = None  # seconds since 1970, the server's clock (nfstime4)


def path_components(path: str) -> List[str]:
    """`/srv/nfs/export` -> ["srv", "nfs", "export"]; empty components (`//`, trailing /) vanish."""
    return [part for part in path.split("/") if part]


def _operations(components: Sequence[str]) -> Tuple[int, ...]:
    return (OP_PUTROOTFH,) + (OP_LOOKUP,) * len(components) + (OP_GETATTR,)


def encode_compound(minor_version: int, operations: Sequence[Tuple[int, bytes]]) -> bytes:
    """COMPOUND4args (RFC 7530 section 16.2, RFC 8881 section 16.2): the tag, then each op's number and arguments."""
    enc = Encoder()
    enc.opaque(TAG, MAX_TAG)
    enc.uint32(minor_version)
    enc.uint32(len(operations))
    for op, args in operations:
        enc.uint32(op)
        enc.raw(args)
    return enc.bytes()


def encode_lookup_compound(components: Sequence[str]) -> bytes:
    """COMPOUND4args: PUTROOTFH, LOOKUP per component, GETATTR {type}."""
    return encode_compound(MINOR_VERSION, walk_operations(components, PROBE_ATTRS))


def walk_operations(components: Sequence[str], attributes: Sequence[int]) -> List[Tuple[int, bytes]]:
    """PUTROOTFH, LOOKUP per component, GETATTR `attributes`, as (op, arguments) pairs."""
    ops: List[Tuple[int, bytes]] = [(OP_PUTROOTFH, b"")]
    for name in components:
        enc = Encoder()
        enc.string(name)
        ops.append((OP_LOOKUP, enc.bytes()))
    enc = Encoder()
    enc.array(bitmap4(attributes), Encoder.uint32, MAX_BITMAP_WORDS)
    ops.append((OP_GETATTR, enc.bytes()))
    return ops


@dataclass(frozen=True)
class CompoundResults:
    """COMPOUND4res read so far: the decoded results of the operations that succeeded, in order,
    and the operation whose status ended the COMPOUND (None when every one succeeded)."""

    values: Tuple[object, ...]
    failed_op: Optional[int] = None
    failed_status: int = NFS4_OK

    def result(self, op: int, operations: Sequence[int]) -> object:
        """The decoded result of the first `op` in `operations` that succeeded, else None."""
        for sent, value in zip(operations, self.values):
            if sent == op:
                return value
        return None

    def check(self) -> CompoundResults:
        """Raise NfsError naming the operation that failed (and its place), if one did."""
        if self.failed_op is not None:
            error = NfsError(status_name(NFSSTAT4, self.failed_status, "nfsstat4"), op_name(self.failed_op))
            error.at = len(self.values)
            raise error
        return self


def op_name(op: int) -> str:
    return OP_NAMES.get(op, f"nfs_opnum4({op})")


def decode_compound(
    dec: Decoder, operations: Sequence[int], readers: Mapping[int, Callable[[Decoder], object]]
) -> CompoundResults:
    """COMPOUND4res for `operations`: each result must be for the operation sent at its place; a
    COMPOUND stops at the first operation that fails (RFC 7530 section 15.2), which is returned,
    not raised, so a caller can expect one (e.g. OPEN answering NFS4ERR_NOENT). `readers` decode the
    results of the operations that have any; a COMPOUND status without any result (e.g.
    NFS4ERR_MINOR_VERS_MISMATCH) raises NfsError for "COMPOUND"."""
    status = dec.uint32()
    dec.opaque(MAX_TAG)
    count = dec.uint32()
    if count > len(operations):
        raise RpcDecodeError(f"COMPOUND answered {count} results for {len(operations)} operations")
    values: List[object] = []
    for index in range(count):
        resop = dec.uint32()
        if resop != operations[index]:
            raise RpcDecodeError(f"COMPOUND result {index} is for operation {resop}, not {operations[index]}")
        op_status = dec.uint32()
        if op_status != NFS4_OK:
            return CompoundResults(tuple(values), resop, op_status)
        reader = readers.get(resop)
        values.append(reader(dec) if reader is not None else None)
    if status != NFS4_OK:  # e.g. NFS4ERR_MINOR_VERS_MISMATCH comes with no results at all
        raise NfsError(status_name(NFSSTAT4, status, "nfsstat4"), "COMPOUND")
    if count != len(operations):
        raise RpcDecodeError(f"COMPOUND succeeded with {count} results for {len(operations)} operations")
    return CompoundResults(tuple(values))


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


def _nfstime(vals: Decoder) -> float:
    seconds, nseconds = vals.int64(), vals.uint32()
    if nseconds >= 1_000_000_000:
        raise RpcDecodeError(f"nfstime4 nseconds {nseconds} is not below a second")
    return seconds + nseconds / 1e9


# How to read each attribute the probe understands, and its PathAttributes field.
_ATTR_DECODERS = {
    FATTR4_SUPPORTED_ATTRS: (None, lambda vals: vals.array(Decoder.uint32, MAX_BITMAP_WORDS)),
    FATTR4_TYPE: ("type", _ftype),
    FATTR4_LEASE_TIME: ("lease_time", Decoder.uint32),
    FATTR4_FILES_AVAIL: ("files_avail", Decoder.uint64),
    FATTR4_FILES_FREE: ("files_free", Decoder.uint64),
    FATTR4_FILES_TOTAL: ("files_total", Decoder.uint64),
    FATTR4_SPACE_AVAIL: ("space_avail", Decoder.uint64),
    FATTR4_SPACE_FREE: ("space_free", Decoder.uint64),
    FATTR4_SPACE_TOTAL: ("space_total", Decoder.uint64),
    FATTR4_TIME_MODIFY: ("time_modify", _nfstime),
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


def decode_getattr(dec: Decoder) -> PathAttributes:
    """GETATTR4resok: the fattr4 of the current filehandle."""
    attrmask = dec.array(Decoder.uint32, MAX_BITMAP_WORDS)
    return decode_fattr4(attrmask, dec.opaque(MAX_ATTR_VALS))


def decode_lookup_compound(dec: Decoder, components: Sequence[str]) -> PathAttributes:
    """COMPOUND4res for encode_lookup_compound(components); the first failed op raises NfsError."""
    operations = _operations(components)
    results = decode_compound(dec, operations, {OP_GETATTR: decode_getattr}).check()
    attributes = results.result(OP_GETATTR, operations)
    return attributes if isinstance(attributes, PathAttributes) else PathAttributes(None)


def lookup_path(client: RpcClient, path: str, deadline: Deadline) -> PathAttributes:
    """Walk `path` from the server's root in one COMPOUND; the type and storage counts of its end."""
    components = path_components(path)
    results = client.call(PROGRAM, VERSION, PROC_COMPOUND, encode_lookup_compound(components), deadline)
    return decode_lookup_compound(results, components)


# -- the data-path check: READ of a canary file's first bytes ----------------------------------
#
# With the anonymous stateid (all zeros, RFC 7530 section 9.1.4.3, RFC 8881 section 8.2.3) a READ
# needs no OPEN: no open owner, no state for the server to keep or the probe to CLOSE, one round
# trip, and the same COMPOUND works in v4.0 and (after SEQUENCE) in v4.1 and 4.2.
ANONYMOUS_STATEID = b"\0" * 16  # stateid4: seqid 0, other all zero
MAX_READ = 1 << 20  # a READ4resok carrying more than this is garbage (the probe asks for a few KiB)


@dataclass(frozen=True)
class ReadResult:
    """READ4resok, without its data: how many bytes came, and whether the file ended."""

    count: int  # bytes the server read (the data itself is dropped: a canary's bytes are never logged)
    eof: bool


def encode_read(offset: int, count: int) -> bytes:
    """READ4args with the anonymous stateid."""
    enc = Encoder()
    enc.raw(ANONYMOUS_STATEID)
    enc.uint64(offset)
    enc.uint32(count)
    return enc.bytes()


def read_operations(components: Sequence[str], count: int) -> List[Tuple[int, bytes]]:
    """PUTROOTFH, LOOKUP per component, READ the first `count` bytes, as (op, arguments) pairs."""
    ops = walk_operations(components, (FATTR4_TYPE,))[:-1]  # the walk without its GETATTR
    ops.append((OP_READ, encode_read(0, count)))
    return ops


def decode_read(dec: Decoder) -> ReadResult:
    """READ4resok: eof, then the data (whose length is the count)."""
    eof = dec.boolean()
    return ReadResult(len(dec.opaque(MAX_READ)), eof)


def decode_read_compound(
    dec: Decoder, operations: Sequence[int], readers: Optional[Mapping[int, Callable]] = None
) -> ReadResult:
    """COMPOUND4res for read_operations() (after SEQUENCE in a session: its reader in `readers`);
    the first failed operation raises NfsError naming it (LOOKUP: NFS4ERR_NOENT, READ: NFS4ERR_ACCESS)."""
    results = decode_compound(dec, operations, {**(readers or {}), OP_READ: decode_read}).check()
    result = results.result(OP_READ, operations)
    assert isinstance(result, ReadResult)  # the COMPOUND succeeded, so READ, its last operation, did
    return result


def read_path(client: RpcClient, path: str, count: int, deadline: Deadline) -> ReadResult:
    """v4.0: walk `path` (export and canary) from the server's root and READ its first `count` bytes."""
    ops = read_operations(path_components(path), count)
    results = client.call(PROGRAM, VERSION, PROC_COMPOUND, encode_compound(MINOR_VERSION, ops), deadline)
    return decode_read_compound(results, [op for op, _ in ops])


# -- the export's security flavors: SECINFO (RFC 7530 section 16.31) ----------------------------
#
# Asked where a LOOKUP met NFS4ERR_WRONGSEC: the server must answer SECINFO on the directory whose
# LOOKUP it refused, under that directory's own flavors (section 3.2.1). RPCSEC_GSS entries name a
# mechanism and a service; Kerberos V5's are the pseudo-flavors krb5, krb5i, krb5p (RFC 2623).
MAX_SECINFO = 32
MAX_OID = 64


@dataclass(frozen=True)
class SecInfo:
    """One secinfo4: a flavor, and for RPCSEC_GSS its mechanism's OID (DER), qop and service."""

    flavor: int
    oid: bytes = b""
    qop: int = 0
    service: int = 0

    @property
    def pseudo_flavor(self) -> int:
        """The flavor as MNT's list names it: Kerberos V5 under RPCSEC_GSS is 390003-390005."""
        if self.flavor == RPCSEC_GSS and self.oid == KRB5_OID_DER:
            for pseudo, (_, service) in PSEUDO_FLAVORS.items():
                if service == self.service:
                    return pseudo
        return self.flavor


def _secinfo4(dec: Decoder) -> SecInfo:
    flavor = dec.uint32()
    if flavor != RPCSEC_GSS:
        return SecInfo(flavor)
    return SecInfo(flavor, dec.opaque(MAX_OID), dec.uint32(), dec.uint32())


def decode_secinfo(dec: Decoder) -> Tuple[SecInfo, ...]:
    """SECINFO4resok (and SECINFO_NO_NAME4resok, the same type)."""
    return tuple(dec.array(_secinfo4, MAX_SECINFO))


def secinfo_operations(parents: Sequence[str], name: str) -> List[Tuple[int, bytes]]:
    """PUTROOTFH, LOOKUP each of `parents`, SECINFO `name`."""
    ops = walk_operations(parents, (FATTR4_TYPE,))[:-1]  # without the GETATTR
    enc = Encoder()
    enc.string(name)
    ops.append((OP_SECINFO, enc.bytes()))
    return ops


def decode_secinfo_compound(dec: Decoder, operations: Sequence[int]) -> Tuple[SecInfo, ...]:
    results = decode_compound(dec, operations, {OP_SECINFO: decode_secinfo}).check()
    found = results.result(OP_SECINFO, operations)
    return found if isinstance(found, tuple) else ()


def secinfo(client: RpcClient, path: str, index: int, deadline: Deadline) -> Tuple[SecInfo, ...]:
    """The flavors of component `index` of `path` (v4.0: SECINFO from its parent)."""
    components = path_components(path)
    ops = secinfo_operations(components[:index], components[index])
    results = client.call(PROGRAM, VERSION, PROC_COMPOUND, encode_compound(MINOR_VERSION, ops), deadline)
    return decode_secinfo_compound(results, [op for op, _ in ops])

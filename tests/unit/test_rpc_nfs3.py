"""fswatch.rpc.nfs3: GETATTR3res and FSSTAT3res, every nfsstat3 by name."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given

from fswatch.rpc.errors import NfsError, RpcDecodeError
from fswatch.rpc.nfs3 import NFSSTAT3, decode_fsstat_result, decode_getattr_result, encode_fh
from fswatch.rpc.xdr import Decoder
from tests.unit.garbage import PROPERTY, garbage_from

# type=NF3DIR mode=0755 nlink=2 uid=0 gid=0 size=4096 used=4096 rdev=0,0 fsid=7 fileid=2
# atime mtime ctime (mtime = 1700000000.5)
FATTR3 = struct.pack(">5I2Q2I2Q6I", 2, 0o755, 2, 0, 0, 4096, 4096, 0, 0, 7, 2, 0, 0, 1700000000, 500000000, 0, 0)
GETATTR_OK = bytes(4) + FATTR3
FSSTAT_OK = bytes(4) + struct.pack(">I", 1) + FATTR3 + struct.pack(">6QI", 100, 50, 40, 10, 5, 4, 0)
FSSTAT_FAIL = struct.pack(">II", 70, 0)


def test_fh_argument():
    assert encode_fh(b"\x01\x02\x03").hex() == "00000003" "01020300"


def test_getattr_ok():
    attrs = decode_getattr_result(Decoder(GETATTR_OK))
    assert (attrs.type, attrs.mode, attrs.size, attrs.fsid, attrs.fileid) == ("NF3DIR", 0o755, 4096, 7, 2)
    assert attrs.mtime == pytest.approx(1700000000.5)


def test_fsstat_ok():
    stat = decode_fsstat_result(Decoder(FSSTAT_OK))
    assert (stat.tbytes, stat.fbytes, stat.abytes, stat.tfiles, stat.invarsec) == (100, 50, 40, 10, 0)
    assert stat.attributes is not None and stat.attributes.type == "NF3DIR"


def test_fsstat_failure_reads_its_attributes_then_raises():
    with pytest.raises(NfsError) as info:
        decode_fsstat_result(Decoder(FSSTAT_FAIL))
    assert (info.value.status, info.value.operation) == ("NFS3ERR_STALE", "FSSTAT")


@pytest.mark.parametrize(
    "status, name",
    [(70, "NFS3ERR_STALE"), (10001, "NFS3ERR_BADHANDLE"), (13, "NFS3ERR_ACCES"), (10008, "NFS3ERR_JUKEBOX"),
     (5, "NFS3ERR_IO"), (10006, "NFS3ERR_SERVERFAULT"), (12345, "nfsstat3(12345)")],
)  # fmt: skip
def test_getattr_errors_by_name(status, name):
    with pytest.raises(NfsError) as info:
        decode_getattr_result(Decoder(struct.pack(">I", status)))
    assert (info.value.status, info.value.operation, info.value.sperror()) == (name, "GETATTR", name)


def test_nfsstat3_table_is_rfc_1813s():
    assert len(NFSSTAT3) == 29 and NFSSTAT3[0] == "NFS3_OK"


def test_unknown_file_type_is_garbage():
    with pytest.raises(RpcDecodeError, match="ftype3"):
        decode_getattr_result(Decoder(bytes(4) + struct.pack(">I", 9) + FATTR3[4:]))


@given(results=garbage_from(GETATTR_OK, struct.pack(">I", 70)))
@PROPERTY
def test_any_bytes_give_attributes_or_a_typed_error_getattr(results):
    try:
        decode_getattr_result(Decoder(results))
    except (RpcDecodeError, NfsError):
        pass


@given(results=garbage_from(FSSTAT_OK, FSSTAT_FAIL))
@PROPERTY
def test_any_bytes_give_fsstat_or_a_typed_error(results):
    try:
        decode_fsstat_result(Decoder(results))
    except (RpcDecodeError, NfsError):
        pass

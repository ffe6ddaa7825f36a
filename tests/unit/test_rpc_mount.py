"""fswatch.rpc.mount: MNT/UMNT arguments and mountres3, every mountstat3 by name."""

from __future__ import annotations

import pytest
from hypothesis import given

from fswatch.rpc.errors import MountError, RpcDecodeError
from fswatch.rpc.mount import MOUNTSTAT3, Mounted, decode_mnt_result, encode_dirpath
from fswatch.rpc.xdr import Decoder, Encoder
from tests.unit.garbage import PROPERTY, garbage_from


def mountres3(status: int = 0, fhandle: bytes = b"\x01" * 28, flavors=(1,)) -> bytes:
    enc = Encoder()
    enc.uint32(status)
    if status == 0:
        enc.opaque(fhandle)
        enc.array(list(flavors), Encoder.int32)
    return enc.bytes()


def test_dirpath_argument():
    assert encode_dirpath("/srv/nfs").hex() == "00000008" "2f7372762f6e6673"


def test_dirpath_longer_than_mntpathlen_is_refused():
    with pytest.raises(ValueError):
        encode_dirpath("/" + "x" * 1024)


def test_mnt_ok_gives_the_handle_and_flavors():
    assert decode_mnt_result(Decoder(mountres3(0, b"\xaa" * 64, (1, 390003)))) == Mounted(b"\xaa" * 64, (1, 390003))


@pytest.mark.parametrize(
    "status, name",
    [
        (1, "MNT3ERR_PERM"),
        (2, "MNT3ERR_NOENT"),
        (5, "MNT3ERR_IO"),
        (13, "MNT3ERR_ACCES"),
        (20, "MNT3ERR_NOTDIR"),
        (22, "MNT3ERR_INVAL"),
        (63, "MNT3ERR_NAMETOOLONG"),
        (10004, "MNT3ERR_NOTSUPP"),
        (10006, "MNT3ERR_SERVERFAULT"),
        (77, "mountstat3(77)"),
    ],
)
def test_mnt_errors_by_name(status, name):
    with pytest.raises(MountError) as info:
        decode_mnt_result(Decoder(mountres3(status)))
    assert info.value.status == name and info.value.operation == "MNT"
    assert info.value.sperror() == name


def test_every_rfc_mountstat3_has_a_name():
    assert set(MOUNTSTAT3) == {0, 1, 2, 5, 13, 20, 22, 63, 10004, 10006}


def test_handle_longer_than_64_bytes_is_garbage():
    with pytest.raises(RpcDecodeError, match="maximum 64"):
        decode_mnt_result(Decoder(mountres3(0, b"\x01" * 65)))


@given(results=garbage_from(mountres3(), mountres3(0, b"", ()), mountres3(13)))
@PROPERTY
def test_any_bytes_give_a_mount_or_a_typed_error(results):
    try:
        mounted = decode_mnt_result(Decoder(results))
    except (RpcDecodeError, MountError):
        return
    assert len(mounted.fhandle) <= 64

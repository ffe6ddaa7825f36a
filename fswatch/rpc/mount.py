"""The MOUNT protocol, program 100005 version 3 (RFC 1813 Appendix I): MNT and UMNT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import Pending, RpcClient
from fswatch.rpc.errors import MountError
from fswatch.rpc.message import status_name
from fswatch.rpc.xdr import Decoder, Encoder

PROGRAM, VERSION = 100005, 3
PROC_MNT, PROC_UMNT = 1, 3
MNTPATHLEN = 1024
FHSIZE3 = 64
MAX_AUTH_FLAVORS = 64  # a server lists a handful; more is garbage

MNT3_OK = 0
MOUNTSTAT3 = {
    0: "MNT3_OK",
    1: "MNT3ERR_PERM",
    2: "MNT3ERR_NOENT",
    5: "MNT3ERR_IO",
    13: "MNT3ERR_ACCES",
    20: "MNT3ERR_NOTDIR",
    22: "MNT3ERR_INVAL",
    63: "MNT3ERR_NAMETOOLONG",
    10004: "MNT3ERR_NOTSUPP",
    10006: "MNT3ERR_SERVERFAULT",
}


@dataclass(frozen=True)
class Mounted:
    """mountres3_ok: the export's root file handle and the auth flavors the server accepts."""

    fhandle: bytes
    auth_flavors: Tuple[int, ...]


def encode_dirpath(dirpath: str) -> bytes:
    enc = Encoder()
    enc.string(dirpath, MNTPATHLEN)
    return enc.bytes()


def decode_mnt_result(dec: Decoder) -> Mounted:
    """mountres3; a status other than MNT3_OK raises MountError with its mountstat3 name."""
    status = dec.uint32()
    if status != MNT3_OK:
        raise MountError(status_name(MOUNTSTAT3, status, "mountstat3"), "MNT")
    fhandle = dec.opaque(FHSIZE3)
    flavors = dec.array(Decoder.int32, MAX_AUTH_FLAVORS)
    return Mounted(fhandle, tuple(flavors))


def mnt(client: RpcClient, dirpath: str, deadline: Deadline) -> Mounted:
    return start_mnt(client, dirpath, deadline).result(deadline)


def start_mnt(client: RpcClient, dirpath: str, deadline: Deadline) -> Pending[Mounted]:
    return client.start(PROGRAM, VERSION, PROC_MNT, encode_dirpath(dirpath), deadline, decode_mnt_result)


def umnt(client: RpcClient, dirpath: str, deadline: Deadline) -> None:
    """UMNT returns void: the reply itself is the whole answer."""
    start_umnt(client, dirpath, deadline).result(deadline)


def start_umnt(client: RpcClient, dirpath: str, deadline: Deadline) -> Pending[Decoder]:
    return client.start(PROGRAM, VERSION, PROC_UMNT, encode_dirpath(dirpath), deadline)

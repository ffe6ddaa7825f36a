"""RPC messages (RFC 5531 sections 8-9 and 14): CALL encoding, REPLY decoding, credentials.

A reply's status always decodes to a name: SUCCESS or an accept_stat name for an accepted
call, RPC_MISMATCH or the auth_stat name for a denied one. Names of values the RFC does not
list read like `accept_stat(9)`.
"""

from __future__ import annotations

import functools
import socket
import struct
import time
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

from fswatch.rpc.errors import RpcDecodeError, RpcReplyError
from fswatch.rpc.xdr import Decoder, Encoder

RPC_VERSION = 2
CALL, REPLY = 0, 1
MSG_ACCEPTED, MSG_DENIED = 0, 1
RPC_MISMATCH, AUTH_ERROR = 0, 1

AUTH_NONE, AUTH_SYS = 0, 1
RPCSEC_GSS = 6  # the auth flavor (RFC 2203 section 5): fswatch.rpc.rpcsec_gss
NONE, INTEGRITY, PRIVACY = 1, 2, 3  # RPCSEC_GSS's services (rpc_gss_service_t)
# Kerberos V5's pseudo-flavors (RFC 2623 section 2.2.1), as MNT's flavor list and SECINFO name them.
KRB5, KRB5I, KRB5P = 390003, 390004, 390005
PSEUDO_FLAVORS: Dict[int, Tuple[str, int]] = {
    KRB5: ("krb5", NONE),
    KRB5I: ("krb5i", INTEGRITY),
    KRB5P: ("krb5p", PRIVACY),
}
SERVICES: Dict[int, str] = {NONE: "krb5", INTEGRITY: "krb5i", PRIVACY: "krb5p"}
SERVICE_NAMES: Dict[int, str] = {NONE: "none", INTEGRITY: "integrity", PRIVACY: "privacy"}
KRB5_OID_DER = bytes.fromhex("2a864886f712010202")  # 1.2.840.113554.1.2.2 (sec_oid4 of SECINFO)
MAX_AUTH_BYTES = 400
MAX_MACHINE_NAME = 255
MAX_GIDS = 16

ACCEPT_STAT = {
    0: "SUCCESS",
    1: "PROG_UNAVAIL",
    2: "PROG_MISMATCH",
    3: "PROC_UNAVAIL",
    4: "GARBAGE_ARGS",
    5: "SYSTEM_ERR",
}

AUTH_STAT = {
    0: "AUTH_OK",
    1: "AUTH_BADCRED",
    2: "AUTH_REJECTEDCRED",
    3: "AUTH_BADVERF",
    4: "AUTH_REJECTEDVERF",
    5: "AUTH_TOOWEAK",
    6: "AUTH_INVALIDRESP",
    7: "AUTH_FAILED",
    8: "AUTH_KERB_GENERIC",
    9: "AUTH_TIMEEXPIRE",
    10: "AUTH_TKT_FILE",
    11: "AUTH_DECODE",
    12: "AUTH_NET_ADDR",
    13: "RPCSEC_GSS_CREDPROBLEM",
    14: "RPCSEC_GSS_CTXPROBLEM",
}

def status_name(table: Mapping[int, str], value: int, type_name: str) -> str:
    """The RFC's name of an enum value, or `type_name(value)` for one it does not list."""
    name = table.get(value)
    return name if name is not None else f"{type_name}({value})"


@dataclass(frozen=True)
class OpaqueAuth:
    """A credential or verifier (section 8.2): a flavor and its opaque body."""

    flavor: int
    body: bytes = b""

    def encode(self) -> bytes:
        return _encode_auth(self.flavor, self.body)


@functools.lru_cache(maxsize=8)
def _encode_auth(flavor: int, body: bytes) -> bytes:
    """A probe sends one credential with each of its calls: encoded once, not per call."""
    enc = Encoder()
    enc.uint32(flavor)
    enc.opaque(body, MAX_AUTH_BYTES)
    return enc.bytes()


AUTH_NULL = OpaqueAuth(AUTH_NONE)


@functools.lru_cache(maxsize=1)
def machine_name() -> bytes:
    """This host's name as AUTH_SYS carries it: at most 255 bytes (string machinename<255>).
    Read once per process, not by every probe (a system call each time): a server only logs
    it, and a renamed node says its new name from the watch's next start."""
    return socket.gethostname().encode("utf-8", "replace")[:MAX_MACHINE_NAME]


def auth_sys(
    stamp: Optional[int] = None,
    name: Optional[bytes] = None,
    uid: int = 0,
    gid: int = 0,
    gids: Sequence[int] = (),
) -> OpaqueAuth:
    """An AUTH_SYS credential (section 14, authsys_parms); root by default, as knfsd's `secure` expects."""
    enc = Encoder()
    enc.uint32(int(time.time()) & 0xFFFFFFFF if stamp is None else stamp)
    enc.string(machine_name() if name is None else name, MAX_MACHINE_NAME)
    enc.uint32(uid)
    enc.uint32(gid)
    enc.array(list(gids), Encoder.uint32, MAX_GIDS)
    return OpaqueAuth(AUTH_SYS, enc.bytes())


_CALL_HEADER = struct.Struct(">6I")  # xid, CALL, rpcvers, prog, vers, proc


def encode_call(
    xid: int,
    program: int,
    version: int,
    procedure: int,
    args: bytes = b"",
    cred: OpaqueAuth = AUTH_NULL,
    verf: OpaqueAuth = AUTH_NULL,
) -> bytes:
    """A CALL message (section 9, rpc_msg with call_body) followed by the procedure's args."""
    header = _CALL_HEADER.pack(xid, CALL, RPC_VERSION, program, version, procedure)
    return header + cred.encode() + verf.encode() + args


@dataclass(frozen=True)
class Call:
    """A decoded CALL; fswatch only decodes calls in tests and fake servers."""

    xid: int
    program: int
    version: int
    procedure: int
    cred: OpaqueAuth
    verf: OpaqueAuth
    args: bytes


def _opaque_auth(dec: Decoder) -> OpaqueAuth:
    return OpaqueAuth(dec.uint32(), dec.opaque(MAX_AUTH_BYTES))


def decode_call(record: bytes) -> Call:
    dec = Decoder(record)
    xid = dec.uint32()
    if dec.uint32() != CALL:
        raise RpcDecodeError("not a CALL message")
    if dec.uint32() != RPC_VERSION:
        raise RpcDecodeError("CALL with an RPC version other than 2")
    program, version, procedure = dec.uint32(), dec.uint32(), dec.uint32()
    cred, verf = _opaque_auth(dec), _opaque_auth(dec)
    return Call(xid, program, version, procedure, cred, verf, dec.rest())


@dataclass(frozen=True)
class Reply:
    """A decoded REPLY. `results` is positioned at the procedure's results when status is SUCCESS."""

    xid: int
    accepted: bool  # MSG_ACCEPTED, else MSG_DENIED
    status: str
    results: Optional[Decoder] = None
    low: Optional[int] = None  # the versions a PROG_MISMATCH / RPC_MISMATCH offers
    high: Optional[int] = None
    verf: OpaqueAuth = AUTH_NULL  # an accepted reply's verifier (RPCSEC_GSS checks it: fswatch.rpc.rpcsec_gss)

    @property
    def ok(self) -> bool:
        return self.accepted and self.status == "SUCCESS"

    def check(self) -> Decoder:
        """The results, or RpcReplyError with the status name."""
        if self.ok and self.results is not None:
            return self.results
        raise RpcReplyError(self.status, self.low, self.high)


_XID_TYPE = struct.Struct(">II")


def reply_xid(record: bytes) -> Optional[int]:
    """The XID if `record` is a REPLY; None for a CALL (e.g. one echoed back) or garbage."""
    if len(record) < 8:
        return None
    xid, mtype = _XID_TYPE.unpack_from(record)
    return xid if mtype == REPLY else None


# The answer to nearly every call: accepted, an empty AUTH_NONE verifier, SUCCESS.
_ACCEPTED_SUCCESS = struct.Struct(">6I")  # xid, REPLY, MSG_ACCEPTED, AUTH_NONE, 0, SUCCESS


def decode_reply(record: bytes) -> Reply:
    """A REPLY message (section 9: reply_body, accepted_reply, rejected_reply)."""
    if len(record) >= _ACCEPTED_SUCCESS.size:
        xid, mtype, reply_stat, flavor, verf_length, accept_stat = _ACCEPTED_SUCCESS.unpack_from(record)
        if (mtype, reply_stat, flavor, verf_length, accept_stat) == (REPLY, MSG_ACCEPTED, AUTH_NONE, 0, 0):
            return Reply(xid, True, "SUCCESS", Decoder(record, _ACCEPTED_SUCCESS.size))
    dec = Decoder(record)
    xid = dec.uint32()
    mtype = dec.uint32()
    if mtype != REPLY:
        raise RpcDecodeError(f"msg_type {mtype} is not REPLY")
    reply_stat = dec.uint32()
    if reply_stat == MSG_ACCEPTED:
        verf = _opaque_auth(dec)  # AUTH_NONE under AUTH_SYS; RPCSEC_GSS's flavor checks its own
        status = status_name(ACCEPT_STAT, dec.uint32(), "accept_stat")
        if status == "SUCCESS":
            return Reply(xid, True, status, dec, verf=verf)
        if status == "PROG_MISMATCH":
            return Reply(xid, True, status, None, dec.uint32(), dec.uint32(), verf=verf)
        return Reply(xid, True, status, verf=verf)
    if reply_stat == MSG_DENIED:
        reject_stat = dec.uint32()
        if reject_stat == RPC_MISMATCH:
            return Reply(xid, False, "RPC_MISMATCH", None, dec.uint32(), dec.uint32())
        if reject_stat == AUTH_ERROR:
            return Reply(xid, False, status_name(AUTH_STAT, dec.uint32(), "auth_stat"))
        raise RpcDecodeError(f"reject_stat {reject_stat} is neither RPC_MISMATCH nor AUTH_ERROR")
    raise RpcDecodeError(f"reply_stat {reply_stat} is neither MSG_ACCEPTED nor MSG_DENIED")


def encode_reply(
    xid: int,
    results: bytes = b"",
    *,
    accept_stat: int = 0,
    mismatch: Optional[tuple] = None,
    denied: Optional[tuple] = None,
) -> bytes:
    """A REPLY, for fake servers in tests: accepted with `accept_stat`, or `denied`=(reject_stat, value...)."""
    enc = Encoder()
    enc.uint32(xid)
    enc.uint32(REPLY)
    if denied is not None:
        enc.uint32(MSG_DENIED)
        for value in denied:
            enc.uint32(value)
        return enc.bytes()
    enc.uint32(MSG_ACCEPTED)
    enc.raw(AUTH_NULL.encode())
    enc.uint32(accept_stat)
    if mismatch is not None:
        enc.uint32(mismatch[0])
        enc.uint32(mismatch[1])
    return enc.bytes() + results

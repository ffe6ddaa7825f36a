"""RPCSEC_GSS (RFC 2203), the security flavor of NFS with Kerberos (RFC 2623, RFC 7530 section 3,
RFC 8881 section 2.2): context creation, the sequence window, the per-call verifiers, the three
services (none: authentication only, sec=krb5; integrity, krb5i; privacy, krb5p) and the
context's destruction.

The GSS-API itself is not here: a GssContext (fswatch.probes.kerberos.SecurityContext, over
python-gssapi) gives the tokens, MICs and wraps. This module only frames them, so the RPC layer
imports no GSS binding, and its decoders are tested and fuzzed with a stand-in context. Every
value a server sends is checked: a reply verifier that does not verify, a checksum that does not
match or a body whose sequence number is not the call's is a GssError, never another exception.
Its numbers (the flavor, its services, Kerberos' pseudo-flavors) and GssError live with every
other flavor's (fswatch.rpc.message, fswatch.rpc.errors): a watch without Kerberos names them
and never loads this module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional, Protocol

from fswatch.core.deadline import Deadline
from fswatch.rpc.errors import GssError, RpcDecodeError
from fswatch.rpc.message import AUTH_NULL, CALL, INTEGRITY, NONE, RPC_VERSION, RPCSEC_GSS, SERVICES, OpaqueAuth, Reply
from fswatch.rpc.xdr import Decoder, Encoder

RPCSEC_GSS_VERS_1 = 1
DATA, INIT, CONTINUE_INIT, DESTROY = 0, 1, 2, 3  # rpc_gss_proc_t
MAXSEQ = 0x80000000
NULLPROC = 0
GSS_S_COMPLETE, GSS_S_CONTINUE_NEEDED = 0, 1
MAX_HANDLE = 1024  # a server's context handle is a few bytes; RFC 2203 sets no limit: this is ours
MAX_TOKEN = 64 * 1024  # a Kerberos AP-REP is a few hundred bytes (with a PAC in the ticket, the AP-REQ ~2 KiB)
MAX_INIT_ROUNDS = 4  # Kerberos needs one; SPNEGO two; a server asking for more is refused


_CALL_HEADER = struct.Struct(">6I")  # xid, CALL, rpcvers, prog, vers, proc
_SEQ = struct.Struct(">I")


class GssContext(Protocol):
    """The GSS-API context the flavor frames (initiator side). Its methods may raise anything:
    this module turns a failure into a GssError."""

    @property
    def complete(self) -> bool: ...

    def step(self, token: Optional[bytes] = None) -> Optional[bytes]: ...

    def get_mic(self, data: bytes) -> bytes: ...

    def verify_mic(self, data: bytes, mic: bytes) -> None: ...

    def wrap(self, data: bytes) -> bytes: ...

    def unwrap(self, data: bytes) -> bytes: ...


def service_name(service: int) -> str:
    return SERVICES.get(service, f"rpc_gss_service({service})")


def encode_cred(proc: int, seq: int, service: int, handle: bytes) -> OpaqueAuth:
    """rpc_gss_cred_t, version 1 (RFC 2203 section 5)."""
    enc = Encoder()
    enc.uint32(RPCSEC_GSS_VERS_1)
    enc.uint32(proc)
    enc.uint32(seq)
    enc.uint32(service)
    enc.opaque(handle, MAX_HANDLE)
    return OpaqueAuth(RPCSEC_GSS, enc.bytes())


@dataclass(frozen=True)
class InitResult:
    """rpc_gss_init_res (RFC 2203 section 5.2.3.1)."""

    handle: bytes
    major: int
    minor: int
    seq_window: int
    token: bytes


def encode_init_args(token: bytes) -> bytes:
    enc = Encoder()
    enc.opaque(token, MAX_TOKEN)
    return enc.bytes()


def decode_init_result(dec: Decoder) -> InitResult:
    return InitResult(dec.opaque(MAX_HANDLE), dec.uint32(), dec.uint32(), dec.uint32(), dec.opaque(MAX_TOKEN))


def seq_bytes(seq: int) -> bytes:
    return _SEQ.pack(seq)


def _checked(what: str, call, *args):  # type: ignore[no-untyped-def]
    """A GSS operation on what the server sent; any failure is a GssError naming `what`."""
    try:
        return call(*args)
    except Exception as exc:
        raise GssError(f"{what} does not verify: {_text(exc)}", "RPCSEC_GSS_BADREPLY") from exc


def _text(exc: BaseException) -> str:
    try:
        text = " ".join(str(exc).split())[:200]
    except Exception:
        text = ""
    return text or type(exc).__name__


def verify_reply_verifier(context: GssContext, verf: OpaqueAuth, seq: int, what: str = "the reply's verifier") -> None:
    """An accepted reply's verifier is the MIC of the call's sequence number (RFC 2203 5.3.3.2)."""
    if verf.flavor != RPCSEC_GSS:
        raise GssError(f"{what} has flavor {verf.flavor}, not RPCSEC_GSS", "RPCSEC_GSS_BADREPLY")
    _checked(what, context.verify_mic, seq_bytes(seq), verf.body)


def encode_body(context: GssContext, service: int, seq: int, args: bytes) -> bytes:
    """The call's arguments as the service sends them (RFC 2203 section 5.3.2.2)."""
    if service == NONE:
        return args
    body = seq_bytes(seq) + args
    enc = Encoder()
    if service == INTEGRITY:
        enc.opaque(body)  # rpc_gss_integ_data: databody_integ, checksum
        enc.opaque(context.get_mic(body))
    else:
        enc.opaque(context.wrap(body))  # rpc_gss_priv_data: databody_priv
    return enc.bytes()


def decode_body(context: GssContext, service: int, seq: int, results: Decoder) -> Decoder:
    """The reply's results as the service carries them, checked; positioned for the procedure's decoder."""
    if service == NONE:
        return results
    data = results.rest()
    dec = Decoder(data)
    if service == INTEGRITY:
        body = dec.opaque()
        checksum = dec.opaque()
        _checked("the reply's checksum", context.verify_mic, body, checksum)
    else:
        body = _checked("the reply's sealed body", context.unwrap, dec.opaque())
    if dec.remaining():
        raise RpcDecodeError(f"{dec.remaining()} bytes after the RPCSEC_GSS body")
    if not isinstance(body, (bytes, bytearray)) or len(body) < 4:
        raise GssError("the reply's body is shorter than its sequence number", "RPCSEC_GSS_BADREPLY")
    got = _SEQ.unpack_from(body)[0]
    if got != seq:
        raise GssError(f"the reply's body carries sequence number {got}, the call's was {seq}", "RPCSEC_GSS_BADREPLY")
    return Decoder(bytes(body), 4)


class _Sealed:
    """One call under RPCSEC_GSS: its record and how to open its reply."""

    def __init__(self, record: bytes, flavor: RpcsecGss, seq: int, service: int) -> None:
        self.record = record
        self._flavor = flavor
        self._seq = seq
        self._service = service

    def open(self, reply: Reply) -> Decoder:
        results = reply.check()  # a denied call (RPCSEC_GSS_CTXPROBLEM, ...) has no verifier to check
        context = self._flavor.context
        verify_reply_verifier(context, reply.verf, self._seq)
        return decode_body(context, self._service, self._seq, results)


class Exchange(Protocol):
    """What RPCSEC_GSS needs of an RPC client: a fresh XID and one record out, its reply back."""

    def next_xid(self) -> int: ...

    def exchange(self, xid: int, record: bytes, deadline: Deadline) -> Reply: ...


class RpcsecGss:
    """The client's RPCSEC_GSS flavor over one context: establish(), then each call sealed with the
    next sequence number and `service` (which may change between calls: it is per call), then destroy()."""

    def __init__(self, context: GssContext, service: int = NONE) -> None:
        self.context = context
        self.service = service
        self.handle = b""
        self.seq_window = 0
        self._seq = 0

    @property
    def established(self) -> bool:
        return bool(self.handle) and self.seq_window > 0

    def establish(self, client: Exchange, program: int, version: int, deadline: Deadline) -> None:
        """RPCSEC_GSS_INIT (and CONTINUE_INIT) on `program`/`version`'s NULL procedure
        (RFC 2203 section 5.2). GssError when the server refuses the context."""
        token = self.context.step(None)
        proc, handle = INIT, b""
        for _ in range(MAX_INIT_ROUNDS):
            xid = client.next_xid()
            cred = encode_cred(proc, 0, NONE, handle)  # seq_num and service are ignored in creation
            record = _CALL_HEADER.pack(xid, CALL, RPC_VERSION, program, version, NULLPROC)
            record += cred.encode() + AUTH_NULL.encode() + encode_init_args(token or b"")
            reply = client.exchange(xid, record, deadline)
            result = decode_init_result(reply.check())
            if result.major not in (GSS_S_COMPLETE, GSS_S_CONTINUE_NEEDED):
                raise GssError(
                    f"the server refused the GSS context: major {result.major:#x}, minor {result.minor}",
                    f"GSS major {result.major:#x}",
                    refused=True,
                )
            if result.token:
                token = _checked("the server's context token", self.context.step, result.token)
            if result.major == GSS_S_COMPLETE:
                if not self.context.complete:
                    raise GssError("the server completed a context the client did not", "RPCSEC_GSS_BADREPLY")
                if not 0 < result.seq_window < MAXSEQ or not result.handle:
                    what = f"the server gave a window of {result.seq_window} and a handle of {len(result.handle)} bytes"
                    raise GssError(what, "RPCSEC_GSS_BADREPLY")
                verify_reply_verifier(self.context, reply.verf, result.seq_window, "the context's verifier")
                self.handle, self.seq_window = result.handle, result.seq_window
                return
            proc, handle = CONTINUE_INIT, result.handle
        raise GssError(f"no context after {MAX_INIT_ROUNDS} rounds", "RPCSEC_GSS_BADREPLY")

    def _next_seq(self) -> int:
        self._seq += 1
        if self._seq >= MAXSEQ:  # RFC 2203 5.3.3.1: the context must be renewed; a probe never gets there
            raise GssError("the context's sequence numbers are used up", "RPCSEC_GSS_CTXPROBLEM")
        return self._seq

    def _record(self, xid: int, program: int, version: int, procedure: int, proc: int, args: bytes) -> _Sealed:
        if not self.established:
            raise GssError("no RPCSEC_GSS context", "RPCSEC_GSS_CTXPROBLEM")
        seq = self._next_seq()
        service = self.service if proc == DATA else NONE
        header = _CALL_HEADER.pack(xid, CALL, RPC_VERSION, program, version, procedure)
        header += encode_cred(proc, seq, service, self.handle).encode()
        # The verifier: the MIC of the header up to and including the credential (RFC 2203 5.3.1).
        verf = OpaqueAuth(RPCSEC_GSS, self.context.get_mic(header))
        return _Sealed(header + verf.encode() + encode_body(self.context, service, seq, args), self, seq, service)

    def seal(self, xid: int, program: int, version: int, procedure: int, args: bytes) -> _Sealed:
        return self._record(xid, program, version, procedure, DATA, args)

    def destroy(self, client: Exchange, program: int, version: int, deadline: Deadline) -> None:
        """RPCSEC_GSS_DESTROY (RFC 2203 section 5.4): the server forgets the context."""
        xid = client.next_xid()
        sealed = self._record(xid, program, version, NULLPROC, DESTROY, b"")
        self.handle = b""
        sealed.open(client.exchange(xid, sealed.record, deadline))

"""The call/reply layer (RFC 5531 sections 8-9): one CALL out, its REPLY back, matched by XID.

How a call authenticates is its flavor's business (section 8.2): AUTH_NONE and AUTH_SYS are a
fixed credential (Plain); RPCSEC_GSS (fswatch.rpc.rpcsec_gss) seals each call and opens each
reply itself. The flavor of a client may change between calls (NFSv4: SECINFO's answer).

Only a REPLY whose XID is this call's is the answer. Anything else on the connection (a late
reply to an earlier call, a stray datagram, a CALL echoed back) is skipped and the read goes
on, bounded by the deadline. A reply carries no program number: its XID is the only tie to
the call, so every call gets a fresh XID from a random start and a reply to another
program's call on the same connection is never taken as this call's answer.
"""

from __future__ import annotations

import random
from typing import Protocol, Union

from fswatch.core.deadline import Deadline
from fswatch.rpc.errors import RpcDecodeError
from fswatch.rpc.message import AUTH_NULL, OpaqueAuth, Reply, decode_reply, encode_call, reply_xid
from fswatch.rpc.transport import Transport
from fswatch.rpc.xdr import Decoder


class Sealed(Protocol):
    """One call as its flavor sends it, and how that flavor reads the reply."""

    record: bytes

    def open(self, reply: Reply) -> Decoder: ...


class Flavor(Protocol):
    def seal(self, xid: int, program: int, version: int, procedure: int, args: bytes) -> Sealed: ...


class _PlainSealed:
    def __init__(self, record: bytes) -> None:
        self.record = record

    def open(self, reply: Reply) -> Decoder:
        return reply.check()


class Plain:
    """AUTH_NONE or AUTH_SYS: the same credential on every call, a verifier nobody checks."""

    def __init__(self, cred: OpaqueAuth = AUTH_NULL) -> None:
        self.cred = cred

    def seal(self, xid: int, program: int, version: int, procedure: int, args: bytes) -> Sealed:
        return _PlainSealed(encode_call(xid, program, version, procedure, args, self.cred))


class RpcClient:
    """Calls over one transport with one flavor at a time; close() closes the transport."""

    def __init__(self, transport: Transport, cred: Union[OpaqueAuth, Flavor] = AUTH_NULL) -> None:
        self.transport = transport
        self.flavor: Flavor = Plain(cred) if isinstance(cred, OpaqueAuth) else cred
        self._xid = random.getrandbits(32)

    @property
    def cred(self) -> OpaqueAuth:
        """The credential of a plain flavor (AUTH_NONE, AUTH_SYS)."""
        return self.flavor.cred if isinstance(self.flavor, Plain) else AUTH_NULL

    def next_xid(self) -> int:
        self._xid = (self._xid + 1) & 0xFFFFFFFF
        return self._xid


    def call(self, program: int, version: int, procedure: int, args: bytes, deadline: Deadline) -> Decoder:
        """The results of one procedure call, positioned for the procedure's result decoder.

        Raises RpcReplyError (the server's accept/deny status), RpcDecodeError, RpcTimeout,
        RpcConnectionError, and the flavor's own errors (GssError).
        """
        xid = self.next_xid()
        sealed = self.flavor.seal(xid, program, version, procedure, args)
        return sealed.open(self.exchange(xid, sealed.record, deadline))

    def exchange(self, xid: int, record: bytes, deadline: Deadline) -> Reply:
        """Send one CALL record and return the REPLY with its XID, skipping anything else."""
        self.transport.send(record, deadline)
        while True:
            answer = self.transport.recv(deadline)
            if len(answer) < 8:
                raise RpcDecodeError(f"a message of {len(answer)} bytes cannot be an RPC reply")
            if reply_xid(answer) != xid:
                continue  # another call's reply, or not a reply at all
            return decode_reply(answer)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The call/reply layer (RFC 5531 sections 8-9): one CALL out, its REPLY back, matched by XID.

Only a REPLY whose XID is this call's is the answer. Anything else on the connection (a late
reply to an earlier call, a stray datagram, a CALL echoed back) is skipped and the read goes
on, bounded by the deadline. A reply carries no program number: its XID is the only tie to
the call, so every call gets a fresh XID from a random start and a reply to another
program's call on the same connection is never taken as this call's answer.
"""

from __future__ import annotations

import random

from fswatch.core.deadline import Deadline
from fswatch.rpc.errors import RpcDecodeError
from fswatch.rpc.message import AUTH_NULL, OpaqueAuth, decode_reply, encode_call, reply_xid
from fswatch.rpc.transport import Transport
from fswatch.rpc.xdr import Decoder


class RpcClient:
    """Calls over one transport with one credential; close() closes the transport."""

    def __init__(self, transport: Transport, cred: OpaqueAuth = AUTH_NULL) -> None:
        self.transport = transport
        self.cred = cred
        self._xid = random.getrandbits(32)

    def _next_xid(self) -> int:
        self._xid = (self._xid + 1) & 0xFFFFFFFF
        return self._xid

    def call(self, program: int, version: int, procedure: int, args: bytes, deadline: Deadline) -> Decoder:
        """The results of one procedure call, positioned for the procedure's result decoder.

        Raises RpcReplyError (the server's accept/deny status), RpcDecodeError, RpcTimeout,
        RpcConnectionError.
        """
        xid = self._next_xid()
        self.transport.send(encode_call(xid, program, version, procedure, args, self.cred), deadline)
        while True:
            record = self.transport.recv(deadline)
            if len(record) < 8:
                raise RpcDecodeError(f"a message of {len(record)} bytes cannot be an RPC reply")
            if reply_xid(record) != xid:
                continue  # another call's reply, or not a reply at all
            return decode_reply(record).check()

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The call/reply layer (RFC 5531 sections 8-9): CALLs out, their REPLYs back, matched by XID.

How a call authenticates is its flavor's business (section 8.2): AUTH_NONE and AUTH_SYS are a
fixed credential (Plain); RPCSEC_GSS (fswatch.rpc.rpcsec_gss) seals each call and opens each
reply itself. The flavor of a client may change between calls (NFSv4: SECINFO's answer); a
call is sealed by the flavor of the moment it is started.

Only a REPLY whose XID is a call's is that call's answer. Anything else on the connection (a
late reply to an earlier call, a stray datagram, a CALL echoed back) is skipped and the read
goes on, bounded by the deadline. A reply carries no program number: its XID is the only tie
to the call, so every call gets a fresh XID from a random start and a reply to another
program's call on the same connection is never taken as this call's answer.

Over TCP several calls may be in flight on one connection (RFC 5531 section 11 leaves the
order of replies to the server): start() queues a call, flush() sends the queued calls in one
write, Pending.result() flushes and waits for its reply, keeping the replies of the other
calls in flight that come first. Calls that do not depend on each other's answers so cost one
round trip and one segment together instead of one each. Over UDP a call is sent when its
result is asked for, so only one is ever in flight and its retransmission
(fswatch.rpc.transport) stays as simple as before.
"""

from __future__ import annotations

import itertools
import os
from typing import Callable, Dict, Generic, List, Optional, Protocol, TypeVar, Union

from fswatch.core.deadline import Deadline
from fswatch.rpc.errors import RpcDecodeError, RpcError
from fswatch.rpc.message import AUTH_NULL, OpaqueAuth, Reply, decode_reply, encode_call, reply_xid
from fswatch.rpc.transport import Transport, random_below
from fswatch.rpc.xdr import Decoder

T = TypeVar("T")


def _results(dec: Decoder) -> Decoder:
    return dec


# One sequence of XIDs for the process, from a random start: no two calls of a process share
# one, whatever connection they go over, and a client costs no random number of its own.
_xids = itertools.count(random_below(1 << 32))


def _reseed() -> None:
    """A forked child starts a sequence of its own: the parent's next XIDs are the parent's."""
    global _xids
    _xids = itertools.count(random_below(1 << 32))


os.register_at_fork(after_in_child=_reseed)


class Pending(Generic[T]):
    """A call that was started: result() waits for its reply (bounded by the deadline) and decodes it."""

    __slots__ = ("_client", "_xid", "_decode")

    def __init__(self, client: RpcClient, xid: int, decode: Callable[[Decoder], T]) -> None:
        self._client = client
        self._xid = xid
        self._decode = decode

    def result(self, deadline: Deadline) -> T:
        return self._decode(self._client._reply(self._xid, deadline))


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
        self._pipelines = getattr(transport, "protocol", "") == "tcp"
        # The calls in flight, by XID: None once sent; the record while not yet sent (UDP),
        # or the RpcError its send met, which its result() raises (so a call sent after the
        # server hung up fails at its own stage, as if sent then).
        self._in_flight: Dict[int, object] = {}
        self._outbox: List[int] = []  # started, not yet sent (TCP)
        self._replies: Dict[int, bytes] = {}  # replies that came before their call was asked for
        self._sealed: Dict[int, Sealed] = {}  # how each call in flight opens its reply (its flavor's)

    @property
    def cred(self) -> OpaqueAuth:
        """The credential of a plain flavor (AUTH_NONE, AUTH_SYS)."""
        return self.flavor.cred if isinstance(self.flavor, Plain) else AUTH_NULL

    def next_xid(self) -> int:
        return next(_xids) & 0xFFFFFFFF

    def call(self, program: int, version: int, procedure: int, args: bytes, deadline: Deadline) -> Decoder:
        """The results of one procedure call, positioned for the procedure's result decoder.

        Raises RpcReplyError (the server's accept/deny status), RpcDecodeError, RpcTimeout,
        RpcConnectionError, and the flavor's own errors (GssError).
        """
        return self.start(program, version, procedure, args, deadline).result(deadline)

    def exchange(self, xid: int, record: bytes, deadline: Deadline) -> Reply:
        """Send one CALL record on its own and return the REPLY with its XID, skipping anything
        else (RPCSEC_GSS's control calls, which a flavor makes itself)."""
        self.transport.send(record, deadline)
        while True:
            answer = self.transport.recv(deadline)
            if len(answer) < 8:
                raise RpcDecodeError(f"a message of {len(answer)} bytes cannot be an RPC reply")
            if reply_xid(answer) != xid:
                continue  # another call's reply, or not a reply at all
            return decode_reply(answer)

    def start(
        self,
        program: int,
        version: int,
        procedure: int,
        args: bytes,
        deadline: Deadline,
        decode: Callable[[Decoder], T] = _results,  # type: ignore[assignment]
    ) -> Pending[T]:
        """Queue a call, sent by the next flush() or result() (over UDP: its own result()); pending."""
        xid = self.next_xid()
        sealed = self.flavor.seal(xid, program, version, procedure, args)
        self._sealed[xid] = sealed
        self._in_flight[xid] = sealed.record
        if self._pipelines:
            self._outbox.append(xid)
        return Pending(self, xid, decode)

    def flush(self, deadline: Deadline) -> None:
        """Send the queued calls in one write. Never raises: a call that could not be sent
        raises the error from its result() (its own stage's, as if sent alone)."""
        if self._outbox:
            self._send(self._outbox, deadline)
            self._outbox = []

    def _send(self, xids: List[int], deadline: Deadline) -> None:
        records = [self._in_flight[xid] for xid in xids]
        try:
            if len(records) == 1:
                self.transport.send(records[0], deadline)  # type: ignore[arg-type]
            else:
                self.transport.send_records(records, deadline)  # type: ignore[attr-defined]
        except RpcError as exc:
            self._in_flight.update((xid, exc) for xid in xids)
            return
        self._in_flight.update((xid, None) for xid in xids)

    def _reply(self, xid: int, deadline: Deadline) -> Decoder:
        self.flush(deadline)
        if isinstance(self._in_flight.get(xid), bytes):
            self._send([xid], deadline)
        sealed = self._sealed.pop(xid)
        problem = self._in_flight.get(xid)
        if isinstance(problem, RpcError):
            del self._in_flight[xid]
            raise problem
        record: Optional[bytes] = self._replies.pop(xid, None)
        try:
            while record is None:
                received = self.transport.recv(deadline)
                if len(received) < 8:
                    raise RpcDecodeError(f"a message of {len(received)} bytes cannot be an RPC reply")
                got = reply_xid(received)
                if got == xid:
                    record = received
                elif got is not None and self._in_flight.get(got, False) is None and got not in self._replies:
                    self._replies[got] = received  # another call in flight: kept for it (one each, so bounded)
                # else: another call's reply, or not a reply at all
        finally:
            self._in_flight.pop(xid, None)
        return sealed.open(decode_reply(record))

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

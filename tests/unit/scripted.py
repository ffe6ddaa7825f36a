"""A transport that answers from a script instead of a socket, for unit tests of the call layer."""

from __future__ import annotations

from typing import Callable, List

from fswatch.core.deadline import Deadline
from fswatch.rpc.errors import RpcTimeout
from fswatch.rpc.message import decode_call

Script = Callable[[int], List[bytes]]  # the call's XID -> what the "server" sends back


class ScriptedTransport:
    protocol = "tcp"
    source_port = "unprivileged"

    def __init__(self, script: Script) -> None:
        self._script = script
        self._replies: List[bytes] = []
        self.sent: List[bytes] = []
        self.closed = False

    def send(self, record: bytes, deadline: Deadline) -> None:
        self.sent.append(record)
        self._replies = list(self._script(decode_call(record).xid))

    def recv(self, deadline: Deadline) -> bytes:
        if not self._replies:
            raise RpcTimeout()  # what the real transports do when nothing more comes
        return self._replies.pop(0)

    def close(self) -> None:
        self.closed = True

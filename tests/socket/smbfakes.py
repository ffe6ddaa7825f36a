"""In-process SMB servers that answer what no SMB2 server should, for the Samba probe's hostile-answer tests.

Each one reads the client's first request (the SMB2 NEGOTIATE) and answers it with one
crafted message in a Direct TCP frame (MS-SMB2 2.1), then holds the connection until the
client closes it. Built on tests/fixtures/netfaults.FaultServer: loopback only, bounded.
"""

from __future__ import annotations

import socket
import struct

from tests.fixtures.netfaults import FaultServer

SMB2_MAGIC = b"\xfeSMB"
SMB1_MAGIC = b"\xffSMB"
SMB2_NEGOTIATE = 0x0000
FLAGS_SERVER_TO_REDIR = 0x00000001

STATUS_ACCESS_DENIED = 0xC0000022
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_NOT_SUPPORTED = 0xC00000BB

_SMB2_HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")  # MS-SMB2 2.2.1.2, the sync header


def smb2_header(command: int, status: int, message_id: int, session_id: int = 0, tree_id: int = 0) -> bytes:
    return _SMB2_HEADER.pack(
        SMB2_MAGIC, 64, 0, status, command, 1, FLAGS_SERVER_TO_REDIR, 0, message_id, 0, tree_id, session_id, b"\0" * 16
    )


def direct_tcp(message: bytes) -> bytes:
    """A Direct TCP transport frame: a zero byte and a 24-bit big-endian length."""
    return b"\0" + len(message).to_bytes(3, "big") + message


def smb1_negotiate_response() -> bytes:
    """What an SMB1-only server answers to dialects it does not speak ([MS-CIFS] 2.2.4.52.2):
    an SMB_COM_NEGOTIATE response with DialectIndex 0xFFFF ("none of yours")."""
    header = SMB1_MAGIC + bytes([0x72]) + struct.pack("<I", 0) + bytes([0x98]) + struct.pack("<H", 0xC853)
    header += b"\0" * 12 + struct.pack("<HHHH", 0xFFFF, 0xFFFE, 0, 0)  # PIDHigh..SecurityFeatures, TID PID UID MID
    return header + bytes([1]) + struct.pack("<H", 0xFFFF) + struct.pack("<H", 0)


class AnswerServer(FaultServer):
    """Answers the first request with `message` (framed unless `raw`), then waits for the client to go."""

    def __init__(self, message: bytes, raw: bool = False) -> None:
        self.payload = message if raw else direct_tcp(message)
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        if not self._recv_some(conn):
            return
        conn.sendall(self.payload)
        while self._recv_some(conn):
            pass


def status_with_body(status: int, body: bytes) -> AnswerServer:
    """A NEGOTIATE answered with an error `status` whose body is `body` (not an SMB2 ERROR body)."""
    return AnswerServer(smb2_header(SMB2_NEGOTIATE, status, 0) + body)


def smb1_only() -> AnswerServer:
    return AnswerServer(smb1_negotiate_response())

"""smbprotocol's Connection, receiving in the caller's thread instead of a thread of its own.

smbprotocol starts a receiver thread per connection and hands each answer over through an
Event; a probe is one connection that asks one thing at a time, so the thread costs a start, a
join and two context switches per answer for nothing (bench/RESULTS.md: 1.0-1.3 ms of CPU per
Samba probe in threads other than the probe's). CallerConnection never starts that thread:
receive() reads the socket itself until the answer it waits for has come, and files any other
answer it reads on the way under its own request, as the thread would.

What stays as it was: signatures are checked and encrypted answers decrypted exactly as the
thread does (the same smbprotocol calls), STATUS_PENDING is waited past, an error status raises
smbprotocol's SMBResponseException, a transport or decode error raises once and closes the
connection, and every read ends at the probe's deadline - the reaper (fswatch.probes.smb) shuts
the socket, which wakes the select() this thread waits in, as it woke the receiver thread.
"""

from __future__ import annotations

import struct
from typing import Any, Optional

import smbprotocol.connection as smb_connection
from smbprotocol.exceptions import SMBConnectionClosed, SMBResponseException
from smbprotocol.header import Commands, NtStatus, Smb2Flags, SMB2HeaderResponse

from fswatch.probes import smb

_NEXT_COMMAND = struct.Struct("<L")  # SMB2 header's NextCommand, at offset 20 (MS-SMB2 2.2.1)


class _NoThread:
    """Where smbprotocol keeps its receiver thread: Connection.connect() starts it and
    disconnect() joins it; for a CallerConnection both do nothing."""

    ident = None
    daemon = True

    def start(self) -> None:
        pass

    def join(self, timeout: Optional[float] = None) -> None:
        pass


_NO_THREAD = _NoThread()


class CallerConnection(smb.ProbeConnection):
    """A Connection whose answers are read by the thread that waits for them."""

    @property
    def _t_worker(self) -> _NoThread:
        return _NO_THREAD

    @_t_worker.setter
    def _t_worker(self, thread: Any) -> None:
        pass  # the thread connect() makes is dropped unstarted

    def receive(self, request: Any, wait: bool = True, timeout: Optional[float] = None, resolve_symlinks: bool = True):
        """Connection.receive, reading the answers here. `timeout` bounds each read of the
        socket (smbprotocol's keep-alive interval when None); the probe's deadline ends it
        sooner. STATUS_STOPPED_ON_SYMLINK is raised, never followed: a probe opens no links
        (its own requests pass resolve_symlinks=False; smbprotocol's are no CREATEs)."""
        read_timeout = self._receive_timeout if timeout is None else timeout
        while True:
            self._check_worker_running()  # a failed earlier read, or the reaper closed the socket
            response = request.response
            if response is not None:
                if not (wait and response["status"].get_value() == NtStatus.STATUS_PENDING):
                    break
                request.response = None  # an interim answer: the final one follows (MS-SMB2 3.2.5.1.5)
            self._read(read_timeout)
        self.outstanding_requests.pop(request.message["message_id"].get_value(), None)
        if response["status"].get_value() not in (NtStatus.STATUS_SUCCESS, NtStatus.STATUS_PENDING):
            raise SMBResponseException(response)
        return response

    def _read(self, timeout: float) -> None:
        """One transport message and its answers filed under their requests; an error closes
        the connection and is kept, as smbprotocol's thread keeps it, for later calls."""
        try:
            message = self.transport.recv(timeout)
            if not message:
                self.transport.close()
                raise SMBConnectionClosed("SMB socket was closed, cannot send or receive any more data")
            self._file(message)
        except SMBConnectionClosed:
            raise
        except Exception as exc:
            self._t_exc = exc
            self.transport.close()
            raise

    def _file(self, message: bytes) -> None:
        """The receiver thread's work on one message (smbprotocol 1.17 _process_message_thread),
        without its keep-alive echo: a probe's connection lives seconds, not minutes."""
        encrypted = message[:4] == b"\xfdSMB"
        if encrypted:
            transform = smb_connection.SMB2TransformHeader()
            transform.unpack(message)
            message = self._decrypt(transform)
        next_command = -1
        while next_command != 0:
            next_command = _NEXT_COMMAND.unpack_from(message, 20)[0]
            length = next_command if next_command != 0 else len(message)
            b_header, message = message[:length], message[length:]
            header = SMB2HeaderResponse()
            header.unpack(b_header)
            message_id = header["message_id"].get_value()
            request = self.outstanding_requests[message_id]
            command = header["command"].get_value()
            # SESSION_SETUP's answer carries the session id; every other takes its request's.
            session_id = request.session_id
            if command == Commands.SMB2_SESSION_SETUP:
                session_id = header["session_id"].get_value()
            if not encrypted:  # a decrypted message was authenticated by its cipher
                self.verify_signature(header, session_id)
            credits = header["credit_response"].get_value()
            if credits == 0 and not self.supports_multi_credit:
                credits = 1  # no credits in this dialect: the sequence window still moves
            with self.sequence_lock:
                self.sequence_window["high"] += credits
            status = header["status"].get_value()
            if command == Commands.SMB2_NEGOTIATE:
                self.preauth_integrity_hash_value.append(b_header)
            elif command == Commands.SMB2_SESSION_SETUP and status == NtStatus.STATUS_MORE_PROCESSING_REQUIRED:
                self.preauth_integrity_session_hash_value[message_id].append(b_header)
            with request.response_event_lock:
                if header["flags"].has_flag(Smb2Flags.SMB2_FLAGS_ASYNC_COMMAND):
                    request.async_id = b_header[32:40]
                request.response = header
                request.response_event.set()

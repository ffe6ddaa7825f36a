"""The ONC RPC client's errors: one root, RpcError, under fswatch's FswatchError.

Each error carries `status`, a name (a clnt_stat name such as RPC_TIMEDOUT for what went
wrong on the client's side, or the server's accept_stat / auth_stat / mountstat3 /
nfsstat3 / nfsstat4 name), and `errno` where a system call failed. `sperror()` words it
the way classic Sun RPC's clnt_sperror() does, so messages read as administrators know them.
"""

from __future__ import annotations

import errno as errno_mod
import os
from typing import Optional

from fswatch.core.errors import DeadlineExceeded, FswatchError, ProtocolError

# clnt_sperrno() texts of the clnt_stat values this client can end with.
CLNT_STAT_TEXT = {
    "RPC_CANTDECODERES": "RPC: Can't decode result",
    "RPC_CANTSEND": "RPC: Unable to send",
    "RPC_CANTRECV": "RPC: Unable to receive",
    "RPC_TIMEDOUT": "RPC: Timed out",
    "RPC_SYSTEMERROR": "RPC: Remote system error",
    "RPC_PROGNOTREGISTERED": "RPC: Program not registered",
    "RPC_FAILED": "RPC: Failed (unspecified error)",
}

# clnt_sperror() wording, so a reply error reads the way rpcinfo/showmount print it.
_STATUS_TEXT = {
    "PROG_UNAVAIL": "RPC: Program unavailable",
    "PROG_MISMATCH": "RPC: Program/version mismatch",
    "PROC_UNAVAIL": "RPC: Procedure unavailable",
    "GARBAGE_ARGS": "RPC: Server can't decode arguments",
    "SYSTEM_ERR": "RPC: Remote system error",
    "RPC_MISMATCH": "RPC: Incompatible versions of RPC",
}
_AUTH_WHY = {
    "AUTH_OK": "Authentication OK",
    "AUTH_BADCRED": "Invalid client credential",
    "AUTH_REJECTEDCRED": "Server rejected credential",
    "AUTH_BADVERF": "Invalid client verifier",
    "AUTH_REJECTEDVERF": "Server rejected verifier",
    "AUTH_TOOWEAK": "Client credential too weak",
    "AUTH_INVALIDRESP": "Invalid server verifier",
    "AUTH_FAILED": "Failed (unspecified error)",
    "RPCSEC_GSS_CREDPROBLEM": "GSS credential problem",
    "RPCSEC_GSS_CTXPROBLEM": "GSS context problem",
}


def describe_status(status: str, low: Optional[int] = None, high: Optional[int] = None) -> str:
    """clnt_sperror() text of a reply status name."""
    if status in _STATUS_TEXT:
        text = _STATUS_TEXT[status]
        if low is not None and high is not None:
            text += f"; low version = {low}, high version = {high}"
        return text
    if status.startswith(("AUTH_", "RPCSEC_", "auth_stat(")):
        return f"RPC: Authentication error; why = {_AUTH_WHY.get(status, status)}"
    return f"RPC: {status}"


class RpcError(FswatchError):
    """Root of every error of fswatch.rpc."""

    status = "RPC_FAILED"

    def __init__(self, message: str, *, status: Optional[str] = None, errno: Optional[int] = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.errno = errno

    def sperror(self) -> str:
        """One line in clnt_sperror() wording."""
        text = CLNT_STAT_TEXT.get(self.status, f"RPC: {self.status}")
        if self.errno is not None:
            return f"{text}; errno = {os.strerror(self.errno)}"
        return text


class RpcDecodeError(RpcError, ProtocolError):
    """Bytes that do not decode as XDR / RFC 5531 / record marking say (garbage, truncation)."""

    status = "RPC_CANTDECODERES"


class RpcTimeout(RpcError, DeadlineExceeded):
    """The probe's deadline passed before the answer came."""

    status = "RPC_TIMEDOUT"

    def __init__(self, message: str = "no answer within the deadline") -> None:
        super().__init__(message, errno=errno_mod.ETIMEDOUT)

    def sperror(self) -> str:
        return CLNT_STAT_TEXT["RPC_TIMEDOUT"]


class RpcConnectionError(RpcError):
    """The peer refused, reset or closed the connection (or the network said no): `errno` says which.

    `status` is RPC_CANTRECV, or RPC_CANTSEND when sending failed.
    """

    status = "RPC_CANTRECV"

    def __init__(self, errno: int, message: str = "", *, status: str = "RPC_CANTRECV") -> None:
        super().__init__(message or os.strerror(errno), status=status, errno=errno)


class RpcSystemError(RpcError):
    """This host refused a resource the call needs, e.g. a socket (EMFILE): not the server's fault."""

    status = "RPC_SYSTEMERROR"

    def __init__(self, function: str, errno: int) -> None:
        super().__init__(f"{function}() failed: {os.strerror(errno)}", errno=errno)
        self.function = function


class RpcReplyError(RpcError):
    """The server answered the call with an RFC 5531 error: not SUCCESS, or denied.

    `status` is the accept_stat name (PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS,
    SYSTEM_ERR), RPC_MISMATCH, or for AUTH_ERROR the auth_stat name (AUTH_TOOWEAK, ...);
    `low`/`high` are the versions a *_MISMATCH offers.
    """

    def __init__(self, status: str, low: Optional[int] = None, high: Optional[int] = None) -> None:
        super().__init__(status, status=status)
        self.low = low
        self.high = high

    def sperror(self) -> str:
        return f"{describe_status(self.status, self.low, self.high)} ({self.status})"


class ProgramNotRegistered(RpcError):
    """The portmapper answered port 0: the program/version/protocol is not registered."""

    status = "RPC_PROGNOTREGISTERED"


class ServiceError(RpcError):
    """A service's own status in a successful RPC reply: mountstat3, nfsstat3 or nfsstat4.

    `operation` names the procedure or NFSv4 operation that failed (MNT, GETATTR, LOOKUP, ...).
    """

    def __init__(self, status: str, operation: str) -> None:
        super().__init__(f"{operation}: {status}", status=status)
        self.operation = operation

    def sperror(self) -> str:
        return self.status


class MountError(ServiceError):
    """MOUNT v3 answered a mountstat3 other than MNT3_OK."""


class NfsError(ServiceError):
    """NFS answered an nfsstat3 / nfsstat4 other than NFS3_OK / NFS4_OK; `at`: the failed
    operation's place in its COMPOUND (NFSv4), e.g. which LOOKUP met NFS4ERR_WRONGSEC."""

    at: Optional[int] = None


class GssError(RpcError):
    """RPCSEC_GSS failed: the server refused the context (GSS major/minor status), or an answer
    did not verify (a verifier, a checksum, a sequence number). `refused`: the server said no."""

    def __init__(self, message: str, status: str, *, refused: bool = False) -> None:
        super().__init__(message, status=status)
        self.refused = refused

    def sperror(self) -> str:
        return f"RPCSEC_GSS: {self}"

"""The Samba probe: TCP connect, SMB2/3 negotiate, session setup, tree connect, share-type
check, teardown (SPEC.md section 3), all inside one Deadline. With a canary file (the opt-in
data-path check) the probe also reads its first bytes before the teardown: stage `canary`.

smbprotocol's Session.connect() and TreeConnect.connect() take no timeout and block
forever on a server that stalls mid-session, so the deadline is enforced from outside:
a reaper thread shuts the connection's socket at the deadline, which wakes every waiter
within milliseconds (TESTING.md). The probe only does I/O and returns an Observation.
"""

from __future__ import annotations

import errno as errno_mod
import functools
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import smbprotocol.connection as smb_connection
from smbprotocol.connection import SecurityMode
from smbprotocol.exceptions import SMBAuthenticationError, SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FilePipePrinterAccessMask,
    ImpersonationLevel,
    ShareAccess,
    SMB2CloseRequest,
    SMB2CreateRequest,
    SMB2CreateResponse,
    SMB2ReadRequest,
    SMB2ReadResponse,
)
from smbprotocol.session import Session
from smbprotocol.transport import Tcp
from smbprotocol.tree import ShareFlags, SMB2TreeConnectRequest, SMB2TreeConnectResponse, TreeConnect

from fswatch import posture as pst
from fswatch.deadline import Deadline
from fswatch.errors import DeadlineExceeded, ProbeFailure, ProtocolError, UsageError
from fswatch.observation import Observation, StageRecorder
from fswatch.resolve import Resolver, address_for
from fswatch.settings import check_canary

# MS-SMB2 2.2.10 ShareType
SHARE_TYPE_DISK, SHARE_TYPE_PIPE, SHARE_TYPE_PRINT = 0x01, 0x02, 0x03
SHARE_TYPE_NAMES = {SHARE_TYPE_DISK: "disk", SHARE_TYPE_PIPE: "pipe", SHARE_TYPE_PRINT: "printer"}

# Guest logon: pyspnego refuses empty credentials, and smbd's `map to guest = Bad User`
# maps any unknown user to the guest account (TESTING.md).
GUEST_USER = "fswatch-guest"
GUEST_PASSWORD = "fswatch-guest"

# Alerts (fswatch.alerts) by what went wrong, in the seed's terms.
A_CONNECT, A_TREE, A_SHARE_TYPE, A_SESSION, A_NEGOTIATE = 72, 62, 63, 64, 65
A_SEND, A_WAIT, A_RECV, A_SOCKET, A_RESOLVE = 73, 74, 75, 71, 61

# The largest SMB2 message a probe accepts. Its answers (negotiate, session setup with an
# NTLM or Kerberos token, tree connect) are a few KiB at most; the Direct TCP header allows 16 MiB.
MAX_MESSAGE = 1 << 20

STATUS_ALERT = {"negotiate": A_NEGOTIATE, "session": A_SESSION, "tree_connect": A_TREE}
_STATUS_NAMES = {value: name for name, value in vars(NtStatus).items() if name.startswith("STATUS_")}
A_CANARY_UNREADABLE, A_CANARY_BLOCKED = 105, 106

CANARY_READ_BYTES = 4096  # a canary's first bytes: one READ, the smallest I/O that reaches its data
STATUS_END_OF_FILE = 0xC0000011  # READ at offset 0 of an empty file: read, and nothing in it


@dataclass(frozen=True)
class SambaTarget:
    share: str
    address: str = "127.0.0.1"
    port: int = 445
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    canary: Optional[str] = None  # a file to read in each probe, relative to the share's root
    # Security posture the watch requires (fswatch.posture); the defaults require nothing.
    min_dialect: Optional[str] = None
    require_signing: bool = False
    require_encryption: bool = False

    def __post_init__(self) -> None:
        if self.canary is not None:
            check_canary(self.canary)
        if self.min_dialect is not None and self.min_dialect not in pst.DIALECT_NAMES:
            raise UsageError(f"min-dialect must be one of {', '.join(pst.DIALECT_NAMES)}, not {self.min_dialect!r}")
        impossible = pst.check_combination(self.requirements, self.user)
        if impossible:
            raise UsageError(impossible)

    @property
    def requirements(self) -> pst.Requirements:
        return pst.Requirements(self.min_dialect, self.require_signing, self.require_encryption)

    @property
    def unc(self) -> str:
        return rf"\\{self.address}\{self.share}"


class _ProbeTcp(Tcp):
    """smbprotocol's transport, bounded by the probe's Deadline and noting when it connected.

    Connection.connect(timeout=) uses one number for the TCP connect and for the negotiate
    wait, which it rounds down to whole seconds; the probe passes a generous number there
    (the reaper ends the negotiate at the deadline) and the TCP connect takes its own bound
    from the Deadline of the probe running in this thread. The instant it connected splits
    connect and negotiate into two stages. Installed below as smbprotocol's Tcp class: with
    no probe running in the thread it behaves exactly like Tcp.
    """

    connected_at: Optional[float] = None

    def connect(self) -> None:
        deadline = getattr(_running, "deadline", None)
        if deadline is not None:
            self.timeout = deadline.timeout("connect")
        # The probe resolved a host name already (fswatch.resolve, within its deadline): connect to
        # that address, so create_connection() never calls getaddrinfo() on a name. The
        # Connection keeps the name for the negotiate's netname context.
        self.server = getattr(_running, "address", None) or self.server
        super().connect()
        self.connected_at = time.monotonic()

    def recv(self, timeout: float) -> bytes:
        """One Direct TCP message (MS-SMB2 2.1): a zero byte, a 24-bit length, the message.

        smbprotocol reads all 32 bits as the length and allocates that much: a garbage
        answer such as b"HTTP" would cost 1.2 GB. Refuse a header that is not SMB's, and a
        length no answer to a probe comes near (smbprotocol allocates it before reading).
        """
        header, timeout = self._recv(4, timeout)
        if not header:
            return b""
        if header[0] != 0:
            raise ProtocolError(f"not an SMB answer: transport header {bytes(header).hex()}")
        length = int.from_bytes(header[1:], "big")
        if not 4 <= length <= MAX_MESSAGE:
            raise ProtocolError(f"not an SMB answer to a probe: message length {length}")
        return self._recv(length, timeout)[0]


_running = threading.local()


smb_connection.Tcp = _ProbeTcp  # type: ignore[misc]


class _Reaper:
    """Shuts the connection's socket at the deadline, so blocked smbprotocol calls return.

    It keeps shutting for a while after the deadline, because a transport may be created
    or connected just as the deadline passes; the probe thread ends it with finish().
    """

    LINGER_STEPS = 400  # 400 x 5 ms: the probe sees the closed socket long before this ends
    STEP = 0.005

    def __init__(self, conn: smb_connection.Connection, deadline: Deadline) -> None:
        self.fired = False
        self._conn = conn
        self._deadline = deadline
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fswatch-deadline", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._done.wait(self._deadline.remaining()):
            return
        self.fired = True
        for _ in range(self.LINGER_STEPS):
            _shut(getattr(self._conn, "transport", None))
            # Wake the waiters ourselves: smbprotocol's receiver thread wakes them only when
            # it notices the closed socket, and it may be busy elsewhere.
            for request in list(getattr(self._conn, "outstanding_requests", {}).values()):
                request.response_event.set()
            if self._done.wait(self.STEP):
                return

    def finish(self) -> None:
        self._done.set()
        self._thread.join()


def _shut(transport: Optional[Tcp]) -> None:
    if transport is None or not transport.connected:
        return
    sock = transport._sock  # shutdown() needs no lock and wakes a blocked send() as well as recv()
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    transport.close()


def probe_samba(
    target: SambaTarget,
    deadline: Deadline,
    *,
    clock: Callable[[], float] = time.monotonic,
    resolver: Optional[Resolver] = None,
) -> Observation:
    """One probe of `target`, finished by `deadline` (+ a few ms), never raising for the server."""
    rec = StageRecorder(clock, posture=pst.Posture())  # always reported, None where not reached
    try:
        conn = smb_connection.Connection(
            uuid.uuid4(), target.address, target.port, require_signing=target.user is not None
        )
        reaper = _Reaper(conn, deadline)
    except Exception as exc:  # e.g. no thread can be started: this host is short of resources
        rec.add("connect", 0.0, ok=False)
        return rec.observation(_failure(A_SOCKET, "connect", f"cannot start the probe: {_text(exc)}", errno_mod.EAGAIN))
    stage = "connect"
    failure: Optional[ProbeFailure] = None
    try:
        _running.address = address_for(target.address, rec, deadline, resolver)
        t0 = clock()
        _running.deadline = deadline
        try:
            # Whole seconds, more than is left: smbprotocol must not give up before the reaper.
            conn.connect(timeout=int(deadline.timeout("connect")) + 2)
        finally:
            _running.deadline = _running.address = None
            transport = getattr(conn, "transport", None)
            connected_at = getattr(transport, "connected_at", None)
            if connected_at is None:
                rec.add("connect", (clock() - t0) * 1000.0, ok=False)
            else:
                rec.add("connect", (connected_at - t0) * 1000.0)
                stage = "negotiate"
                rec.add("negotiate", (clock() - connected_at) * 1000.0, ok=conn.dialect is not None)
        rec.posture = pst.Posture(pst.dialect_name(conn.dialect), _server_signing(conn))
        _require(target, rec, stage)
        stage = "session"
        with rec.stage(stage):
            user, password = (GUEST_USER, GUEST_PASSWORD) if target.user is None else (target.user, target.password)
            username, secret = credential(user, password or "")
            session = Session(conn, username, secret, require_encryption=False)
            session.connect()
            _require(target, rec, stage)
        stage = "tree_connect"
        with rec.stage(stage):
            tree, share_type = _tree_connect(session, target.unc)
            encrypted = session.encrypt_data or tree.encrypt_data  # globally, or for this share
            rec.posture = rec.posture.with_(encryption=pst.REQUIRED if encrypted else pst.OFF)
            _require(target, rec, stage)
        stage = "share_type"
        with rec.stage(stage):
            if share_type not in (SHARE_TYPE_DISK, SHARE_TYPE_PRINT):
                name = SHARE_TYPE_NAMES.get(share_type, f"0x{share_type:02x}")
                raise ProbeFailure(A_SHARE_TYPE, stage, f"share {target.share!r} is a {name} share")
        if target.canary is not None:
            stage = "canary"
            with rec.stage(stage):
                try:
                    rec.note("canary_bytes", str(_read_canary(tree, target.canary)))
                except Exception as exc:
                    raise _canary_failure(exc, target, reaper.fired or deadline.expired()) from exc
        stage = "teardown"
        with rec.stage(stage):
            tree.disconnect()
            session.disconnect(close=False)
            conn.disconnect(close=False)
    except ProbeFailure as exc:
        failure = exc
    except Exception as exc:  # every library error becomes a result, never a crash
        failure = _translate(exc, stage, target, reaper.fired or deadline.expired())
    finally:
        reaper.finish()
        _close_quietly(conn)
    return rec.observation(failure)


def _server_signing(conn: smb_connection.Connection) -> str:
    """The server's signing posture from its NEGOTIATE SecurityMode (MS-SMB2 2.2.4)."""
    mode = conn.server_security_mode or 0
    if mode & SecurityMode.SMB2_NEGOTIATE_SIGNING_REQUIRED:
        return pst.REQUIRED
    return pst.ENABLED if mode & SecurityMode.SMB2_NEGOTIATE_SIGNING_ENABLED else pst.OFF


def _require(target: SambaTarget, rec: StageRecorder, stage: str) -> None:
    """Fail the probe at `stage` when the server is weaker there than the watch requires."""
    short = pst.shortfall(target.requirements, rec.posture or pst.Posture(), stage)
    if short is None:
        return
    alert, detail, reason = short
    if rec.stages and rec.stages[-1].stage == stage:  # recorded already (negotiate): mark it failed
        rec.stages[-1] = replace(rec.stages[-1], ok=False)
    raise ProbeFailure(alert, stage, reason, detail)


@functools.lru_cache(maxsize=16)
def credential(user: str, password: str) -> tuple[object, Optional[str]]:
    """The logon credential, hashed once per watch rather than once per probe.

    Given a password, pyspnego derives the NT hash and also the LM hash - with a
    pure-Python DES, about 0.8 ms, which NTLMv2 never uses - on every logon. An NTLMHash
    credential carries only the NT hash (MS-NLMP 3.3.1, NTOWFv1). ntowfv1 is pyspnego's
    private helper: without it, fall back to the password.
    """
    try:
        from spnego import NTLMHash
        from spnego._ntlm_raw.crypto import ntowfv1
    except ImportError:
        return user, password
    return NTLMHash(user, nt_hash=ntowfv1(password).hex()), None


def _tree_connect(session: Session, unc: str) -> tuple[TreeConnect, int]:
    """TreeConnect.connect() without the parts a probe doesn't need, keeping the share type.

    smbprotocol discards ShareType from the response (MS-SMB2 2.2.10), and its secure
    negotiate check cannot work for a guest session (no signing key).
    """
    tree = TreeConnect(session, unc)
    request = SMB2TreeConnectRequest()
    request["buffer"] = unc.encode("utf-16-le")
    sent = session.connection.send(request, sid=session.session_id)
    response = session.connection.receive(sent)
    body = SMB2TreeConnectResponse()
    body.unpack(response["data"].get_value())
    tree.tree_connect_id = response["tree_id"].get_value()
    # `smb encrypt = required` on the share: what follows on this tree must be encrypted.
    tree.encrypt_data = bool(body["share_flags"].get_value() & ShareFlags.SMB2_SHAREFLAG_ENCRYPT_DATA)
    tree._connected = True
    session.tree_connect_table[tree.tree_connect_id] = tree
    return tree, body["share_type"].get_value()


def _read_canary(tree: TreeConnect, canary: str) -> int:
    """CREATE (read, open only, never create), READ of its first bytes, CLOSE: how many bytes came.

    Raw SMB2 requests like _tree_connect's, not smbprotocol's Open: Open.read logs the response,
    data included, at debug level, and a canary's bytes are never logged. Every wait ends at the
    probe's deadline, when the reaper shuts the socket.
    """
    session = tree.session
    conn = session.connection
    create = SMB2CreateRequest()
    create["impersonation_level"] = ImpersonationLevel.Impersonation
    create["desired_access"] = FilePipePrinterAccessMask.FILE_READ_DATA
    create["file_attributes"] = 0
    # Share everything: the probe must never stand in the way of a client's own open.
    create["share_access"] = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
    create["create_disposition"] = CreateDisposition.FILE_OPEN
    create["create_options"] = CreateOptions.FILE_NON_DIRECTORY_FILE
    create["buffer_path"] = canary.replace("/", "\\").encode("utf-16-le")

    def call(request) -> object:
        sent = conn.send(request, sid=session.session_id, tid=tree.tree_connect_id)
        return conn.receive(sent, resolve_symlinks=False)

    opened = SMB2CreateResponse()
    opened.unpack(call(create)["data"].get_value())
    file_id = opened["file_id"].get_value()
    read = SMB2ReadRequest()
    read["length"] = min(CANARY_READ_BYTES, conn.max_read_size)
    read["offset"] = 0
    read["file_id"] = file_id
    read["padding"] = b"\x50"
    try:
        answer = SMB2ReadResponse()
        answer.unpack(call(read)["data"].get_value())
        count = len(answer["buffer"].get_value())
    except SMBResponseException as exc:
        if exc.status != STATUS_END_OF_FILE:
            raise
        count = 0
    close = SMB2CloseRequest()
    close["file_id"] = file_id
    call(close)
    return count


def _canary_failure(exc: Exception, target: SambaTarget, timed_out: bool) -> ProbeFailure:
    """Stage `canary`: the server refused (missing, denied, a directory: alert 105, its NT status),
    or the read did not end by the deadline or lost the connection (alert 106)."""
    canary = target.canary
    if isinstance(exc, SMBResponseException) and not timed_out:
        name = _STATUS_NAMES.get(exc.status, type(exc).__name__)
        reason = f"{target.unc}, CREATE and READ {canary}: {type(exc).__name__}: {_status_text(exc, exc.status)}"
        return ProbeFailure(
            A_CANARY_UNREADABLE, "canary", reason, f"{canary}: {name} (0x{exc.status:08x})",
            ntstatus=exc.status, canary=canary,
        )  # fmt: skip
    if isinstance(exc, ProtocolError) and not timed_out:
        return _failure(A_RECV, "canary", str(exc), errno_mod.EPROTO, canary=canary)
    err = errno_mod.ETIMEDOUT if timed_out else (_errno_of(exc) or errno_mod.ECONNRESET)
    what = "no answer within the deadline" if timed_out else "the connection ended"
    return ProbeFailure(
        A_CANARY_BLOCKED, "canary", f"{target.unc}, CREATE and READ {canary}: {what}", f"{canary}: {os.strerror(err)}",
        errno=err, timed_out=timed_out, canary=canary,
    )  # fmt: skip


def _close_quietly(conn: smb_connection.Connection) -> None:
    """Close the socket and join smbprotocol's receiver thread: a probe leaves nothing behind."""
    try:
        conn.disconnect(close=False)
    except Exception:
        _shut(getattr(conn, "transport", None))


def _errno_of(exc: BaseException) -> Optional[int]:
    seen = exc
    for _ in range(5):  # the cause chain is short; bounded anyway
        if isinstance(seen, OSError) and seen.errno:
            return seen.errno
        if seen.__cause__ is None:
            break
        seen = seen.__cause__
    return None


def _failure(alert: int, stage: str, reason: str, err: int, **kw: object) -> ProbeFailure:
    return ProbeFailure(alert, stage, reason, str(err), errno=err, **kw)  # type: ignore[arg-type]


def _translate(exc: Exception, stage: str, target: SambaTarget, timed_out: bool) -> ProbeFailure:
    """A library exception → the seed alert for its stage (SPEC.md section 3, alerts 61-75).

    Never raises: a library exception can fail even to describe itself (smbprotocol's
    SMBResponseException parses the answer's body in .message and in str()), and what the
    server sent must not crash the watch. Whatever goes wrong in translating becomes a
    receive failure (alert 75) naming the exception's type.
    """
    try:
        return _translate_known(exc, stage, target, timed_out)
    except Exception as bug:
        return _failure(
            A_RECV,
            stage,
            f"the server's answer could not be read ({type(exc).__name__}; {type(bug).__name__} describing it)",
            errno_mod.EPROTO,
        )


def _text(exc: BaseException) -> str:
    """str(exc), on one line, or only its type's name when str() itself fails."""
    try:
        text = " ".join(str(exc).split())
    except Exception:
        return type(exc).__name__
    return text[:200] or type(exc).__name__


def _status_text(exc: SMBResponseException, status: int) -> str:
    """The exception's description, or its status name when the error body does not decode."""
    try:
        return " ".join(str(exc.message).split())[:200]
    except Exception:  # the body behind an error status is not an SMB2 ERROR body (MS-SMB2 2.2.2)
        name = _STATUS_NAMES.get(status, "status")
        return f"{name} 0x{status:08x}, with an error body that does not decode"


def _translate_known(exc: Exception, stage: str, target: SambaTarget, timed_out: bool) -> ProbeFailure:
    if timed_out or isinstance(exc, (DeadlineExceeded, socket.timeout, TimeoutError)):
        return _failure(
            A_CONNECT if stage == "connect" else A_WAIT,
            stage,
            f"no answer within the deadline during {stage.replace('_', ' ')}",
            errno_mod.ETIMEDOUT,
            timed_out=True,
        )
    if isinstance(exc, SMBResponseException):
        status = exc.status
        alert = STATUS_ALERT.get(stage, A_RECV)
        reason = f"{type(exc).__name__}: {_status_text(exc, status)}"
        return ProbeFailure(alert, stage, reason, f"0x{status:08x}", ntstatus=status)
    if isinstance(exc, ProtocolError):
        return _failure(A_RECV, stage, _text(exc), errno_mod.EPROTO)
    if isinstance(exc, SMBAuthenticationError):
        return _failure(A_SESSION, stage, _text(exc), errno_mod.EACCES)
    err = _errno_of(exc)
    if stage == "connect":
        cause = exc.__cause__
        if isinstance(cause, socket.gaierror):
            return ProbeFailure(A_RESOLVE, stage, f"cannot resolve {target.address!r}: {cause}", str(cause.errno))
        if err in (errno_mod.EMFILE, errno_mod.ENFILE, errno_mod.ENOBUFS, errno_mod.ENOMEM):
            return _failure(A_SOCKET, stage, f"cannot create a socket: {os.strerror(err)}", err)
        err = err or errno_mod.ECONNREFUSED
        return _failure(A_CONNECT, stage, f"cannot connect to {target.address}:{target.port}: {os.strerror(err)}", err)
    if isinstance(exc, OSError) and err in (errno_mod.EPIPE, errno_mod.ECONNRESET) and "send" in _text(exc).lower():
        return _failure(A_SEND, stage, f"send failed: {os.strerror(err)}", err)
    if err is not None:
        return _failure(A_RECV, stage, f"receive failed: {os.strerror(err)}", err)
    if "closed" in _text(exc).lower() or isinstance(exc, TypeError):
        # The server closed the connection: smbprotocol's worker saw EOF and woke the waiter
        # with no response (a TypeError inside smbprotocol, or SMBConnectionClosed).
        return _failure(A_RECV, stage, "the server closed the connection without answering", errno_mod.ECONNRESET)
    reason = f"the server's answer does not decode as SMB2 ({type(exc).__name__}: {_text(exc)})"
    return _failure(A_RECV, stage, reason, errno_mod.EPROTO)

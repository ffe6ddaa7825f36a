"""smbprotocol, adapted to a probe that must end by its deadline and read nothing it need not.

The Samba probe's flow (fswatch.probes.samba) talks SMB through these adapters only:

- ProbeTcp, installed as smbprotocol's transport: the TCP connect bounded by the probe's
  Deadline, the instant it connected (connect and negotiate are two stages), and no
  Direct TCP length a probe's answer cannot have (smbprotocol would allocate it);
- Reaper: smbprotocol's Session.connect() and TreeConnect.connect() take no timeout and block
  forever on a server that stalls mid-session, so the connection's socket is shut at the
  deadline (one timer thread per process watches every probe's), which wakes every waiter
  within milliseconds (TESTING.md);
- tree_connect, read_canary and TreeCalls (the write canary's CREATE, WRITE, FLUSH, READ, CLOSE,
  QUERY_DIRECTORY): raw SMB2 requests where smbprotocol's own calls discard what the probe needs
  (the share type, the server's time stamps) or log what it must not (a canary's bytes);
- credential: the NT hash once per watch, not a DES per probe;
- the spnego adapter: a Kerberos logon (fswatch.probes.kerberos) gets its own GSS-API context,
  made with python-gssapi from the watch's credential cache alone; pyspnego's Kerberos needs
  pykrb5, which no distribution packages;
- smbkeys' RC4 in pyspnego's place and ProbeSession's KDF (fswatch.probes.smbkeys): a logon
  that signs nothing never loads cryptography's OpenSSL backend;
- ProbeConnection: the server's clock from its NEGOTIATE answer (MS-SMB2 2.2.4 SystemTime), so
  a Kerberos logon the server refuses can be told apart as clock skew.
"""

from __future__ import annotations

import errno
import functools
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import List, Optional

import smbprotocol.connection as smb_connection
import smbprotocol.session as smb_session
import spnego
import spnego._ntlm_raw.crypto as ntlm_crypto
from smbprotocol.connection import SecurityMode
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.session import Session
from smbprotocol.transport import Tcp
from smbprotocol.tree import ShareFlags, SMB2TreeConnectRequest, SMB2TreeConnectResponse, TreeConnect

from fswatch.core import threads, timers
from fswatch.core.deadline import Deadline
from fswatch.core.errors import ProtocolError
from fswatch.probes import posture as pst
from fswatch.probes import smbfields, smbkeys
from fswatch.probes.krb5logon import KerberosLogon

# MS-SMB2 2.2.10 ShareType
SHARE_TYPE_DISK, SHARE_TYPE_PIPE, SHARE_TYPE_PRINT = 0x01, 0x02, 0x03
SHARE_TYPE_NAMES = {SHARE_TYPE_DISK: "disk", SHARE_TYPE_PIPE: "pipe", SHARE_TYPE_PRINT: "printer"}

# The largest SMB2 message a probe accepts. Its answers (negotiate, session setup with an
# NTLM or Kerberos token, tree connect) are a few KiB at most; the Direct TCP header allows 16 MiB.
MAX_MESSAGE = 1 << 20

STATUS_NAMES = {value: name for name, value in vars(NtStatus).items() if name.startswith("STATUS_")}
# Logon refusals smbprotocol does not name (MS-ERREF 2.3.1), with what they mean for a watch.
LOGON_STATUS = {
    0xC000005E: ("STATUS_NO_LOGON_SERVERS", "the server cannot reach a domain controller (its winbind or netlogon)"),
    0xC00000DF: ("STATUS_NO_SUCH_DOMAIN", "the server does not know the domain (its domain membership)"),
    0xC000018B: ("STATUS_NO_TRUST_SAM_ACCOUNT", "the server's machine account is unknown to the domain"),
    0xC000018D: ("STATUS_TRUSTED_RELATIONSHIP_FAILURE", "the server's trust with the domain is broken"),
    0xC0000133: ("STATUS_TIME_DIFFERENCE_AT_DC", "the server's clock differs from the domain controller's"),
    0xC0000072: ("STATUS_ACCOUNT_DISABLED", "the account is disabled"),
    0xC0000234: ("STATUS_ACCOUNT_LOCKED_OUT", "the account is locked out"),
    0xC0000071: ("STATUS_PASSWORD_EXPIRED", "the account's password has expired"),
    0xC000015B: ("STATUS_LOGON_TYPE_NOT_GRANTED", "the account may not log on to this server"),
    0xC0000418: (
        "STATUS_NTLM_BLOCKED",
        "the server refuses NTLM logons (NTLM is switched off for the domain or server): log on with "
        "Kerberos (--principal, --keytab)",
    ),
}
STATUS_NAMES.update({code: name for code, (name, _) in LOGON_STATUS.items()})
# Statuses of the write canary that smbprotocol's table lacks (MS-ERREF 2.3.1); smbd answers a
# create on a read-only file system with the first (TESTING.md).
STATUS_NAMES.update({0xC00000A2: "STATUS_MEDIA_WRITE_PROTECTED", 0xC0000044: "STATUS_QUOTA_EXCEEDED"})

CANARY_READ_BYTES = 4096  # a canary's first bytes: one READ, the smallest I/O that reaches its data
STATUS_END_OF_FILE = 0xC0000011  # READ at offset 0 of an empty file: read, and nothing in it


class ProbeTcp(Tcp):
    """smbprotocol's transport, bounded by the probe's Deadline and noting when it connected.

    Connection.connect(timeout=) uses one number for the TCP connect and for the negotiate
    wait, which it rounds down to whole seconds; the probe passes a generous number there
    (the reaper ends the negotiate at the deadline) and the TCP connect takes its own bound
    from the Deadline of the probe running in this thread. The instant it connected splits
    connect and negotiate into two stages. Installed below as smbprotocol's Tcp class: with
    no probe running in the thread it behaves exactly like Tcp.
    """

    connected_at: Optional[float] = None
    RECV_CHUNK = 65536  # a probe's answers are a few KiB: one read takes one, or several at once

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._received = bytearray()  # read from the socket, not yet handed over

    def connect(self) -> None:
        deadline = getattr(running, "deadline", None)
        if deadline is not None:
            self.timeout = deadline.timeout("connect")
        # The probe resolved a host name already (fswatch.probes.resolve, within its deadline): connect to
        # that address, so create_connection() never calls getaddrinfo() on a name. The
        # Connection keeps the name for the negotiate's netname context.
        self.server = getattr(running, "address", None) or self.server
        if self.server.isascii():
            self._connect_ascii()
        else:
            super().connect()
        self.connected_at = time.monotonic()

    def _connect_ascii(self) -> None:
        """Tcp.connect, handing getaddrinfo() the host as bytes: a str host it encodes with the
        idna codec, whose first use imports encodings.idna, stringprep and unicodedata (~0.5 MB
        of a Samba watch's private memory) to encode what is ASCII already."""
        with self._sock_lock:
            if self.connected:
                return
            try:
                self._sock = socket.create_connection((self.server.encode("ascii"), self.port), timeout=self.timeout)
            except OSError as err:
                raise ValueError(f"Failed to connect to '{self.server}:{self.port}': {err}") from err
            self._sock.settimeout(None)  # blocking, as Tcp leaves it: the reaper ends a wait
            self.connected = True

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

    def _recv(self, length: int, timeout: float) -> tuple[Optional[bytes], float]:
        """Tcp._recv, reading what has come (up to RECV_CHUNK) instead of exactly `length`:
        a header and its message usually arrive together, and are one select() and one recv()
        instead of two each. Its other ways kept: None once the socket is closed or shut, a
        TimeoutError after `timeout` (at least 1 s) without a byte."""
        buffer = self._received
        while len(buffer) < length:
            started = time.monotonic()
            with self._close_lock:
                if not self.connected:
                    return None, timeout
                readable = select.select([self._sock], [], [], max(timeout, 1))[0]
                elapsed = time.monotonic() - started
                timeout -= elapsed
                if not readable:
                    raise TimeoutError(f"recv idle for {elapsed:.1f}s ({len(buffer)}/{length} bytes)")
                try:
                    data = self._sock.recv(self.RECV_CHUNK)
                except OSError as exc:
                    if exc.errno not in (errno.ESHUTDOWN, errno.ECONNRESET, errno.ECONNABORTED):
                        raise
                    data = b""
            if not data:
                self.close()
                return None, timeout
            buffer += data
        taken = bytes(buffer[:length])
        del buffer[:length]
        return taken, timeout

    def send(self, header: object) -> None:
        """Tcp.send without its DirectTCPPacket structure (~30 us per message to prefix four
        bytes): the same length check and the same bytes (MS-SMB2 2.1). smbprotocol hands over
        bytes, or a structure (an encrypted message's SMB2TransformHeader), packed here as there."""
        message = header if isinstance(header, (bytes, bytearray)) else header.pack()  # type: ignore[attr-defined]
        if len(message) > self.MAX_SIZE:
            raise ValueError(
                f"Data to be sent over Direct TCP size {len(message)} exceeds the max length allowed {self.MAX_SIZE}"
            )
        data = memoryview(len(message).to_bytes(4, "big") + bytes(message))
        with self._sock_lock:
            while data:
                data = data[self._sock.send(data) :]


# The probe running in this thread: its Deadline and the address it resolved (ProbeTcp reads them).
running = threading.local()

smb_connection.Tcp = ProbeTcp  # type: ignore[misc]


class ProbeConnection(smb_connection.Connection):
    """smbprotocol's Connection, keeping the server's clock from its NEGOTIATE answer."""

    server_time: Optional[float] = None  # the server's SystemTime, as Unix seconds
    answered_at: Optional[float] = None  # our wall clock when the answer came

    def _send_smb2_negotiate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super()._send_smb2_negotiate(*args, **kwargs)
        self.answered_at = time.time()
        try:
            filetime = int.from_bytes(response["system_time"].pack(), "little")
            self.server_time = filetime_seconds(filetime) if filetime else None
        except Exception:  # a server that sends no clock: nothing to compare
            self.server_time = None
        return response


class _Spnego:
    """pyspnego as smbprotocol.session sees it, plus fswatch's Kerberos logon: a KerberosLogon
    given as the user name gets a security context of its own (Kerberos only, from the cache)."""

    exceptions = spnego.exceptions
    NegotiateOptions = spnego.NegotiateOptions

    @staticmethod
    def client(username: object = None, password: Optional[str] = None, **kwargs: object) -> object:
        if isinstance(username, KerberosLogon):
            from fswatch.probes.kerberos import SecurityContext  # loaded already: its ticket stage ran

            return SecurityContext(username)
        return spnego.client(username, password, **kwargs)  # type: ignore[arg-type]


smb_session.spnego = _Spnego  # type: ignore[assignment]
# NTLM's RC4 (its key exchange, its sealing handles) without cryptography's OpenSSL backend.
ntlm_crypto.RC4Handle = smbkeys.RC4  # type: ignore[misc,assignment]

# The structures every SMB2 message is built from and parsed into, with less work per field
# (fswatch.probes.smbfields): about half of a Samba probe's CPU went there.
smbfields.install()


class ProbeSession(Session):
    """smbprotocol's Session, deriving the SMB 3 keys without cryptography's OpenSSL backend."""

    def _smb3kdf(self, ki: bytes, label: bytes, context: bytes, length: int = 16) -> bytes:
        return smbkeys.smb3kdf(ki, label, context, length)


# The deadline timers of probes that have ended, cancelled, for the next probes to set again
# (list.pop and append are atomic: two probes at once never take the same one).
_spare_timers: List[timers.Timer] = []


class Reaper:
    """Shuts the connection's socket at the deadline, so blocked smbprotocol calls return.

    It keeps shutting for a while after the deadline, because a transport may be created
    or connected just as the deadline passes; the probe thread ends it with finish().
    """

    LINGER_STEPS = 400  # 400 x 5 ms: the probe sees the closed socket long before this ends
    STEP = 0.005

    def __init__(self, conn: smb_connection.Connection, deadline: Deadline) -> None:
        self.fired = False
        self._conn = conn
        self.done = threading.Event()
        self.lingering: Optional[threading.Thread] = None
        # On the process's one timer thread (fswatch.core.timers), not a thread of each probe's
        # own: one started and joined by every probe cost ~0.5 ms of CPU (bench/RESULTS.md).
        # An earlier probe's timer, set again: one entry in the timers' heap, one wake-up of
        # their thread per timeout rather than per probe.
        try:
            spare: Optional[timers.Timer] = _spare_timers.pop()
        except IndexError:
            spare = None
        self._timer = timers.after(deadline.remaining(), self._due, again=spare)

    def _due(self) -> None:
        """On the timer thread, at the deadline: shut at once, then a thread of this probe's own
        keeps at it until the probe has ended, so one stalled probe never delays another timer."""
        self.strike()
        if self.done.is_set():
            return
        lingering = threading.Thread(target=self.linger, name="fswatch-deadline", daemon=True)
        self.lingering = lingering
        threads.start(lingering)

    def strike(self) -> None:
        """The deadline has come with the probe still running: shut its connection, wake its waiters."""
        if self.done.is_set():
            return
        self.fired = True
        self._shut()

    def linger(self) -> None:
        """Keep shutting until the probe has ended: a transport may be made or connected just
        as the deadline passed."""
        for _ in range(self.LINGER_STEPS):
            if self.done.wait(self.STEP):
                return
            self._shut()

    def _shut(self) -> None:
        # The probe's thread waits in the select() of a CallerConnection (fswatch.probes.smbrecv),
        # which a shut socket wakes: no receiver thread, no events to set.
        shut(getattr(self._conn, "transport", None))

    def finish(self) -> None:
        if not self.done.is_set():  # once: its timer is handed on once
            self._timer.cancel()
            _spare_timers.append(self._timer)
        self.done.set()
        lingering = self.lingering
        # One not started yet ends by itself at once: it waits on `done` before anything else.
        if lingering is not None and lingering.ident is not None and lingering is not threading.current_thread():
            lingering.join()


def shut(transport: Optional[Tcp]) -> None:
    if transport is None or not transport.connected:
        return
    sock = transport._sock  # shutdown() needs no lock and wakes a blocked send() as well as recv()
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    transport.close()


def server_signing(conn: smb_connection.Connection) -> str:
    """The server's signing posture from its NEGOTIATE SecurityMode (MS-SMB2 2.2.4)."""
    mode = conn.server_security_mode or 0
    if mode & SecurityMode.SMB2_NEGOTIATE_SIGNING_REQUIRED:
        return pst.REQUIRED
    return pst.ENABLED if mode & SecurityMode.SMB2_NEGOTIATE_SIGNING_ENABLED else pst.OFF


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


def tree_connect(session: Session, unc: str) -> tuple[TreeConnect, int]:
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


def read_canary(tree: TreeConnect, canary: str) -> int:
    """CREATE (read, open only, never create), READ of its first bytes, CLOSE: how many bytes came.

    Raw SMB2 requests like _tree_connect's, not smbprotocol's Open: Open.read logs the response,
    data included, at debug level, and a canary's bytes are never logged. Every wait ends at the
    probe's deadline, when the reaper shuts the socket.
    """
    # Here, not at the top: a watch without a canary never loads smbprotocol's file API (fswatch.core.deferred).
    from smbprotocol.open import CreateDisposition, CreateOptions, FilePipePrinterAccessMask

    calls = TreeCalls(tree)
    # Share everything: the probe must never stand in the way of a client's own open.
    file_id = calls.create(
        canary, FilePipePrinterAccessMask.FILE_READ_DATA, SHARE_ALL, CreateDisposition.FILE_OPEN,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
    ).file_id  # fmt: skip
    try:
        count = len(calls.read(file_id, CANARY_READ_BYTES))
    except SMBResponseException as exc:
        if exc.status != STATUS_END_OF_FILE:
            raise
        count = 0
    calls.close(file_id)
    return count


# smbprotocol.open.ShareAccess's FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE (MS-SMB2 2.2.13),
# spelled as a number: naming them would load smbprotocol's file API in every watch.
SHARE_ALL = 0x1 | 0x2 | 0x4
STATUS_NO_SUCH_FILE = 0xC000000F  # QUERY_DIRECTORY's first answer when nothing matches
STATUS_NO_MORE_FILES = 0x80000006  # ... and every later one
FILE_DIRECTORY_INFORMATION = 0x01  # MS-FSCC 2.4.10
_DIRECTORY_ENTRY = struct.Struct("<II4QQQII")  # next, index, 4 times, end of file, allocation, attributes, name length
FILE_ATTRIBUTE_DIRECTORY = 0x10
FILETIME_EPOCH = 116444736000000000  # 1970-01-01 in 100 ns since 1601
MAX_LISTING = 1 << 16  # QUERY_DIRECTORY's output buffer: only the canary's own names match
MAX_LISTINGS = 16  # QUERY_DIRECTORY rounds per sweep: bounded even against a server that never says "no more"
_CREATE_TIMES = struct.Struct("<4Q")  # CREATE response: creation, last access, last write, change (MS-SMB2 2.2.14)


def filetime_seconds(filetime: int) -> float:
    """A FILETIME (100 ns since 1601) as seconds since 1970: the server's clock."""
    return (filetime - FILETIME_EPOCH) / 1e7


@dataclass(frozen=True)
class Opened:
    """A file the probe opened: its id and when it was last written."""

    file_id: bytes
    last_write: float  # the server's clock, seconds since 1970


@dataclass(frozen=True)
class DirectoryEntry:
    """One name of a directory listing: when it was last written, and whether it is a directory."""

    name: str
    last_write: float  # the server's clock, seconds since 1970
    directory: bool


class TreeCalls:
    """Raw SMB2 requests on one tree connect (MS-SMB2 2.2.13-2.2.22, 2.2.33), each waited for
    until its answer or the probe's deadline (the reaper); an error status raises smbprotocol's
    SMBResponseException with it. Each call imports smbprotocol's file API where it uses it: a
    watch without a canary never loads it (fswatch.core.deferred)."""

    def __init__(self, tree: TreeConnect) -> None:
        self.tree = tree
        self.session = tree.session
        self.conn = self.session.connection

    def call(self, request) -> bytes:
        sent = self.conn.send(request, sid=self.session.session_id, tid=self.tree.tree_connect_id)
        return self.conn.receive(sent, resolve_symlinks=False)["data"].get_value()

    def create(self, path: str, access: int, share: int, disposition: int, options: int) -> Opened:
        from smbprotocol.open import ImpersonationLevel, SMB2CreateRequest, SMB2CreateResponse

        create = SMB2CreateRequest()
        create["impersonation_level"] = ImpersonationLevel.Impersonation
        create["desired_access"] = access
        create["file_attributes"] = 0
        create["share_access"] = share
        create["create_disposition"] = disposition
        create["create_options"] = options
        # The share's root is the empty name, sent as one UTF-16 NUL (MS-SMB2 2.2.13: the buffer is
        # never empty; smbprotocol sends two NUL bytes with NameLength 0).
        name = path.replace("/", "\\").encode("utf-16-le") if path != "." else b""
        create["buffer_path"] = name or b"\x00\x00"
        data = self.call(create)
        opened = SMB2CreateResponse()
        opened.unpack(data)
        if len(data) < 8 + _CREATE_TIMES.size:
            raise ProtocolError(f"CREATE answer of {len(data)} bytes")
        last_write = _CREATE_TIMES.unpack_from(data, 8)[2]
        return Opened(opened["file_id"].get_value(), filetime_seconds(last_write))

    def write(self, file_id: bytes, data: bytes) -> int:
        """WRITE at offset 0: how many bytes the server says it wrote."""
        from smbprotocol.open import SMB2WriteRequest, SMB2WriteResponse

        write = SMB2WriteRequest()
        write["offset"] = 0
        write["file_id"] = file_id
        write["buffer"] = data
        answer = SMB2WriteResponse()
        answer.unpack(self.call(write))
        return answer["count"].get_value()

    def flush(self, file_id: bytes) -> None:
        """FLUSH: the server makes what was written stable (smbd: fsync, `strict sync`)."""
        from smbprotocol.open import SMB2FlushRequest

        flush = SMB2FlushRequest()
        flush["file_id"] = file_id
        self.call(flush)

    def read(self, file_id: bytes, length: int) -> bytes:
        from smbprotocol.open import SMB2ReadRequest, SMB2ReadResponse

        read = SMB2ReadRequest()
        read["length"] = min(length, self.conn.max_read_size)
        read["offset"] = 0
        read["file_id"] = file_id
        read["padding"] = b"\x50"
        answer = SMB2ReadResponse()
        answer.unpack(self.call(read))
        return answer["buffer"].get_value()

    def close(self, file_id: bytes) -> None:
        from smbprotocol.open import SMB2CloseRequest

        close = SMB2CloseRequest()
        close["file_id"] = file_id
        self.call(close)

    def list(self, file_id: bytes, pattern: str) -> List[DirectoryEntry]:
        """The directory's entries whose names match `pattern` (the server filters), in at most
        MAX_LISTINGS rounds."""
        from smbprotocol.open import SMB2QueryDirectoryRequest, SMB2QueryDirectoryResponse

        entries: List[DirectoryEntry] = []
        for _ in range(MAX_LISTINGS):
            query = SMB2QueryDirectoryRequest()
            query["file_information_class"] = FILE_DIRECTORY_INFORMATION
            query["file_id"] = file_id
            query["output_buffer_length"] = MAX_LISTING
            query["buffer"] = pattern.encode("utf-16-le")
            try:
                answer = SMB2QueryDirectoryResponse()
                answer.unpack(self.call(query))
            except SMBResponseException as exc:
                if exc.status in (STATUS_NO_SUCH_FILE, STATUS_NO_MORE_FILES):
                    return entries
                raise
            entries += parse_directory(answer["buffer"].get_value())
        return entries


def parse_directory(buffer: bytes) -> List[DirectoryEntry]:
    """FILE_DIRECTORY_INFORMATION entries (MS-FSCC 2.4.10), read for hostile input: every
    offset and length is checked, garbage raises ProtocolError."""
    entries = []
    offset = 0
    for _ in range(MAX_LISTING // _DIRECTORY_ENTRY.size + 1):  # each entry takes at least its header
        if offset + _DIRECTORY_ENTRY.size > len(buffer):
            raise ProtocolError(f"directory entry at {offset} overruns the {len(buffer)}-byte answer")
        following, _index, _created, _accessed, written, _changed, _eof, _alloc, attributes, length = (
            _DIRECTORY_ENTRY.unpack_from(buffer, offset)
        )
        start = offset + _DIRECTORY_ENTRY.size
        if length % 2 or start + length > len(buffer):
            raise ProtocolError(f"directory entry name of {length} bytes at {start} does not fit the answer")
        try:
            name = buffer[start : start + length].decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"directory entry name is not UTF-16: {exc.reason}") from exc
        entries.append(DirectoryEntry(name, filetime_seconds(written), bool(attributes & FILE_ATTRIBUTE_DIRECTORY)))
        if following == 0:
            return entries
        if following < _DIRECTORY_ENTRY.size or offset + following >= len(buffer):
            raise ProtocolError(f"directory entry at {offset} points to {offset + following}")
        offset += following
    raise ProtocolError("more directory entries than the answer can hold")


def close_quietly(conn: smb_connection.Connection) -> None:
    """Close the socket (smbprotocol's disconnect without closing the sessions, or a plain shut
    if that fails): a probe leaves nothing behind; a CallerConnection has no receiver thread to join."""
    try:
        conn.disconnect(close=False)
    except Exception:
        shut(getattr(conn, "transport", None))

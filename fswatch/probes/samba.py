"""The Samba probe: TCP connect, SMB2/3 negotiate, session setup, tree connect, share-type
check, teardown (SPEC.md section 3), all inside one Deadline. With a canary file (the opt-in
data-path check) the probe also reads its first bytes before the teardown: stage `canary`. With
a write canary (opt-in, fswatch.probes.write_canary) it then writes a file of its own: CREATE
(delete on close), WRITE + FLUSH, READ, CLOSE, and the sweep of earlier probes' leftovers.
A Kerberos watch first makes sure it holds a ticket for the server (stage `kerberos`,
fswatch.probes.kerberos), then logs on with it and nothing else.

This module is the flow and its translation of what went wrong into the seed's alerts; it
speaks SMB through smbprotocol adapted by fswatch.probes.smb, whose reaper thread ends every
wait at the deadline (smbprotocol's own calls can block forever on a stalled server). The
probe only does I/O and returns an Observation.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Optional, Tuple

from smbprotocol.exceptions import SMBAuthenticationError, SMBResponseException
from smbprotocol.session import Session

from fswatch.core import alerts
from fswatch.core.deadline import Deadline
from fswatch.core.errors import DeadlineExceeded, ProbeFailure, ProtocolError
from fswatch.core.observation import Observation, StageRecorder
from fswatch.probes import krb5logon, smb, smbrecv, write_canary
from fswatch.probes import posture as pst
from fswatch.probes.krb5logon import KerberosFault, KerberosLogon, Tickets
from fswatch.probes.resolve import Resolver, address_for

# Guest logon: pyspnego refuses empty credentials, and smbd's `map to guest = Bad User`
# maps any unknown user to the guest account (TESTING.md).
GUEST_USER = "fswatch-guest"
GUEST_PASSWORD = "fswatch-guest"

STATUS_ALERT = {"negotiate": alerts.NEGOTIATE, "session": alerts.SESSION, "tree_connect": alerts.TREE_CONNECT}


@dataclass(frozen=True)
class SambaTarget:
    """What to probe, as the Samba kind checked it (fswatch.kinds.samba: the one validation)."""

    share: str
    address: str = "127.0.0.1"
    port: int = 445
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    canary: Optional[str] = None  # a file to read in each probe, relative to the share's root
    canary_write: Optional[str] = None  # a directory to write a file in, each probe (fswatch.probes.write_canary)
    canary_owner: str = write_canary.owner("samba", None)  # whose canary files the probe's names say
    # Security posture the watch requires (fswatch.probes.posture); the defaults require nothing.
    min_dialect: Optional[str] = None
    require_signing: bool = False
    require_encryption: bool = False
    kerberos: Optional[KerberosLogon] = None  # log on with Kerberos only, from this keytab and cache

    @property
    def requirements(self) -> pst.Requirements:
        return pst.Requirements(self.min_dialect, self.require_signing, self.require_encryption)

    @property
    def unc(self) -> str:
        return rf"\\{self.address}\{self.share}"


def probe_samba(
    target: SambaTarget,
    deadline: Deadline,
    *,
    clock: Callable[[], float] = time.monotonic,
    resolver: Optional[Resolver] = None,
) -> Observation:
    """One probe of `target`, finished by `deadline` (+ a few ms), never raising for the server."""
    rec = StageRecorder(clock, details=pst.Posture())  # always reported, None where not reached
    try:
        conn = smbrecv.CallerConnection(
            uuid.uuid4(), target.address, target.port, require_signing=target.user is not None or bool(target.kerberos)
        )
        reaper = smb.Reaper(conn, deadline)
    except Exception as exc:  # e.g. no thread can be started: this host is short of resources
        rec.add("connect", 0.0, ok=False)
        reason = f"cannot start the probe: {_text(exc)}"
        return rec.observation(_failure(alerts.SOCKET, "connect", reason, errno_mod.EAGAIN))
    stage = "connect"
    failure: Optional[ProbeFailure] = None
    tickets: Optional[Tickets] = None
    try:
        if target.kerberos is not None:
            from fswatch.probes import kerberos  # a watch without Kerberos never loads it (fswatch.probes.krb5logon)

            stage = "kerberos"  # krb5logon.STAGE
            with rec.stage(stage):
                tickets = kerberos.obtain(target.kerberos, deadline)
            kerberos.note(rec, target.kerberos, tickets)
            stage = "connect"
        smb.running.address = address_for(target.address, rec, deadline, resolver)
        t0 = clock()
        smb.running.deadline = deadline
        try:
            # Whole seconds, more than is left: smbprotocol must not give up before the reaper.
            conn.connect(timeout=int(deadline.timeout("connect")) + 2)
        finally:
            smb.running.deadline = smb.running.address = None
            transport = getattr(conn, "transport", None)
            connected_at = getattr(transport, "connected_at", None)
            if connected_at is None:
                rec.add("connect", (clock() - t0) * 1000.0, ok=False)
            else:
                rec.add("connect", (connected_at - t0) * 1000.0)
                stage = "negotiate"
                rec.add("negotiate", (clock() - connected_at) * 1000.0, ok=conn.dialect is not None)
        rec.details = pst.Posture(pst.dialect_name(conn.dialect), smb.server_signing(conn))
        _require(target, rec, stage)
        stage = "session"
        with rec.stage(stage):
            session = _session(conn, target)
            session.connect()
            rec.details = rec.details.with_(authentication=_authentication(session, target))
            _require(target, rec, stage)
        stage = "tree_connect"
        with rec.stage(stage):
            tree, share_type = smb.tree_connect(session, target.unc)
            encrypted = session.encrypt_data or tree.encrypt_data  # globally, or for this share
            rec.details = rec.details.with_(encryption=pst.REQUIRED if encrypted else pst.OFF)
            _require(target, rec, stage)
        stage = "share_type"
        with rec.stage(stage):
            if share_type not in (smb.SHARE_TYPE_DISK, smb.SHARE_TYPE_PRINT):
                name = smb.SHARE_TYPE_NAMES.get(share_type, f"0x{share_type:02x}")
                raise ProbeFailure(alerts.SHARE_TYPE, stage, f"share {target.share!r} is a {name} share")
        if target.canary is not None:
            stage = "canary"
            with rec.stage(stage):
                try:
                    rec.note("canary_bytes", str(smb.read_canary(tree, target.canary)))
                except Exception as exc:
                    raise _canary_failure(exc, target, reaper.fired or deadline.expired()) from exc
        if target.canary_write is not None:
            _write_canary(target, smb.TreeCalls(tree), rec, deadline, lambda: reaper.fired or deadline.expired())
        stage = "teardown"
        with rec.stage(stage):
            tree.disconnect()
            session.disconnect(close=False)
            conn.disconnect(close=False)
    except ProbeFailure as exc:
        failure = exc
    except Exception as exc:  # every library error becomes a result, never a crash
        failure = _translate(exc, stage, target, reaper.fired or deadline.expired())
        if target.kerberos is not None and stage == "session":
            failure = _kerberos_refused(failure, conn, tickets)
    finally:
        reaper.finish()
        smb.close_quietly(conn)
    return rec.observation(failure, tickets.degraded if tickets is not None else None)


def _session(conn: smb.ProbeConnection, target: SambaTarget) -> Session:
    """Kerberos only (no auth protocol to fall back to), or NTLM with the user's password, or
    the guest account."""
    if target.kerberos is not None:
        return smb.ProbeSession(conn, target.kerberos, None, require_encryption=False, auth_protocol="kerberos")
    user, password = (GUEST_USER, GUEST_PASSWORD) if target.user is None else (target.user, target.password)
    username, secret = smb.credential(user, password or "")
    return smb.ProbeSession(conn, username, secret, require_encryption=False)


def _authentication(session: Session, target: SambaTarget) -> str:
    """How the server let the session in: a session without a key is its guest account."""
    if session.session_key is None:
        return pst.GUEST
    return pst.KERBEROS if target.kerberos is not None else pst.NTLM


def _kerberos_refused(
    failure: ProbeFailure, conn: smb.ProbeConnection, tickets: Optional[Tickets]
) -> ProbeFailure:
    """The server refused the Kerberos logon: clock skew when its clock and the KDC's are apart
    by more than Kerberos allows (alert 123, the NT status kept), else the failure as it is."""
    from fswatch.probes import kerberos  # loaded already: the watch logs on with Kerberos

    if failure.timed_out or tickets is None or failure.alert == alerts.CLOCK_SKEW:
        return failure
    skew = kerberos.clock_skew(getattr(conn, "server_time", None), getattr(conn, "answered_at", None),
                               tickets.kdc_offset)  # fmt: skip
    if skew is None:
        return failure
    where = "ahead of" if skew > 0 else "behind"
    reason = f"the server's clock is {abs(skew)} s {where} the KDC's (Kerberos allows {kerberos.MAX_SKEW} s): "
    reason += failure.reason
    return ProbeFailure(
        alerts.CLOCK_SKEW, failure.stage, reason, f"KRB5KRB_AP_ERR_SKEW: server clock {skew:+d} s from the KDC's",
        ntstatus=failure.ntstatus, krb5_error="KRB5KRB_AP_ERR_SKEW",
    )  # fmt: skip


def _require(target: SambaTarget, rec: StageRecorder, stage: str) -> None:
    """Fail the probe at `stage` when the server is weaker there than the watch requires."""
    short = pst.shortfall(target.requirements, rec.details or pst.Posture(), stage)
    if short is None:
        return
    alert, detail, reason = short
    if rec.stages and rec.stages[-1].stage == stage:  # recorded already (negotiate): mark it failed
        rec.stages[-1] = replace(rec.stages[-1], ok=False)
    raise ProbeFailure(alert, stage, reason, detail)


def _canary_failure(exc: Exception, target: SambaTarget, timed_out: bool) -> ProbeFailure:
    """Stage `canary`: the server refused (missing, denied, a directory: alert 105, its NT status),
    or the read did not end by the deadline or lost the connection (alert 106)."""
    canary = target.canary
    if isinstance(exc, SMBResponseException) and not timed_out:
        name = smb.STATUS_NAMES.get(exc.status, type(exc).__name__)
        reason = f"{target.unc}, CREATE and READ {canary}: {type(exc).__name__}: {_status_text(exc, exc.status)}"
        return ProbeFailure(
            alerts.CANARY_UNREADABLE, "canary", reason, f"{canary}: {name} (0x{exc.status:08x})",
            ntstatus=exc.status, canary=canary,
        )  # fmt: skip
    if isinstance(exc, ProtocolError) and not timed_out:
        return _failure(alerts.RECEIVE, "canary", str(exc), errno_mod.EPROTO, canary=canary)
    err = errno_mod.ETIMEDOUT if timed_out else (_errno_of(exc) or errno_mod.ECONNRESET)
    what = "no answer within the deadline" if timed_out else "the connection ended"
    return ProbeFailure(
        alerts.CANARY_BLOCKED, "canary", f"{target.unc}, CREATE and READ {canary}: {what}",
        f"{canary}: {os.strerror(err)}",
        errno=err, timed_out=timed_out, canary=canary,
    )  # fmt: skip


def _write_canary(
    target: SambaTarget, calls: smb.TreeCalls, rec: StageRecorder, deadline: Deadline, timed_out: Callable[[], bool]
) -> None:
    """CREATE a new file (delete on close), WRITE 4 KiB + FLUSH, READ them back and compare, CLOSE
    (which deletes it), then remove earlier probes' leftovers: five stages, one deadline."""
    # Here, not at the top: a watch without a write canary never loads smbprotocol's file API
    # (fswatch.core.deferred).
    from smbprotocol.open import CreateDisposition, CreateOptions, FilePipePrinterAccessMask, ShareAccess

    # The file: read and written by this probe alone (others may read it), deleted when it is
    # closed - also by smbd itself when the connection ends first (the deadline, kill -9).
    access = (
        FilePipePrinterAccessMask.FILE_READ_DATA | FilePipePrinterAccessMask.FILE_WRITE_DATA
        | FilePipePrinterAccessMask.DELETE
    )  # fmt: skip
    options = (
        CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE
        | CreateOptions.FILE_WRITE_THROUGH
    )  # fmt: skip
    canary = write_canary.new_file(str(target.canary_write), target.canary_owner, deadline)
    rec.note("write_canary_file", canary.path)
    if target.kerberos is not None:
        who = f"principal {target.kerberos.principal} (Kerberos)"
    else:
        who = "the guest account (usually nobody)" if target.user is None else f"user {target.user}"
    rec.note(write_canary.IDENTITY_NOTE, who)
    with _write_stage(rec, "write_create", target, canary, timed_out):
        opened = calls.create(
            canary.path, access, ShareAccess.FILE_SHARE_READ, CreateDisposition.FILE_CREATE, options,
        )  # fmt: skip
    with _write_stage(rec, "write", target, canary, timed_out):
        count = calls.write(opened.file_id, canary.data)
        if count != len(canary.data):
            short = f"the server wrote {count} of {len(canary.data)} bytes"
            raise _write_refused(alerts.WRITE_FAILED, "write", target, canary, short)
        calls.flush(opened.file_id)
    rec.note("write_canary_bytes", str(count))
    with _write_stage(rec, "write_readback", target, canary, timed_out):
        differs = write_canary.mismatch(canary.data, calls.read(opened.file_id, len(canary.data)))
        if differs is not None:
            raise _write_refused(alerts.WRITE_MISMATCH, "write_readback", target, canary, differs)
    with _write_stage(rec, "write_remove", target, canary, timed_out):
        calls.close(opened.file_id)
    with _write_stage(rec, "write_sweep", target, canary, timed_out):
        removed, kept = _sweep(calls, target, canary, now=opened.last_write)
    rec.note("write_canary_leftovers_removed", str(removed))
    if kept:
        rec.note("write_canary_leftovers_kept", kept)


def _sweep(calls: smb.TreeCalls, target: SambaTarget, canary: write_canary.CanaryFile, now: float) -> Tuple[int, str]:
    """Remove the leftovers of the owner's earlier probes (fswatch.probes.write_canary): how many, and
    why any was kept (one already gone, or refused: tried again by the next probe)."""
    from smbprotocol.open import CreateDisposition, CreateOptions, DirectoryAccessMask, FilePipePrinterAccessMask

    directory = calls.create(
        canary.directory, DirectoryAccessMask.FILE_LIST_DIRECTORY, smb.SHARE_ALL, CreateDisposition.FILE_OPEN,
        CreateOptions.FILE_DIRECTORY_FILE,
    )  # fmt: skip
    # A listing that fails leaves the directory open: the probe ends, and the server closes it then.
    entries = calls.list(directory.file_id, write_canary.search_pattern(target.canary_owner))
    calls.close(directory.file_id)
    removed, kept = 0, ""
    for entry in entries:
        if entry.directory or not write_canary.is_leftover(entry.name, target.canary_owner, entry.last_write, now):
            continue
        path = write_canary.CanaryFile(canary.directory, entry.name, b"").path
        try:
            leftover = calls.create(
                path, FilePipePrinterAccessMask.DELETE, smb.SHARE_ALL, CreateDisposition.FILE_OPEN,
                CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE,
            )  # fmt: skip
            calls.close(leftover.file_id)
            removed += 1
        except SMBResponseException as exc:
            kept = f"{entry.name}: {smb.STATUS_NAMES.get(exc.status, f'0x{exc.status:08x}')}"
    return removed, kept


@contextmanager
def _write_stage(
    rec: StageRecorder, stage: str, target: SambaTarget, canary: write_canary.CanaryFile, timed_out: Callable[[], bool]
) -> Iterator[None]:
    """A stage of the write canary: the server's refusal is the alert of its status
    (fswatch.probes.write_canary.alert_of), no answer by the deadline or a lost connection alert 139."""
    with rec.stage(stage):
        try:
            yield
        except ProbeFailure:
            raise
        except Exception as exc:
            raise _write_failure(exc, stage, target, canary, timed_out()) from exc


def _write_refused(
    alert: int, stage: str, target: SambaTarget, canary: write_canary.CanaryFile, what: str
) -> ProbeFailure:
    reason = f"{target.unc}, write canary {canary.path}, {stage}: {what}"
    return ProbeFailure(alert, stage, reason, f"{canary.directory}: {what}", canary=canary.path)


def _write_failure(
    exc: Exception, stage: str, target: SambaTarget, canary: write_canary.CanaryFile, timed_out: bool
) -> ProbeFailure:
    where = f"{target.unc}, write canary {canary.path}, {stage}"
    if isinstance(exc, SMBResponseException) and not timed_out:
        name = smb.STATUS_NAMES.get(exc.status, type(exc).__name__)
        return ProbeFailure(
            write_canary.alert_of(name), stage, f"{where}: {type(exc).__name__}: {_status_text(exc, exc.status)}",
            f"{canary.directory}: {name} (0x{exc.status:08x})", ntstatus=exc.status, canary=canary.path,
        )  # fmt: skip
    if isinstance(exc, ProtocolError) and not timed_out:
        return _failure(alerts.RECEIVE, stage, f"{where}: {exc}", errno_mod.EPROTO, canary=canary.path)
    err = errno_mod.ETIMEDOUT if timed_out else (_errno_of(exc) or errno_mod.ECONNRESET)
    what = "no answer within the deadline" if timed_out else "the connection ended"
    return ProbeFailure(
        alerts.WRITE_BLOCKED, stage, f"{where}: {what}", f"{canary.directory}, {stage}: {os.strerror(err)}",
        errno=err, timed_out=timed_out, canary=canary.path,
    )  # fmt: skip


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
            alerts.RECEIVE,
            stage,
            f"the server's answer could not be read ({type(exc).__name__}; {type(bug).__name__} describing it)",
            errno_mod.EPROTO,
        )


def _session_fault(exc: KerberosFault, stage: str) -> ProbeFailure:
    name = exc.name or "GSS-API error"
    return ProbeFailure(alerts.SESSION, stage, exc.reason, name, errno=errno_mod.EACCES, krb5_error=exc.name)


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
        name = smb.STATUS_NAMES.get(status, "status")
        return f"{name} 0x{status:08x}, with an error body that does not decode"


def _translate_known(exc: Exception, stage: str, target: SambaTarget, timed_out: bool) -> ProbeFailure:
    if isinstance(exc, KerberosFault):
        if stage == krb5logon.STAGE:
            return exc.failure(stage)
        # In the session: the server's answer did not complete the logon. A file-server fault
        # (alert 64, as any refused logon), unless the clocks are to blame.
        return exc.failure(stage) if exc.alert == alerts.CLOCK_SKEW else _session_fault(exc, stage)
    if timed_out or isinstance(exc, (DeadlineExceeded, socket.timeout, TimeoutError)):
        return _failure(
            alerts.CONNECT if stage == "connect" else alerts.WAIT,
            stage,
            f"no answer within the deadline during {stage.replace('_', ' ')}",
            errno_mod.ETIMEDOUT,
            timed_out=True,
        )
    if isinstance(exc, SMBResponseException):
        status = exc.status
        alert = STATUS_ALERT.get(stage, alerts.RECEIVE)
        known = smb.LOGON_STATUS.get(status) if stage == "session" else None
        if known is not None:
            reason = f"{known[0]} (0x{status:08x}): {known[1]}"
        else:
            reason = f"{type(exc).__name__}: {_status_text(exc, status)}"
        if target.kerberos is not None and stage == "session" and known is None:
            reason += " (the server refused the Kerberos ticket: its keytab, machine account or winbind)"
        return ProbeFailure(alert, stage, reason, f"0x{status:08x}", ntstatus=status)
    if isinstance(exc, ProtocolError):
        return _failure(alerts.RECEIVE, stage, _text(exc), errno_mod.EPROTO)
    if isinstance(exc, SMBAuthenticationError):
        return _failure(alerts.SESSION, stage, _text(exc), errno_mod.EACCES)
    err = _errno_of(exc)
    if stage == "connect":
        cause = exc.__cause__
        if isinstance(cause, socket.gaierror):
            return ProbeFailure(alerts.RESOLVE, stage, f"cannot resolve {target.address!r}: {cause}", str(cause.errno))
        if err in (errno_mod.EMFILE, errno_mod.ENFILE, errno_mod.ENOBUFS, errno_mod.ENOMEM):
            return _failure(alerts.SOCKET, stage, f"cannot create a socket: {os.strerror(err)}", err)
        err = err or errno_mod.ECONNREFUSED
        reason = f"cannot connect to {target.address}:{target.port}: {os.strerror(err)}"
        return _failure(alerts.CONNECT, stage, reason, err)
    if isinstance(exc, OSError) and err in (errno_mod.EPIPE, errno_mod.ECONNRESET) and "send" in _text(exc).lower():
        return _failure(alerts.SEND, stage, f"send failed: {os.strerror(err)}", err)
    if err is not None:
        return _failure(alerts.RECEIVE, stage, f"receive failed: {os.strerror(err)}", err)
    if "closed" in _text(exc).lower() or isinstance(exc, TypeError):
        # The server closed the connection: smbprotocol's worker saw EOF and woke the waiter
        # with no response (a TypeError inside smbprotocol, or SMBConnectionClosed).
        reason = "the server closed the connection without answering"
        return _failure(alerts.RECEIVE, stage, reason, errno_mod.ECONNRESET)
    reason = f"the server's answer does not decode as SMB2 ({type(exc).__name__}: {_text(exc)})"
    return _failure(alerts.RECEIVE, stage, reason, errno_mod.EPROTO)

"""Kerberos for a probe: the stage `kerberos` (a ticket for the server's service principal in the
watch's private credential cache, from its keytab, within the probe's deadline), the KDC's
faults named apart, and the GSS-API security context that logs on with that ticket.

Why a child process. libkrb5 takes no deadline: its exchanges with the KDC (AS for a ticket-
granting ticket with the keytab, TGS for the server's ticket) block on its own timeouts and
retries, 18 s against a KDC behind a firewall that drops (measured here), and a thread cannot
be stopped. So the exchange runs in `python -I kdc.py` (fswatch.probes.kdc), which the probe
kills at its deadline: a stalled KDC fails the probe on time (alert 121) and leaves nothing
running. The child writes a new cache file that replaces the watch's cache only once it is
complete, so a killed child never spoils the ticket the watch holds. Its cost, ~0.1-0.2 s of a
Python start, is paid only when a ticket is due (bench/RESULTS.md).

Why the probe itself never meets the KDC. The security context is made from the cache alone
(no keytab: libkrb5 can get no new ticket-granting ticket), for the service principal as a
Kerberos principal name (no host name canonicalisation, so no DNS lookup in libkrb5), and only
after this stage saw in the cache a ticket for that principal that outlives the probe: libkrb5
then takes it from the cache and sends nothing to the KDC (tested with port 88 dropped).

Tickets are reused while valid, as a real client reuses them, and renewed by a new exchange
once half their lifetime has passed (sssd's default). A renewal that fails while the cached
ticket still outlives the probe does not fail it: the logon goes on with that ticket, and the
probe is degraded (alert 126) - the file service is up for clients that hold tickets. With no
usable ticket, a KDC fault fails the probe at stage kerberos (alerts 120-125).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

from fswatch.core import alerts, deferred
from fswatch.core.deadline import Deadline
from fswatch.core.observation import Degradation, StageRecorder
from fswatch.probes import krb5files
from fswatch.probes.krb5logon import STAGE, KerberosFault, KerberosLogon, Tickets

if TYPE_CHECKING:  # imported where a child is started: a watch with its ticket at hand never loads it
    import subprocess

KDC_SCRIPT = Path(__file__).with_name("kdc.py")
# A ticket is used only when it outlives the probe by this much: the server must still find it
# valid when the logon reaches it, on a clock that may differ from ours by a little.
TICKET_MARGIN = 30.0
RENEW_AT = 0.5  # renew once this fraction of a ticket's lifetime is left (sssd's default)
RENEW_SHARE = 0.5  # a renewal may take this share of the probe's time left: the logon needs the rest
MAX_SKEW = 300  # seconds: Kerberos' default clock skew (krb5.conf clockskew, Samba, Windows)
CHILD_OUTPUT_LIMIT = 4096
KILL_WAIT = 2.0  # seconds to reap a killed child (SIGKILL: it ends at once)

# libkrb5's error codes (MIT krb5.h; com_err table "krb5": KDC errors are -1765328384 + the
# RFC 4120 error number) → (name, the alert that reports it). A code not listed is alert 125.
KRB5_ERRORS: Dict[int, Tuple[str, int]] = {
    -1765328228: ("KRB5_KDC_UNREACH", alerts.KDC_UNREACHABLE),
    -1765328164: ("KRB5_REALM_CANT_RESOLVE", alerts.KDC_UNREACHABLE),
    -1765328230: ("KRB5_REALM_UNKNOWN", alerts.KDC_UNREACHABLE),
    -1765328355: ("KRB5KDC_ERR_SVC_UNAVAILABLE", alerts.KDC_UNREACHABLE),
    -1765328360: ("KRB5KDC_ERR_PREAUTH_FAILED", alerts.KEYTAB_STALE),
    -1765328353: ("KRB5KRB_AP_ERR_BAD_INTEGRITY", alerts.KEYTAB_STALE),
    -1765328340: ("KRB5KRB_AP_ERR_BADKEYVER", alerts.KEYTAB_STALE),
    -1765328154: ("KRB5_KT_KVNONOTFOUND", alerts.KEYTAB_STALE),
    -1765328347: ("KRB5KRB_AP_ERR_SKEW", alerts.CLOCK_SKEW),
    -1765328351: ("KRB5KRB_AP_ERR_TKT_NYV", alerts.CLOCK_SKEW),
    -1765328373: ("KRB5KDC_ERR_NEVER_VALID", alerts.CLOCK_SKEW),
    -1765328377: ("KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN", alerts.UNKNOWN_SPN),
    -1765328378: ("KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN", alerts.KERBEROS_REFUSED),
    -1765328366: ("KRB5KDC_ERR_CLIENT_REVOKED", alerts.KERBEROS_REFUSED),
    -1765328361: ("KRB5KDC_ERR_KEY_EXP", alerts.KERBEROS_REFUSED),
    -1765328370: ("KRB5KDC_ERR_ETYPE_NOSUPP", alerts.KERBEROS_REFUSED),
    -1765328372: ("KRB5KDC_ERR_POLICY", alerts.KERBEROS_REFUSED),
    -1765328316: ("KRB5KDC_ERR_WRONG_REALM", alerts.KERBEROS_REFUSED),
    -1765328203: ("KRB5_KT_NOTFOUND", alerts.KERBEROS_REFUSED),
    -1765328202: ("KRB5_KT_END", alerts.KERBEROS_REFUSED),
    -1765328149: ("KRB5_KT_FORMAT", alerts.KERBEROS_REFUSED),
    -1765328243: ("KRB5_CC_NOTFOUND", alerts.KERBEROS_REFUSED),
    -1765328343: ("KRB5KRB_AP_ERR_MODIFIED", alerts.KERBEROS_REFUSED),
}
TIMED_OUT = "no answer from the KDC within the deadline"


def fault_of(code: int, message: str, what: str) -> KerberosFault:
    """A libkrb5 error code (and its text) met while `what`, as the fault fswatch names."""
    name, alert = KRB5_ERRORS.get(code, (f"krb5 error {code}" if code else None, alerts.KERBEROS_REFUSED))
    return KerberosFault(alert, f"{what}: {_message_of(message)}", name)


def _message_of(text: str) -> str:
    """libkrb5's own words from a GSS-API error ("Major (...): ..., Minor (...): <this>")."""
    minor = text.rpartition("Minor (")[2]
    return (minor.partition("): ")[2] if "): " in minor else text).strip() or "failed"


Spawn = Callable[..., "subprocess.Popen[bytes]"]


def obtain(
    logon: KerberosLogon,
    deadline: Deadline,
    *,
    wall: Callable[[], float] = time.time,
    spawn: Optional[Spawn] = None,
) -> Tickets:
    """Stage kerberos: a ticket for `logon.service` in the cache that outlives this probe.
    KerberosFault when there is none and the KDC cannot give one by `deadline`."""
    cache = read_cache(logon.ccache)
    held = cache.ticket(logon.principal, logon.service) if cache.principal == logon.principal else None
    now = wall() + cache.kdc_offset  # the KDC's time: ticket times are the KDC's
    need = deadline.remaining() + TICKET_MARGIN
    if held is not None and held.endtime - now > need:
        expires = held.endtime - cache.kdc_offset
        if held.endtime - now > held.lifetime * RENEW_AT:
            return Tickets("cached", expires, cache.kdc_offset)
        budget = Deadline(deadline.clock() + deadline.remaining() * RENEW_SHARE, deadline.clock)
        try:
            return _fresh(logon, budget, "renewed", wall, spawn)
        except KerberosFault as fault:
            return Tickets("cached", expires, cache.kdc_offset, _degradation(fault, expires, wall()))
    return _fresh(logon, deadline, "new", wall, spawn)


def _fresh(
    logon: KerberosLogon, deadline: Deadline, source: str, wall: Callable[[], float], spawn: Optional[Spawn]
) -> Tickets:
    exchange(logon, deadline, spawn)
    cache = read_cache(logon.ccache)
    held = cache.ticket(logon.principal, logon.service)
    if held is None:  # the child said it got one: a cache we cannot read is no ticket either
        reason = f"no ticket for {logon.service} in {logon.ccache} after the exchange"
        raise KerberosFault(alerts.KERBEROS_REFUSED, reason)
    return Tickets(source, held.endtime - cache.kdc_offset, cache.kdc_offset)


def read_cache(path: str) -> krb5files.CCache:
    """The watch's cache; a missing, unreadable or damaged one holds nothing."""
    try:
        with open(path, "rb") as f:
            return krb5files.parse_ccache(f.read(krb5files.CCACHE_MAX_BYTES + 1))
    except OSError:
        return krb5files.CCache()


def check_keytab(logon: KerberosLogon) -> None:
    """The keytab holds a key for the principal (else libkrb5 says only 'No credentials cache found')."""
    try:
        with open(logon.keytab, "rb") as f:
            data = f.read(krb5files.KEYTAB_MAX_BYTES + 1)
        entries = krb5files.parse_keytab(data)
    except OSError as exc:
        raise KerberosFault(alerts.KERBEROS_REFUSED, f"keytab {logon.keytab}: {exc.strerror or exc}") from None
    except krb5files.KeytabError as exc:
        raise KerberosFault(alerts.KERBEROS_REFUSED, f"keytab {logon.keytab} is not a keytab: {exc}") from None
    refused = krb5files.keytab_refusal(entries, logon.principal, f"keytab {logon.keytab}")
    if refused:
        raise KerberosFault(alerts.KERBEROS_REFUSED, refused, "KRB5_KT_NOTFOUND")


def exchange(logon: KerberosLogon, deadline: Deadline, spawn: Optional[Spawn] = None) -> None:
    """The AS and TGS exchanges in a child killed at `deadline`; on success the watch's cache
    holds the new tickets. KerberosFault otherwise."""
    import subprocess

    spawn = spawn or subprocess.Popen
    check_keytab(logon)
    fresh = f"{logon.ccache}.{os.getpid()}.new"
    _remove(fresh)
    env = dict(os.environ, KRB5CCNAME=f"FILE:{fresh}")  # nothing of the node's or root's cache
    try:
        child = spawn(
            [sys.executable, "-I", str(KDC_SCRIPT), logon.keytab, logon.principal, logon.service, fresh],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,  # libkrb5's trace, if any: never the journal
            env=env,
            close_fds=True,
        )
    except OSError as exc:
        raise KerberosFault(alerts.KERBEROS_REFUSED, f"cannot start the KDC exchange: {exc}") from None
    try:
        try:
            out, _ = child.communicate(timeout=deadline.remaining())
        except subprocess.TimeoutExpired:  # killed and reaped below, once
            raise KerberosFault(
                alerts.KDC_STALLED, f"{TIMED_OUT} (realm {logon.realm}, {logon.service})", timed_out=True
            ) from None
        except OSError as exc:  # waiting for it failed (never seen but under a broken libfaketime)
            raise KerberosFault(alerts.KERBEROS_REFUSED, f"waiting for the KDC exchange failed: {exc}") from None
        answer = _answer(out)
        if not answer.get("ok"):
            # A TGT in the new cache: the AS exchange went through, the TGS exchange failed.
            what = "getting a ticket-granting ticket"
            if _has_tgt(fresh, logon):
                what = f"getting a ticket for {logon.service}"
            raise fault_of(int(answer.get("code") or 0), str(answer.get("message", "")), what)
        _keep(fresh, logon.ccache)
    finally:
        if child.poll() is None:  # past the deadline, or an exception of our own: never leave it running
            child.kill()
            try:
                child.communicate(timeout=KILL_WAIT)
            except (subprocess.TimeoutExpired, OSError, ValueError):
                pass  # one that does not end, or a wait that fails: the probe has its verdict already
        _remove(fresh)


def _keep(fresh: str, ccache: str) -> None:
    """The new cache becomes the watch's, without MIT's refresh_time: past that time libkrb5
    would get new tickets by itself, in the watch's own process, with the default client
    keytab (even where there is none: an AS request that blocked a probe 27 s past its 4 s
    deadline against a stalled KDC, measured). Renewing is this module's job, in the child."""
    try:
        with open(fresh, "rb") as f:
            data = f.read(krb5files.CCACHE_MAX_BYTES + 1)
        cleaned = krb5files.without_refresh_time(data)
        if cleaned is None:
            raise KerberosFault(alerts.KERBEROS_REFUSED, f"the KDC exchange wrote a cache that does not parse: {fresh}")
        if cleaned != data:
            fd = os.open(fresh, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(fd, cleaned)
            finally:
                os.close(fd)
        os.replace(fresh, ccache)
    except OSError as exc:
        raise KerberosFault(alerts.KERBEROS_REFUSED, f"cannot keep the tickets in {ccache}: {exc}") from None


def _answer(out: bytes) -> dict:
    lines = out[-CHILD_OUTPUT_LIMIT:].decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    return answer or {"ok": False, "code": 0, "message": "the KDC exchange ended without an answer"}


def _has_tgt(path: str, logon: KerberosLogon) -> bool:
    tgt = f"krbtgt/{logon.realm}@{logon.realm}"
    return read_cache(path).ticket(logon.principal, tgt) is not None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass  # the next exchange writes a new file anyway


def _degradation(fault: KerberosFault, expires: float, now: float) -> Degradation:
    until = time.strftime("%H:%M:%S UTC", time.gmtime(expires))
    left = max(0, int(expires - now))
    name = fault.name or ("ETIMEDOUT" if fault.timed_out else "")
    return Degradation(
        cause="Kerberos ticket not renewed",
        stage=STAGE,
        reason=f"{fault.reason}; the cached ticket serves until {until} ({left} s)",
        alert=alerts.KERBEROS_DEGRADED,
        ended_alert=alerts.KERBEROS_RENEWED,
        detail=f"{name or 'failed'}, cached ticket valid until {until}",
        bounded=False,  # the ticket's end is the limit: then probes fail at stage kerberos
        krb5_error=fault.name or "",
    )


def note(rec: StageRecorder, logon: KerberosLogon, tickets: Tickets) -> None:
    """The probe's notes on its ticket (probe --json, the state file)."""
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tickets.expires))
    rec.note("kerberos", f"{tickets.source} ticket for {logon.service}, valid until {until}")
    if abs(tickets.kdc_offset) > MAX_SKEW:
        # libkrb5 corrects for it (kdc_timesync); other Kerberos clients on this node may not.
        rec.note("kdc_clock_offset", f"{tickets.kdc_offset:+d} s")


def clock_skew(server_time: Optional[float], local_time: Optional[float], kdc_offset: int) -> Optional[int]:
    """Seconds the server's clock is ahead of the KDC's (negative: behind), when that is beyond
    what Kerberos accepts; else None. `server_time` is what the server said (SMB NEGOTIATE's
    SystemTime) at our `local_time`."""
    if server_time is None or local_time is None:
        return None
    skew = int(round(server_time - (local_time + kdc_offset)))
    return skew if abs(skew) > MAX_SKEW else None


# -- the GSS-API security context ------------------------------------------------------------------

KRB5_MECH = "1.2.840.113554.1.2.2"  # RFC 1964
SPNEGO_MECH = "1.3.6.1.5.5.2"  # RFC 4178
SESSION_KEY_OID = "1.2.840.113554.1.2.2.5.5"  # GSS_C_INQ_SSPI_SESSION_KEY: the key SMB signs with


def binding_missing() -> Optional[str]:
    """Why this node cannot log on with Kerberos (no GSSAPI binding), or None."""
    deferred.wanted("gssapi")
    try:
        import gssapi  # noqa: F401
        import gssapi.raw  # noqa: F401
    except ImportError as exc:
        return f"the GSSAPI binding is not installed (Debian and RHEL: python3-gssapi; PyPI: gssapi): {exc}"
    return None


class SecurityContext:
    """A GSS-API initiator for `logon`'s service, from the watch's cache alone.

    `spnego`: the token a real SMB client sends (RFC 4178), with Kerberos as its only
    mechanism: there is nothing to fall back to, NTLM least of all. Without it: raw Kerberos
    (RFC 1964), as RPCSEC_GSS wants it, with neither replay nor sequence detection: the server
    answers calls in any order, and RPCSEC_GSS keeps its own sequence window. Errors are
    KerberosFault, with libkrb5's error named.
    """

    def __init__(self, logon: KerberosLogon, *, spnego: bool = True) -> None:
        deferred.wanted("gssapi")
        try:
            import gssapi
            from gssapi.raw import GSSError, acquire_cred_from, set_neg_mechs
        except ImportError as exc:
            raise KerberosFault(alerts.KERBEROS_REFUSED, f"the GSSAPI binding cannot be loaded: {exc}") from None
        self._gssapi = gssapi
        self._error = GSSError
        krb5 = gssapi.OID.from_int_seq(KRB5_MECH)
        mech = gssapi.OID.from_int_seq(SPNEGO_MECH) if spnego else krb5
        wanted = gssapi.RequirementFlag
        flags = wanted.mutual_authentication | wanted.integrity | wanted.confidentiality
        if spnego:  # SMB signs in sequence itself; RPCSEC_GSS replies are not a GSS sequence (RFC 2203 5.3.3.1)
            flags |= wanted.out_of_sequence_detection
        try:
            client = gssapi.Name(logon.principal, gssapi.NameType.kerberos_principal)
            store = {b"ccache": f"FILE:{logon.ccache}".encode()}
            creds = acquire_cred_from(store, name=client, mechs=[mech], usage="initiate").creds
            if spnego:
                set_neg_mechs(creds, [krb5])
            server = gssapi.Name(logon.service, gssapi.NameType.kerberos_principal)
            self.context = gssapi.SecurityContext(
                name=server, creds=gssapi.Credentials(creds), mech=mech, usage="initiate", flags=flags
            )
        except GSSError as exc:
            raise self._fault(exc, "using the cached ticket") from None

    def _fault(self, exc: Exception, what: str) -> KerberosFault:
        code = getattr(exc, "min_code", 0) or 0
        return fault_of(code - (1 << 32) if code >= 1 << 31 else code, str(exc), what)

    @property
    def complete(self) -> bool:
        return bool(self.context.complete)

    def step(self, token: Optional[bytes] = None) -> Optional[bytes]:
        try:
            return self.context.step(token or None)
        except self._error as exc:
            raise self._fault(exc, "the server's answer to the Kerberos logon") from None

    @property
    def session_key(self) -> bytes:
        from gssapi.raw import inquire_sec_context_by_oid

        oid = self._gssapi.OID.from_int_seq(SESSION_KEY_OID)
        return inquire_sec_context_by_oid(self.context, oid)[0]

    # Per-message protection, as RPCSEC_GSS frames it (fswatch.rpc.rpcsec_gss); errors propagate
    # as python-gssapi raises them: that module turns each into its own GssError.
    def get_mic(self, data: bytes) -> bytes:
        return bytes(self.context.get_signature(data))

    def verify_mic(self, data: bytes, mic: bytes) -> None:
        self.context.verify_signature(data, mic)

    def wrap(self, data: bytes) -> bytes:
        wrapped = self.context.wrap(data, True)
        if not wrapped.encrypted:
            raise ValueError("the GSS context did not encrypt (no confidentiality)")
        return bytes(wrapped.message)

    def unwrap(self, data: bytes) -> bytes:
        unwrapped = self.context.unwrap(data)
        if not unwrapped.encrypted:
            raise ValueError("the server's sealed body was not encrypted")
        return bytes(unwrapped.message)

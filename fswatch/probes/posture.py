"""SMB security posture: what a server negotiated (dialect, signing, encryption) and whether
that meets what the watch requires (`min_dialect`, `require_signing`, `require_encryption`).

Capabilities are data, as in smbprotocol's Dialects: one table of dialects (MS-SMB2 2.2.3)
with what each can do, and one table saying at which probe stage each requirement becomes
known. The probe fills a Posture as it goes; `shortfall()` is pure and is what it asks.
No smbprotocol import here: the settings validate against this table without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Optional, Tuple

from fswatch.core import alerts


@dataclass(frozen=True)
class Dialect:
    """An SMB dialect: its name, its DialectRevision, whether it can encrypt."""

    name: str  # as administrators write it (smb.conf: SMB2_02 ... SMB3_11)
    code: int  # MS-SMB2 2.2.3 DialectRevision
    encryption: bool  # can encrypt (SMB 3.x: MS-SMB2 3.3.5.2.2)


DIALECTS: Tuple[Dialect, ...] = (
    Dialect("2.0.2", 0x0202, False),
    Dialect("2.1", 0x0210, False),
    Dialect("3.0", 0x0300, True),
    Dialect("3.0.2", 0x0302, True),
    Dialect("3.1.1", 0x0311, True),
)
DIALECT_NAMES = tuple(d.name for d in DIALECTS)
_BY_NAME: Dict[str, Dialect] = {d.name: d for d in DIALECTS}
_BY_CODE: Dict[int, Dialect] = {d.code: d for d in DIALECTS}

# Values of Posture.signing and Posture.encryption.
REQUIRED = "required"  # the server insists: every session on it signs / this share's data is encrypted
ENABLED = "enabled"  # signing: the server signs when a client asks, but lets a client that does not go unsigned
OFF = "off"

# Values of Posture.authentication: how the session logged on, as the server granted it.
KERBEROS = "kerberos"
NTLM = "ntlm"
GUEST = "guest"  # the server mapped the logon to its guest account (no session key)


def dialect_name(code: Optional[int]) -> Optional[str]:
    if code is None:
        return None
    known = _BY_CODE.get(code)
    return known.name if known is not None else f"0x{code:04x}"


@dataclass(frozen=True)
class Requirements:
    """What the watch requires of the server; the defaults require nothing."""

    min_dialect: Optional[str] = None
    signing: bool = False
    encryption: bool = False

    @property
    def any(self) -> bool:
        return bool(self.min_dialect or self.signing or self.encryption)


@dataclass(frozen=True)
class Posture:
    """What the probe saw; None where it did not get that far. The Samba probe's
    Observation.details (shown as `posture` in JSON and the state file, `security` in text)."""

    key = "posture"
    label = "security"

    dialect: Optional[str] = None
    signing: Optional[str] = None
    encryption: Optional[str] = None
    authentication: Optional[str] = None  # KERBEROS, NTLM or GUEST, once the session is set up

    def fields(self) -> dict:
        return {
            "dialect": self.dialect,
            "signing": self.signing,
            "encryption": self.encryption,
            "authentication": self.authentication,
        }

    def journal_fields(self) -> Dict[str, str]:
        return {f"FSWATCH_{k.upper()}": v for k, v in self.fields().items() if v is not None}

    def text(self) -> str:
        return ", ".join(f"{k} {v if v is not None else '-'}" for k, v in self.fields().items())

    def with_(self, **values: Optional[str]) -> Posture:
        return replace(self, **values)


def _dialect_short(req: Requirements, seen: Posture) -> Optional[Tuple[int, str, str]]:
    if req.min_dialect is None:
        return None
    wanted = _BY_NAME[req.min_dialect]
    got = next((d for d in DIALECTS if d.name == seen.dialect), None)
    if got is not None and got.code >= wanted.code:
        return None
    reason = f"the server negotiated SMB {seen.dialect}, below the required minimum {wanted.name}"
    return alerts.DIALECT, f"SMB {seen.dialect} < {wanted.name}", reason


def _signing_short(req: Requirements, seen: Posture) -> Optional[Tuple[int, str, str]]:
    if not req.signing or seen.signing == REQUIRED:
        return None
    reason = f"the server does not require signing (signing {seen.signing}); the watch requires it"
    return alerts.SIGNING, f"signing {seen.signing}", reason


def _encryption_short(req: Requirements, seen: Posture) -> Optional[Tuple[int, str, str]]:
    if not req.encryption or seen.encryption == REQUIRED:
        return None
    got = _BY_NAME.get(seen.dialect or "")
    if got is not None and not got.encryption:
        return alerts.ENCRYPTION, f"SMB {got.name}", f"SMB {got.name} cannot encrypt; the watch requires encryption"
    reason = f"the server does not require encryption for this share (encryption {seen.encryption})"
    return alerts.ENCRYPTION, f"encryption {seen.encryption}", reason


# Each requirement is judged at the stage where the probe first knows the answer: the dialect
# at negotiate; signing once the session is set up (its key signs); encryption at tree connect,
# because smb.conf's `smb encrypt = required` may be set per share (the share's flag) as well as
# globally (the session's flag).
CHECKS = (
    ("negotiate", _dialect_short),
    ("session", _signing_short),
    ("tree_connect", _encryption_short),
)


def shortfall(req: Requirements, seen: Posture, stage: str) -> Optional[Tuple[int, str, str]]:
    """(alert, detail, reason) of the first requirement judged at `stage` that `seen` does not meet."""
    for at, check in CHECKS:
        if at == stage:
            found = check(req, seen)
            if found is not None:
                return found
    return None


def check_combination(req: Requirements, user: Optional[str]) -> Optional[str]:
    """Why these requirements can never be met, or None. A guest session has no session key
    (MS-SMB2 3.3.5.5.3), so it can neither sign nor encrypt: such a watch would always fail."""
    if user is None and req.signing:
        return "--require-signing needs --user: a guest session cannot sign (it has no session key)"
    if user is None and req.encryption:
        return "--require-encryption needs --user: a guest session cannot encrypt (it has no session key)"
    return None

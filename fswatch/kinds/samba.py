"""The Samba kind: a share probed with SMB2/3 (fswatch.probes.samba), clp_sambamon's words.

It logs on as guest, as `user` with a password (NTLM), or as `principal` with a keytab
(Kerberos only, fswatch.probes.kerberos): to the server's service principal cifs/NAME, where
NAME is `spn_host`, or the address when that is a host name (a floating IP has no SPN).
"""

from __future__ import annotations

from typing import Mapping, Optional

from fswatch.core import alerts
from fswatch.core import settings as s
from fswatch.kinds import kerberos
from fswatch.kinds.kind import CANARY_HELP, CANARY_WRITE_HELP, WRITE_STAGES, Kind, Probe, Secrets, Stage, TargetField
from fswatch.probes.posture import DIALECT_NAMES, Requirements, check_combination

SERVICE = "cifs"  # the SMB server's Kerberos service (MS-SMB2 3.2.4.2.3: cifs/<server name>)


def _target(values: Mapping[str, object], secrets: Secrets, owner: str) -> object:
    from fswatch.probes.samba import SambaTarget

    return SambaTarget(
        share=str(values["share"]),
        address=str(values["address"]),
        port=int(values["port"]),  # type: ignore[call-overload]
        user=values.get("user"),  # type: ignore[arg-type]
        password=secrets.password,
        canary=values.get("canary"),  # type: ignore[arg-type]
        canary_write=values.get("canary_write"),  # type: ignore[arg-type]
        canary_owner=owner,
        min_dialect=values.get("min_dialect"),  # type: ignore[arg-type]
        require_signing=bool(values.get("require_signing")),
        require_encryption=bool(values.get("require_encryption")),
        kerberos=kerberos.logon(values, secrets, SERVICE),  # type: ignore[arg-type]
    )


def _probe() -> Probe:
    from fswatch.probes.samba import probe_samba

    return probe_samba  # type: ignore[return-value]


def _combination(values: Mapping[str, object]) -> Optional[str]:
    """A guest watch can neither sign nor encrypt (fswatch.probes.posture); a Kerberos watch logs
    on as its principal, not a user, to a server it knows by name."""
    refused = kerberos.combination(values, SERVICE)
    if refused:
        return refused
    wanted = Requirements(
        values.get("min_dialect"),  # type: ignore[arg-type]
        bool(values.get("require_signing")),
        bool(values.get("require_encryption")),
    )
    return check_combination(wanted, values.get("user") or values.get("principal"))  # type: ignore[arg-type]


SAMBA = Kind(
    "samba",
    {
        "command": "clp_sambamon",
        "service": "Samba",
        "resource": "share resource [{target}]",
        "server": "Samba [{target}]",
        "option": "-s",
    },
    (
        TargetField("share", s.check_share, required=True, help="share name, as in smb.conf (required)"),
        TargetField("address", s.check_address, "127.0.0.1", help="server IP address or host name (default 127.0.0.1)"),
        TargetField("port", lambda v: s.check_port("port", v), 445, help="SMB port (default 445)", integer=True),
        TargetField("user", lambda v: s.check_text("user", v), help="user name (default: guest logon)"),
        TargetField("canary", s.check_canary, help=CANARY_HELP.format(where="share")),
        TargetField("canary_write", s.check_canary_write, help=CANARY_WRITE_HELP.format(where="share")),
        # SMB security posture (fswatch.probes.posture): a server weaker than asked fails the probe.
        TargetField(
            "min_dialect",
            lambda v: s.check_choice("min-dialect", v, DIALECT_NAMES),
            help=f"fail unless the server negotiates at least this SMB dialect: {', '.join(DIALECT_NAMES)}",
        ),
        TargetField(
            "require_signing",
            lambda v: s.check_bool("require-signing", v),
            False,
            help="fail unless the server requires signing (needs --user: a guest session cannot sign)",
            boolean=True,
        ),
        TargetField(
            "require_encryption",
            lambda v: s.check_bool("require-encryption", v),
            False,
            help="fail unless the server encrypts the share (smb encrypt = required; needs --user)",
            boolean=True,
        ),
        # Kerberos (fswatch.kinds.kerberos): the keytab itself is a secret beside the settings.
        *kerberos.fields(SERVICE),
    ),
    "share",
    # fswatch/probes/samba.py's stages, each with the alert its failure most often reports.
    (
        Stage("connect", alerts.CONNECT),
        Stage("negotiate", alerts.NEGOTIATE),
        Stage("session", alerts.SESSION),
        Stage("tree_connect", alerts.TREE_CONNECT),
        Stage("share_type", alerts.SHARE_TYPE),
        Stage("canary", alerts.CANARY_BLOCKED),  # only with a canary file: its read blocked (the storage beneath)
        *WRITE_STAGES,  # only with a write canary
        Stage("teardown", alerts.RECEIVE),
        # only for a Kerberos watch, whose probe begins with it: its ticket (fswatch.probes.kerberos)
        Stage("kerberos", alerts.KDC_STALLED),
        # only for a host name (fswatch.probes.resolve): last, so the default is connect
        Stage("resolve", alerts.RESOLVE),
    ),
    _target,
    _probe,
    _combination,
    # clp_sambamon ID -s SHARE [-u USER] [-p PASS] [-n PORT] [-w DIR] [-k KEYTAB -K PRINCIPAL [-H SPN_HOST]]
    # (-n, -w, -k, -K, -H: fswatch extensions)
    {"-s": "share", "-u": "user", "-p": "password", "-n": "port", "-w": "canary_write", "-k": "keytab",
     "-K": "principal", "-H": "spn_host"},
    takes_password=True,
    servers=("smbd",),
    takes_keytab=True,
)

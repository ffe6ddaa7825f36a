"""The Samba kind: a share probed with SMB2/3 (fswatch.probes.samba), clp_sambamon's words."""

from __future__ import annotations

from typing import Mapping, Optional

from fswatch.core import alerts
from fswatch.core import settings as s
from fswatch.kinds.kind import CANARY_HELP, CANARY_WRITE_HELP, WRITE_STAGES, Kind, Probe, Stage, TargetField
from fswatch.probes.posture import DIALECT_NAMES, Requirements, check_combination


def _target(values: Mapping[str, object], password: Optional[str], owner: str) -> object:
    from fswatch.probes.samba import SambaTarget

    return SambaTarget(
        share=str(values["share"]),
        address=str(values["address"]),
        port=int(values["port"]),  # type: ignore[call-overload]
        user=values.get("user"),  # type: ignore[arg-type]
        password=password,
        canary=values.get("canary"),  # type: ignore[arg-type]
        canary_write=values.get("canary_write"),  # type: ignore[arg-type]
        canary_owner=owner,
        min_dialect=values.get("min_dialect"),  # type: ignore[arg-type]
        require_signing=bool(values.get("require_signing")),
        require_encryption=bool(values.get("require_encryption")),
    )


def _probe() -> Probe:
    from fswatch.probes.samba import probe_samba

    return probe_samba  # type: ignore[return-value]


def _combination(values: Mapping[str, object]) -> Optional[str]:
    """A guest watch can neither sign nor encrypt (fswatch.probes.posture)."""
    wanted = Requirements(
        values.get("min_dialect"),  # type: ignore[arg-type]
        bool(values.get("require_signing")),
        bool(values.get("require_encryption")),
    )
    return check_combination(wanted, values.get("user"))  # type: ignore[arg-type]


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
        # only for a host name (fswatch.probes.resolve): last, so the default is connect
        Stage("resolve", alerts.RESOLVE),
    ),
    _target,
    _probe,
    _combination,
    # clp_sambamon ID -s SHARE [-u USER] [-p PASS] [-n PORT] [-w DIR] (-n, -w: fswatch extensions)
    {"-s": "share", "-u": "user", "-p": "password", "-n": "port", "-w": "canary_write"},
    takes_password=True,
    servers=("smbd",),
)

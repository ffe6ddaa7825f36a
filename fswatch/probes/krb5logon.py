"""What every probe module names of Kerberos: a watch's logon, the fault a Kerberos step raises,
the tickets the stage left. A watch without Kerberos loads this and nothing else of it: the
work (the ticket stage, the KDC's child, the GSS-API context: fswatch.probes.kerberos, with
krb5files and fswatch.rpc.rpcsec_gss) is imported by the probe of a watch that logs on with
Kerberos, when it first does (~0.25 MB of every other watch's private memory).
"""

from __future__ import annotations

import errno as errno_mod
from dataclasses import dataclass
from typing import Optional

from fswatch.core.errors import ProbeFailure
from fswatch.core.observation import Degradation

STAGE = "kerberos"


@dataclass(frozen=True)
class KerberosLogon:
    """A watch's Kerberos logon: who, to which service principal, with what, kept where."""

    principal: str  # fswatch-probe@EXAMPLE.COM
    service: str  # the server's SPN as a principal: cifs/fs1.example.com@EXAMPLE.COM
    keytab: str  # path of the keytab file (the unit's credential, or the file given to probe)
    ccache: str  # path of the watch's private FILE credential cache

    @property
    def realm(self) -> str:
        from fswatch.probes import krb5files

        return krb5files.realm_of(self.principal)


class KerberosFault(Exception):
    """A Kerberos step failed: the alert that names the fault, the Kerberos error's name."""

    def __init__(self, alert: int, reason: str, name: Optional[str] = None, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.alert = alert
        self.reason = reason
        self.name = name
        self.timed_out = timed_out

    def failure(self, stage: str = STAGE, **kw: object) -> ProbeFailure:
        detail = self.name or ("ETIMEDOUT" if self.timed_out else "")
        return ProbeFailure(
            self.alert, stage, self.reason, f"{detail}: {self.reason}" if detail else self.reason,
            errno=errno_mod.ETIMEDOUT if self.timed_out else None, timed_out=self.timed_out,
            krb5_error=self.name, **kw,  # type: ignore[arg-type]
        )  # fmt: skip


@dataclass(frozen=True)
class Tickets:
    """What the stage left in the cache for this probe."""

    source: str  # "cached", "new", "renewed"
    expires: float  # wall clock (ours) when the server's ticket ends
    kdc_offset: int  # the KDC's clock minus ours, as libkrb5 measured it (kdc_timesync)
    degraded: Optional[Degradation] = None  # a due renewal failed; the cached ticket serves

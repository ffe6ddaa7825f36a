"""MIT keytab and FILE credential cache files, written the way libkrb5 writes them, for tests
of fswatch.probes.krb5files and fswatch.probes.kerberos (keys are zeros: nothing is decrypted)."""

from __future__ import annotations

import struct
from typing import Iterable, Tuple

AES256 = 18


def _principal_kt(principal: str) -> bytes:
    name, _, realm = principal.rpartition("@")
    parts = name.split("/")
    out = struct.pack(">H", len(parts)) + struct.pack(">H", len(realm)) + realm.encode()
    for part in parts:
        out += struct.pack(">H", len(part)) + part.encode()
    return out + struct.pack(">I", 1)  # KRB5_NT_PRINCIPAL


def keytab(entries: Iterable[Tuple[str, int]], hole: bool = False) -> bytes:
    """A version 0x0502 keytab: (principal, kvno) per entry, each an AES256 key of zeros."""
    out = b"\x05\x02"
    if hole:
        out += struct.pack(">i", -12) + b"\0" * 12
    for principal, kvno in entries:
        body = _principal_kt(principal) + struct.pack(">IB", 1796612682, kvno & 0xFF)
        body += struct.pack(">HH", AES256, 32) + b"\0" * 32 + struct.pack(">I", kvno)
        out += struct.pack(">i", len(body)) + body
    return out


def _principal_cc(principal: str) -> bytes:
    name, _, realm = principal.rpartition("@")
    parts = name.split("/")
    out = struct.pack(">II", 1, len(parts)) + struct.pack(">I", len(realm)) + realm.encode()
    for part in parts:
        out += struct.pack(">I", len(part)) + part.encode()
    return out


PA_TYPE = "krb5_ccache_conf_data/pa_type/krbtgt\\/R\\@R@X-CACHECONF:"
REFRESH_TIME = "krb5_ccache_conf_data/refresh_time@X-CACHECONF:"


def ccache(
    principal: str, tickets: Iterable[Tuple[str, int, int]], kdc_offset: int = 0, conf: Iterable[str] = (PA_TYPE,)
) -> bytes:
    """A version 0x0504 FILE ccache of `principal` with (server, starttime, endtime) tickets,
    configuration entries as MIT writes them, and the KDC time offset libkrb5 measured."""
    header = struct.pack(">HHii", 1, 8, kdc_offset, 0)
    out = b"\x05\x04" + struct.pack(">H", len(header)) + header + _principal_cc(principal)
    for server, start, end in [*tickets, *((name, 0, 0) for name in conf)]:
        out += _principal_cc(principal) + _principal_cc(server)
        out += struct.pack(">HI", AES256, 32) + b"\0" * 32
        out += struct.pack(">IIII", start, start, end, end + 86400)
        out += struct.pack(">BI", 0, 0x40E10000)
        out += struct.pack(">I", 0) + struct.pack(">I", 0)  # no addresses, no authdata
        out += struct.pack(">I", 5) + b"TICKT" + struct.pack(">I", 0)
    return out

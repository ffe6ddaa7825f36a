"""Kerberos names and the two MIT file formats a Kerberos watch reads: its keytab (what `fswatch
add` checks before it stores one) and its private credential cache (which tickets the probe
already holds). Pure: bytes in, values out, no I/O and no libkrb5.

The formats are MIT's, which Heimdal and Samba write too: the keytab (version 0x0502) of
`ktutil`, `samba-tool domain exportkeytab` and `net ads keytab`, and the FILE credential cache
(version 0x0504) that libkrb5 writes; see MIT krb5's doc/formats/keytab_file_format.rst and
ccache_file_format.rst. Both are read within their own length fields only: a truncated or
hostile file is a KeytabError / an empty cache, never an exception of another kind.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import List, Optional, Tuple

from fswatch.core.errors import UsageError

KEYTAB_MAX_BYTES = 64 * 1024  # a watch's keytab holds one principal: a few entries of ~100 bytes
CCACHE_MAX_BYTES = 256 * 1024  # a TGT and one service ticket are ~3 KiB (with an AD PAC, ~6 KiB)
MAX_COMPONENTS = 8  # a principal name has 1-2 components (user, service/host); more is garbage

# NAME@REALM or service/host@REALM: printable ASCII, no white space, no quoting rules (an '@' or
# '/' inside a component, which MIT writes as '\@', is not a name an administrator picks).
_PRINCIPAL = re.compile(r"[!-.0-?A-~]+(/[!-.0-?A-~]+)*@[!-.0-?A-~]+\Z")
PRINCIPAL_MAX_BYTES = 255


def check_principal(value: object) -> str:
    """A Kerberos principal with its realm, as `kinit` takes it: fswatch-probe@EXAMPLE.COM."""
    text = str(value)
    if len(text) > PRINCIPAL_MAX_BYTES or not _PRINCIPAL.match(text):
        raise UsageError(
            f"principal {text!r} is not a Kerberos principal NAME@REALM (printable ASCII, no white space, "
            f"components separated by '/', at most {PRINCIPAL_MAX_BYTES} bytes)"
        )
    return text


def realm_of(principal: str) -> str:
    return principal.rpartition("@")[2]


def service_principal(service: str, host: str, realm: str) -> str:
    """The server's SPN in the watch principal's realm: cifs/fs1.example.com@EXAMPLE.COM."""
    return f"{service}/{host.rstrip('.')}@{realm}"


class KeytabError(ValueError):
    """A keytab that is not one (wrong version, truncated, garbage)."""


class _Reader:
    """Big-endian fields from a bounded buffer; running past its end is a KeytabError."""

    def __init__(self, data: bytes, start: int = 0, end: Optional[int] = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise KeytabError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    @property
    def left(self) -> int:
        return self.end - self.pos


@dataclass(frozen=True)
class KeytabEntry:
    """One key of a keytab: whose, which version, which encryption type."""

    principal: str
    kvno: int
    enctype: int


def parse_keytab(data: bytes) -> Tuple[KeytabEntry, ...]:
    """The entries of a version 0x0502 keytab (holes skipped). KeytabError for anything else."""
    if len(data) > KEYTAB_MAX_BYTES:
        raise KeytabError(f"larger than {KEYTAB_MAX_BYTES} bytes")
    if data[:2] != b"\x05\x02":
        raise KeytabError("not a keytab (no 0x0502 version header)" if data[:1] != b"\x05" else "keytab version 0x0501")
    reader = _Reader(data, 2)
    entries: List[KeytabEntry] = []
    while reader.left:
        if reader.left < 4:
            raise KeytabError("truncated entry length")
        size = reader.i32()
        if size == 0:
            break  # the end, as MIT reads it
        if abs(size) > reader.left:
            raise KeytabError("an entry runs past the end of the file")
        start = reader.pos
        reader.pos += abs(size)
        if size < 0:
            continue  # a hole left by a deleted entry
        entries.append(_keytab_entry(_Reader(data, start, start + size)))
    return tuple(entries)


def _keytab_entry(entry: _Reader) -> KeytabEntry:
    count = entry.u16()
    if not 1 <= count <= MAX_COMPONENTS:
        raise KeytabError(f"a principal with {count} components")
    realm = _counted(entry, entry.u16)
    components = [_counted(entry, entry.u16) for _ in range(count)]
    entry.u32()  # name type
    entry.u32()  # timestamp
    kvno = entry.u8()
    enctype = entry.u16()
    entry.take(entry.u16())  # the key: never kept
    if entry.left >= 4:
        kvno = entry.u32() or kvno  # the 32-bit kvno, when present, supersedes the 8-bit one
    return KeytabEntry(f"{'/'.join(components)}@{realm}", kvno, enctype)


def _counted(reader: _Reader, length) -> str:
    raw = reader.take(length())
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeytabError("a principal name that is not UTF-8") from None


def keytab_principals(entries: Tuple[KeytabEntry, ...]) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(e.principal for e in entries))


def keytab_refusal(entries: Tuple[KeytabEntry, ...], principal: str, where: str) -> Optional[str]:
    """Why this keytab cannot log `principal` on, or None. Principal names compare as libkrb5
    compares them: exactly (AD's KDC is case-insensitive, a keytab lookup is not)."""
    if not entries:
        return f"{where} holds no keys"
    if any(e.principal == principal for e in entries):
        return None
    held = ", ".join(keytab_principals(entries)[:5])
    return f"{where} holds no key for {principal} (it holds: {held})"


# -- the credential cache ------------------------------------------------------------------------

CONF_REALM = "X-CACHECONF:"  # MIT's configuration entries (pa_type, refresh_time...) are not tickets
# MIT writes it for tickets got with a client keytab: past it, libkrb5 gets new ones by itself,
# with the default client keytab, in whatever process uses the cache (fswatch.probes.kerberos).
REFRESH_TIME = "krb5_ccache_conf_data/refresh_time"


@dataclass(frozen=True)
class Ticket:
    """One ticket of a credential cache, with its times in the KDC's clock."""

    client: str
    server: str
    starttime: int  # seconds since the epoch, in the KDC's time (authtime when no starttime)
    endtime: int

    @property
    def lifetime(self) -> int:
        return max(0, self.endtime - self.starttime)


@dataclass(frozen=True)
class CCache:
    """What a FILE credential cache holds: its principal, its tickets, and the KDC's clock
    offset that libkrb5 measured (kdc_timesync: KDC time = local time + offset)."""

    principal: Optional[str] = None
    tickets: Tuple[Ticket, ...] = ()
    kdc_offset: int = 0

    def ticket(self, client: str, server: str) -> Optional[Ticket]:
        """The latest-ending ticket for `server` held by `client`."""
        found = [t for t in self.tickets if t.client == client and t.server == server]
        return max(found, key=lambda t: t.endtime) if found else None


def parse_ccache(data: bytes) -> CCache:
    """A version 0x0504 (or 0x0503) FILE ccache. A file that is not one, or that a killed
    writer left truncated, is an empty cache: the probe then gets new tickets."""
    parsed = _ccache_records(data)
    if parsed is None:
        return CCache()
    principal, offset, records = parsed
    tickets = tuple(t for t, _, _ in records if not t.server.endswith("@" + CONF_REALM))
    return CCache(principal, tickets, offset)


def without_refresh_time(data: bytes) -> Optional[bytes]:
    """The cache without MIT's refresh_time entry; None for a cache that does not parse."""
    parsed = _ccache_records(data)
    if parsed is None:
        return None
    records = parsed[2]
    if not records:
        return data
    out, pos = bytearray(data[: records[0][1]]), records[0][1]
    for ticket, start, end in records:
        if not ticket.server.startswith(REFRESH_TIME + "@"):
            out += data[start:end]
        pos = end
    return bytes(out + data[pos:])


def _ccache_records(data: bytes) -> Optional[Tuple[str, int, List[Tuple[Ticket, int, int]]]]:
    """(principal, KDC offset, [(credential, its first byte, its end)]) or None."""
    if len(data) > CCACHE_MAX_BYTES or data[:1] != b"\x05" or data[1:2] not in (b"\x03", b"\x04"):
        return None
    reader = _Reader(data, 2)
    try:
        offset = _ccache_header(reader) if data[1] == 4 else 0
        principal = _ccache_principal(reader)
        records = []
        while reader.left:
            start = reader.pos
            records.append((_ccache_credential(reader), start, reader.pos))
    except KeytabError:
        return None
    return principal, offset, records


def _ccache_header(reader: _Reader) -> int:
    length = reader.u16()
    header = _Reader(reader.take(length))
    offset = 0
    while header.left:
        tag, size = header.u16(), header.u16()
        value = header.take(size)
        if tag == 1 and size == 8:  # DeltaTime: the KDC's clock minus ours (seconds, microseconds)
            offset = struct.unpack(">i", value[:4])[0]
    return offset


def _ccache_principal(reader: _Reader) -> str:
    reader.u32()  # name type
    count = reader.u32()
    if count > MAX_COMPONENTS:
        raise KeytabError(f"a principal with {count} components")
    realm = _counted(reader, reader.u32)
    components = [_counted(reader, reader.u32) for _ in range(count)]
    return f"{'/'.join(components)}@{realm}"


def _ccache_credential(reader: _Reader) -> Ticket:
    client = _ccache_principal(reader)
    server = _ccache_principal(reader)
    reader.u16()  # key type
    reader.take(reader.u32())  # the session key: never kept
    authtime, starttime, endtime, _renew_till = (reader.u32() for _ in range(4))
    reader.u8()  # is_skey
    reader.u32()  # ticket flags
    for _ in range(reader.u32()):  # addresses
        reader.u16()
        reader.take(reader.u32())
    for _ in range(reader.u32()):  # authorization data
        reader.u16()
        reader.take(reader.u32())
    reader.take(reader.u32())  # the ticket
    reader.take(reader.u32())  # the second ticket
    return Ticket(client, server, starttime or authtime, endtime)

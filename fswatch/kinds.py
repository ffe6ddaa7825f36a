"""The two kinds of watch, Samba and NFS: their target fields, defaults, and probe.

The probe modules are imported only when a watch of that kind needs them, so an NFS watch
never pays for smbprotocol's import (memory and start-up time).
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple

from fswatch import settings as s
from fswatch.deadline import Deadline
from fswatch.errors import UsageError
from fswatch.observation import Observation
from fswatch.posture import DIALECT_NAMES


@dataclass(frozen=True)
class TargetField:
    name: str  # config key; the CLI option is --name with '_' as '-'
    check: Callable[[object], object]
    default: object = None
    required: bool = False
    help: str = ""
    integer: bool = False  # a whole number (OCF meta-data's content type)
    boolean: bool = False  # yes/no: a CLI flag without a value, "yes" in the conf, OCF type boolean


@dataclass(frozen=True)
class Stage:
    """A stage of a kind's probe and the alert a failure there reports: what `fswatch inject`
    may name, and the alert its injected failure reports (the seed's text for that stage)."""

    name: str
    alert: int


@dataclass(frozen=True)
class Kind:
    name: str
    command: str  # the seed's command name, used in alert texts
    fields: Tuple[TargetField, ...]
    label_field: str  # the field alert texts show as [xxx] / 'xxx'
    missing_alert: int = 12  # the required target field is missing
    takes_password: bool = False  # logs on with a password (kept in a 0600 file, never argv)
    stages: Tuple[Stage, ...] = ()  # the probe's stages in order (fswatch inject; the first is its default)

    def stage(self, name: Optional[str] = None) -> Stage:
        """The stage named `name` (None: the first); UsageError (alert 11) for another name."""
        if name is None:
            return self.stages[0]
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise UsageError(f"{self.name} probes have no stage {name!r}: {', '.join(s.name for s in self.stages)}")

    def check_target(self, values: Mapping[str, object]) -> Dict[str, object]:
        """Validated target fields, defaults filled in (None = decided at probe time).

        Each field is checked here; the probe's own target then checks how they combine
        (NFSv4 runs over TCP only), so a bad combination is refused before anything is written.
        """
        unknown = set(values) - {f.name for f in self.fields}
        if unknown:
            raise UsageError(f"unknown {self.name} setting(s): {', '.join(sorted(unknown))}")
        out: Dict[str, object] = {}
        for f in self.fields:
            value = values.get(f.name)
            if value is None or value == "":
                if f.required:
                    raise UsageError(f"--{f.name.replace('_', '-')} is required", alert=self.missing_alert)
                out[f.name] = f.default
            else:
                out[f.name] = f.check(value)
        self.make_target(out)
        return out

    def label(self, target: Mapping[str, object]) -> str:
        return str(target[self.label_field])

    def make_target(self, target: Mapping[str, object], password: Optional[str] = None) -> object:
        if self.name == "samba":
            from fswatch.probes.samba import SambaTarget

            return SambaTarget(
                share=str(target["share"]),
                address=str(target["address"]),
                port=int(target["port"]),  # type: ignore[call-overload]
                user=target.get("user"),  # type: ignore[arg-type]
                password=password,
                canary=target.get("canary"),  # type: ignore[arg-type]
                min_dialect=target.get("min_dialect"),  # type: ignore[arg-type]
                require_signing=bool(target.get("require_signing")),
                require_encryption=bool(target.get("require_encryption")),
            )
        from fswatch.probes.nfs import NfsTarget

        version, minor = nfs_version(target.get("nfs_version") or 3)
        return NfsTarget(
            export=str(target["export"]),
            address=str(target.get("address") or default_nfs_address()),
            port=target.get("port"),  # type: ignore[arg-type]
            mount_port=target.get("mount_port"),  # type: ignore[arg-type]
            version=version,
            minor_version=minor,
            transport=str(target.get("transport") or "tcp"),
            canary=target.get("canary"),  # type: ignore[arg-type]
        )

    def probe_function(self) -> Callable[[object, Deadline], Observation]:
        if self.name == "samba":
            from fswatch.probes.samba import probe_samba

            return probe_samba  # type: ignore[return-value]
        from fswatch.probes.nfs import probe_nfs

        return probe_nfs  # type: ignore[return-value]


NFS_VERSIONS = ("3", "4", "4.0", "4.1", "4.2")


def check_nfs_version(value: object) -> object:
    """3 or 4 (ints, as settings always had them), or a pinned minor version as text: "4.1"."""
    text = s.check_choice("nfs-version", value, NFS_VERSIONS)
    return int(text) if text in ("3", "4") else text


def nfs_version(value: object) -> Tuple[int, Optional[int]]:
    """(version, minor version) of an nfs_version setting; minor None: the highest offered."""
    major, _, minor = str(value).partition(".")
    return int(major), int(minor) if minor else None


# The data-path check (opt-in): each probe also reads the first bytes of this file.
CANARY_HELP = "a file to read in each probe, relative to the {where} root (default: none)"

SAMBA = Kind(
    "samba",
    "clp_sambamon",
    (
        TargetField("share", s.check_share, required=True, help="share name, as in smb.conf (required)"),
        TargetField("address", s.check_address, "127.0.0.1", help="server IP address or host name (default 127.0.0.1)"),
        TargetField("port", lambda v: s.check_port("port", v), 445, help="SMB port (default 445)", integer=True),
        TargetField("user", lambda v: s.check_text("user", v), help="user name (default: guest logon)"),
        TargetField("canary", s.check_canary, help=CANARY_HELP.format(where="share")),
        # SMB security posture (fswatch.posture): a server weaker than asked fails the probe.
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
    takes_password=True,
    # fswatch/probes/samba.py's stages, each with the alert its failure most often reports.
    stages=(
        Stage("connect", 72),
        Stage("negotiate", 65),
        Stage("session", 64),
        Stage("tree_connect", 62),
        Stage("share_type", 63),
        Stage("canary", 106),  # only with a canary file: its read blocked (the storage beneath)
        Stage("teardown", 75),
        Stage("resolve", 61),  # only for a host name (fswatch.resolve): last, so the default is connect
    ),
)

NFS = Kind(
    "nfs",
    "clp_nfsmon",
    (
        TargetField("export", s.check_export, required=True, help="exported directory (required)"),
        TargetField(
            "address",
            s.check_address,
            help="server IP address or host name (default: this node's first non-loopback address)",
        ),
        TargetField(
            "port", lambda v: s.check_port("port", v), help="NFS port (default: ask the portmapper)", integer=True
        ),
        TargetField(
            "mount_port",
            lambda v: s.check_port("mount-port", v),
            help="MOUNT port (default: ask the portmapper)",
            integer=True,
        ),
        TargetField(
            "nfs_version",
            check_nfs_version,
            3,
            help="3 (default); 4: the highest of 4.2, 4.1, 4.0 the server offers; 4.0, 4.1 or 4.2: that one",
        ),
        TargetField(
            "transport", lambda v: s.check_choice("transport", v, ("tcp", "udp")), "tcp", help="tcp (default) or udp"
        ),
        TargetField("canary", s.check_canary, help=CANARY_HELP.format(where="export")),
    ),
    "export",
    # fswatch/probes/nfs.py's stages, v3 then v4 (4.1+ adds the session's), each with the alert
    # its failure most often reports.
    stages=(
        Stage("portmap", 82),
        Stage("mount", 81),
        Stage("nfs_null", 84),
        Stage("getattr", 85),
        Stage("fsstat", 85),
        Stage("canary", 106),  # only with a canary file: its read blocked (the storage beneath)
        Stage("umount", 81),
        Stage("connect", 84),
        Stage("exchange_id", 85),
        Stage("create_session", 85),
        Stage("compound", 85),
        Stage("destroy_session", 85),
        Stage("destroy_clientid", 85),
        Stage("resolve", 61),  # only for a host name (fswatch.resolve): last, so the default is portmap
    ),
)

KINDS: Dict[str, Kind] = {"samba": SAMBA, "nfs": NFS}


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise UsageError(f"unknown kind {name!r}: samba or nfs") from None


def default_nfs_address() -> str:
    """This node's first non-loopback IPv4 address (the seed's default), else 127.0.0.1.

    Read with SIOCGIFADDR per interface: no packet is sent and no other host is asked.
    """
    SIOCGIFADDR = 0x8915
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            try:
                req = struct.pack("256s", name.encode()[:15])
                addr = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, req)[20:24])
            except OSError:
                continue
            if not ipaddress.ip_address(addr).is_loopback:
                return addr
    return "127.0.0.1"
